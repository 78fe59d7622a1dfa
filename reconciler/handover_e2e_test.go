package reconciler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// hammerEvery paces the load the hand-over tests put on the app: one request
// every hammerEvery, each on a fresh connection, so that every request
// goes through the listening socket's backlog.
const hammerEvery = 3 * time.Millisecond // 333 requests/s

// maxInFlight bounds the requests a hammer has open at once. On a machine
// that make test keeps busy (the race detector, parallel packages) an
// unbounded open-loop load piles up thousands of connections and starves
// itself, so that it, not the app, drops them; the bench (scripts/bench)
// measures the open-loop rate on a quiet machine.
const maxInFlight = 64

// hammer is a client load on the app: GET url on a fresh connection every
// hammerEvery, each request in its own goroutine, at most maxInFlight at
// once (a tick that finds them all busy waits), until stop.
type hammer struct {
	mu       sync.Mutex
	ok       int
	failed   int
	firstErr error
	slowest  time.Duration
	latency  []time.Duration

	begun time.Time
	took  time.Duration // from the first request to the last one sent
	sent  int
	stop  chan struct{}
	done  sync.WaitGroup
	slots chan struct{} // one per request in flight
}

func startHammer(url string) *hammer {
	h := &hammer{stop: make(chan struct{}), begun: time.Now(), slots: make(chan struct{}, maxInFlight)}
	client := &http.Client{
		Timeout:   30 * time.Second, // a request waits in the backlog for as long as a restart takes
		Transport: &http.Transport{DisableKeepAlives: true},
	}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		tick := time.NewTicker(hammerEvery)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				h.took = time.Since(h.begun)
				return
			case <-tick.C:
			}
			select {
			case h.slots <- struct{}{}:
			case <-h.stop:
				h.took = time.Since(h.begun)
				return
			}
			h.sent++
			h.send(client, url)
		}
	}()
	return h
}

// send makes one request in its own goroutine.
func (h *hammer) send(client *http.Client, url string) {
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		defer func() { <-h.slots }()
		start := time.Now()
		resp, err := client.Get(url)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
		d := time.Since(start)
		h.mu.Lock()
		defer h.mu.Unlock()
		if err != nil {
			h.failed++
			if h.firstErr == nil {
				h.firstErr = err
			}
			return
		}
		h.ok++
		h.latency = append(h.latency, d)
	}()
}

// finish stops the load and waits for the requests in flight.
func (h *hammer) finish() {
	close(h.stop)
	h.done.Wait()
	slices.Sort(h.latency)
	if n := len(h.latency); n > 0 {
		h.slowest = h.latency[n-1]
	}
}

// rate is the offered load, in requests per second.
func (h *hammer) rate() float64 { return float64(h.sent) / h.took.Seconds() }

func (h *hammer) String() string {
	p99 := time.Duration(0)
	if n := len(h.latency); n > 0 {
		p99 = h.latency[n*99/100]
	}
	return fmt.Sprintf("%d answered, %d failed (first: %v) of %d sent in %s (%.0f requests/s); p99 %s, slowest %s",
		h.ok, h.failed, h.firstErr, h.sent, h.took.Round(time.Millisecond), h.rate(),
		p99.Round(time.Microsecond), h.slowest.Round(time.Microsecond))
}

