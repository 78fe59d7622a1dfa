package reconciler_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/sandbox/load"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// hammer is the client load the hand-over tests put on the app: a GET
// every 3 ms (333 requests/s), each on a fresh connection so that every
// request goes through the listening socket's backlog, at most 64 open at
// once. On a machine that make test keeps busy (the race detector,
// parallel packages) an unbounded open-loop load piles up thousands of
// connections and starves itself, so that it, not the app, drops them;
// the bench (scripts/bench) measures the unbounded load on a quiet
// machine. A request waits in the backlog for as long as a restart takes
// (30 s). The load ends with the test at the latest.
func hammer(t *testing.T, url string) *load.Run {
	run := load.Start(t.Context(), load.Options{URL: url, Rate: 333, MaxInFlight: 64, Timeout: 30 * time.Second})
	t.Cleanup(func() { run.Stop() })
	return run
}

// useExec replaces the host's supervisor with a new one, as a restarted
// daemon builds it (adopting the backend that runs): owning the app's
// socket (service.exec.listen) when listen is set, the plain way
// otherwise; and its reconciler with one driving it.
func (h *host) useExec(t *testing.T, listen bool) *service.Exec {
	t.Helper()
	cfg := h.cfg
	ec := service.ExecConfig{
		Command: cfg.Service.Exec.Command, Dir: cfg.InstallDir, Env: cfg.Service.Exec.Env,
		PIDFile: filepath.Join(cfg.StateDir, "service.pid"), LogFile: filepath.Join(cfg.StateDir, "service.log"),
		StopTimeout: cfg.Service.StopTimeout.Duration,
	}
	if listen {
		if cfg.Service.Exec.Listen == "" {
			t.Fatal("the sandbox config has no service.exec.listen")
		}
		ec.Listen = cfg.Service.Exec.Listen
	}
	svc, err := service.NewExec(ec)
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

// newPlainWayHost returns a host whose releases add v1.3.0, which does not
// accept LISTEN_FDS (it binds ADDR itself), and v1.4.0, which crashes on
// start, driven the plain way (service.exec.listen off). listen writes
// service.exec.listen in the config, for a later useExec(t, true).
func newPlainWayHost(t *testing.T, listen bool) *host {
	t.Helper()
	h := newHostWith(t, func(o *sandbox.Options) { o.Listen = listen },
		sandbox.NoSocketActivation("v1.3.0"), // over v1.2.0, whose health needs PUBLIC_URL (set below)
		sandbox.CrashOnStart("v1.4.0"))
	h.cfg.Service.Exec.Env = append(h.cfg.Service.Exec.Env, "PUBLIC_URL=https://notes.example.test")
	h.useExec(t, false)
	return h
}

// TestHandoverRefusesNoConnectionThroughUpdateAndRollback: with
// service.exec.listen, a client hammering the example app with fresh
// connections (333 requests/s) through an update (v1.0.0 -> v1.1.0) and a
// rollback (v1.2.0 fails its health gate, v1.1.0 comes back) sees every
// request answered: while one version stops and the next starts, the
// connections wait in the socket's backlog.
func TestHandoverRefusesNoConnectionThroughUpdateAndRollback(t *testing.T) {
	h := newHostWith(t, func(o *sandbox.Options) { o.Listen = true })
	h.useExec(t, true)
	h.set("v1.0.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	h.serving("v1.0.0")
	first := h.pid()

	// /api/notes answers 200 in every release, v1.2.0 included (only its
	// health check fails), so any failure is the hand-over's.
	run := hammer(t, "http://"+h.cfg.Service.Exec.Listen+"/api/notes")
	if err := run.WaitOK(t.Context(), 25); err != nil {
		t.Fatalf("before the update: %v", err)
	}
	h.set("v1.1.0")
	st := h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" {
		t.Fatalf("update: Ready=%s current=%s history=%+v", condition(st, status.TypeReady), st.CurrentVersion, st.History)
	}
	h.serving("v1.1.0")
	second := h.pid()
	h.set("v1.2.0")
	st = h.converge()
	if err := run.WaitOK(t.Context(), run.Result().OK+25); err != nil {
		t.Fatalf("after the rollback: %v", err)
	}
	res := run.Stop()
	if st.CurrentVersion != "v1.1.0" || len(st.History) == 0 || st.History[0].Result != status.ResultRolledBack {
		t.Fatalf("v1.2.0 was not rolled back: current=%s history=%+v", st.CurrentVersion, st.History)
	}
	h.serving("v1.1.0")
	third := h.pid()
	if first == second || second == third {
		t.Fatalf("backend pids %d, %d, %d: the update and the rollback must each start a new process", first, second, third)
	}

	t.Logf("through an update and a rollback: %s", res)
	if res.Bad() != 0 {
		t.Errorf("%d requests failed or were refused: %s", res.Bad(), res)
	}
	if res.Rate() < 50 {
		t.Errorf("the load ran at %.0f requests/s, want at least 50/s", res.Rate())
	}
}

// TestHandoverPlainWay: with service.exec.listen off, a release that does
// not accept LISTEN_FDS (it binds ADDR itself) updates and rolls back as
// before: the feature changes nothing for an install that does not use
// it. The refused requests are logged for comparison.
func TestHandoverPlainWay(t *testing.T) {
	h := newPlainWayHost(t, false)
	h.set("v1.0.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	url := h.cfg.Health.URL[:len(h.cfg.Health.URL)-len("/health")] + "/notes"
	run := hammer(t, url)
	h.set("v1.3.0")
	st := h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.3.0" {
		t.Fatalf("update to the plain-way release: Ready=%s current=%s", condition(st, status.TypeReady), st.CurrentVersion)
	}
	h.serving("v1.3.0")
	h.set("v1.4.0")
	st = h.converge()
	if err := run.WaitOK(t.Context(), run.Result().OK+25); err != nil {
		t.Fatalf("after the rollback: %v", err)
	}
	res := run.Stop()
	if st.CurrentVersion != "v1.3.0" || len(st.History) == 0 || st.History[0].Result != status.ResultRolledBack {
		t.Fatalf("v1.4.0 was not rolled back: current=%s history=%+v", st.CurrentVersion, st.History)
	}
	h.serving("v1.3.0")
	if res.OK == 0 {
		t.Errorf("the app never answered: %s", res)
	}
	t.Logf("the plain way, through an update and a rollback: %s", res)
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
	// Listen off: the supervisor the way it ran before the feature.
	h := newPlainWayHost(t, true)
	plain := h.svc
	h.set("v1.3.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.3.0" {
		t.Fatalf("setup: Ready=%s current=%s", condition(st, status.TypeReady), st.CurrentVersion)
	}
	h.serving("v1.3.0")
	if err := plain.RecordHealthy(); err != nil {
		t.Fatalf("RecordHealthy: %v", err)
	}

	// Listen on: a new supervisor (a restarted daemon) adopts v1.3.0.
	svc := h.useExec(t, true)
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