// useListen replaces the host's supervisor with one that owns the app's
// socket (service.exec.listen, as the daemon builds it) and its
// reconciler with one driving it.
func (h *host) useListen(t *testing.T) *service.Exec {
	t.Helper()
	cfg := h.cfg
	if cfg.Service.Exec.Listen == "" {
		t.Fatal("the sandbox config has no service.exec.listen")
	}
	svc, err := service.NewExec(service.ExecConfig{
		Command: cfg.Service.Exec.Command, Dir: cfg.InstallDir, Env: cfg.Service.Exec.Env,
		PIDFile: filepath.Join(cfg.StateDir, "service.pid"), LogFile: filepath.Join(cfg.StateDir, "service.log"),
		StopTimeout: cfg.Service.StopTimeout.Duration, Listen: cfg.Service.Exec.Listen,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = svc.Stop(context.Background())
		_ = svc.Close()
	})
	h.svc = svc
	h.r, err = reconciler.New(reconciler.Options{Config: cfg, Service: svc,
		OnEvent: func(step string, ev reconciler.Event) { h.events = append(h.events, step+":"+string(ev)) }})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestHandoverRefusesNoConnectionThroughUpdateAndRollback: with
// service.exec.listen, a client hammering the example app with fresh
// connections (333 requests/s) through an update (v1.0.0 -> v1.1.0) and a
// rollback (v1.2.0 fails its health gate, v1.1.0 comes back) sees every
// request answered: while one version stops and the next starts, the
// connections wait in the socket's backlog.
func TestHandoverRefusesNoConnectionThroughUpdateAndRollback(t *testing.T) {
	h := newHostWith(t, func(o *sandbox.Options) { o.Listen = true })
	h.useListen(t)
	h.set("v1.0.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	h.serving("v1.0.0")
	first := h.pid()

	// /api/notes answers 200 in every release, v1.2.0 included (only its
	// health check fails), so any failure is the hand-over's.
	load := startHammer("http://" + h.cfg.Service.Exec.Listen + "/api/notes")
	h.set("v1.1.0")
	st := h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" {
		load.finish()
		t.Fatalf("update: Ready=%s current=%s history=%+v", condition(st, status.TypeReady), st.CurrentVersion, st.History)
	}
	h.serving("v1.1.0")
	second := h.pid()
	h.set("v1.2.0")
	st = h.converge()
	load.finish()
	if st.CurrentVersion != "v1.1.0" || len(st.History) == 0 || st.History[0].Result != status.ResultRolledBack {
		t.Fatalf("v1.2.0 was not rolled back: current=%s history=%+v", st.CurrentVersion, st.History)
	}
	h.serving("v1.1.0")
	third := h.pid()
	if first == second || second == third {
		t.Fatalf("backend pids %d, %d, %d: the update and the rollback must each start a new process", first, second, third)
	}

	t.Logf("through an update and a rollback: %s", load)
	if load.failed != 0 {
		t.Errorf("%d requests failed or were refused: %s", load.failed, load)
	}
	if load.rate() < 50 || load.ok < 300 {
		t.Errorf("the load ran at %.0f requests/s (%d answered), want at least 50/s and 300 answers", load.rate(), load.ok)
	}
}

// TestHandoverPlainWay: with service.exec.listen off, a release that does
// not accept LISTEN_FDS (it binds ADDR itself) updates and rolls back as
// before: the feature changes nothing for an install that does not use
// it. The refused requests are logged for comparison.
func TestHandoverPlainWay(t *testing.T) {
	h := newHostWith(t, nil,
		sandbox.NoSocketActivation("v1.3.0"), // over v1.2.0, whose health needs PUBLIC_URL (set below)
		sandbox.CrashOnStart("v1.4.0"))
	h.cfg.Service.Exec.Env = append(h.cfg.Service.Exec.Env, "PUBLIC_URL=https://notes.example.test")
	svc, err := service.NewExec(service.ExecConfig{
		Command: h.cfg.Service.Exec.Command, Dir: h.cfg.InstallDir, Env: h.cfg.Service.Exec.Env,
		PIDFile: filepath.Join(h.cfg.StateDir, "service.pid"), LogFile: filepath.Join(h.cfg.StateDir, "service.log"),
		StopTimeout: h.cfg.Service.StopTimeout.Duration,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	h.svc = svc
	if h.r, err = reconciler.New(reconciler.Options{Config: h.cfg, Service: svc}); err != nil {
		t.Fatal(err)
	}
	h.set("v1.0.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	url := h.cfg.Health.URL[:len(h.cfg.Health.URL)-len("/health")] + "/notes"
	load := startHammer(url)
	h.set("v1.3.0")
	st := h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.3.0" {
		load.finish()
		t.Fatalf("update to the plain-way release: Ready=%s current=%s", condition(st, status.TypeReady), st.CurrentVersion)
	}
	h.serving("v1.3.0")
	h.set("v1.4.0")
	st = h.converge()
	load.finish()
	if st.CurrentVersion != "v1.3.0" || len(st.History) == 0 || st.History[0].Result != status.ResultRolledBack {
		t.Fatalf("v1.4.0 was not rolled back: current=%s history=%+v", st.CurrentVersion, st.History)
	}
	h.serving("v1.3.0")
	if load.ok == 0 {
		t.Errorf("the app never answered: %s", load)
	}
	t.Logf("the plain way, through an update and a rollback: %s", load)
}

// TestHandoverRollsBackToAReleaseThatRanThePlainWay: turning
// service.exec.listen on does not make a release that does not accept the
// socket unusable as a rollback target. v1.3.0 (binds ADDR itself) runs
// healthy with listen off; listen is turned on; v1.4.0 crashes on start
// and is rolled back: v1.3.0 is started the way it last ran healthy, the
// plain way, after the supervisor closed its socket, and serves again.
// (Started with the socket, it could not bind ADDR, and the rollback
// would fail.) RecordHealthy stands in for the daemon's call after each
// passed health gate.
func TestHandoverRollsBackToAReleaseThatRanThePlainWay(t *testing.T) {
	h := newHostWith(t, func(o *sandbox.Options) { o.Listen = true },
		sandbox.NoSocketActivation("v1.3.0"), // over v1.2.0, whose health needs PUBLIC_URL (set below)
		sandbox.CrashOnStart("v1.4.0"))
	h.cfg.Service.Exec.Env = append(h.cfg.Service.Exec.Env, "PUBLIC_URL=https://notes.example.test")

	// Listen off: the supervisor the way it ran before the feature.
	plain, err := service.NewExec(service.ExecConfig{
		Command: h.cfg.Service.Exec.Command, Dir: h.cfg.InstallDir, Env: h.cfg.Service.Exec.Env,
		PIDFile: filepath.Join(h.cfg.StateDir, "service.pid"), LogFile: filepath.Join(h.cfg.StateDir, "service.log"),
		StopTimeout: h.cfg.Service.StopTimeout.Duration,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = plain
	if h.r, err = reconciler.New(reconciler.Options{Config: h.cfg, Service: plain}); err != nil {
		t.Fatal(err)
	}
	h.set("v1.3.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.3.0" {
		t.Fatalf("setup: Ready=%s current=%s", condition(st, status.TypeReady), st.CurrentVersion)
	}
	h.serving("v1.3.0")
	if err := plain.RecordHealthy(); err != nil {
		t.Fatalf("RecordHealthy: %v", err)
	}

	// Listen on: a new supervisor (a restarted daemon) adopts v1.3.0.
	svc := h.useListen(t)
	h.set("v1.4.0")
	st := h.converge()
	if st.CurrentVersion != "v1.3.0" || len(st.History) == 0 || st.History[0].Result != status.ResultRolledBack {
		t.Fatalf("v1.4.0 was not rolled back to v1.3.0: current=%s history=%+v", st.CurrentVersion, st.History)
	}
	h.serving("v1.3.0")
	if err := svc.RecordHealthy(); err != nil {
		t.Fatalf("RecordHealthy: %v", err)
	}
	// The supervisor's record says how v1.3.0 runs now: without the socket.
	data, err := os.ReadFile(filepath.Join(h.cfg.StateDir, "service.pid.modes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var modes struct {
		Running struct{ Socket *bool } `json:"running"`
	}
	if err := json.Unmarshal(data, &modes); err != nil || modes.Running.Socket == nil || *modes.Running.Socket {
		t.Errorf("start modes = %s (%v), want v1.3.0 running without the socket", data, err)
	}
}
