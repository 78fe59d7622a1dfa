package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/release"
	"github.com/better-paas/updater/internal/sandbox"
)

// This file measures how long the app is unreachable through an update
// and through a rollback (issue 15, "Downtime"), against the app's own
// start-to-healthy time measured in the same run, and how soon the health
// gate notices that the new app is healthy.

func init() {
	register(Measure{Group: "Downtime", Name: "update and rollback", Run: measureDowntime})
}

// probeEvery is the spacing of the availability probes.
const probeEvery = 5 * time.Millisecond

// downtimeGate is the health gate of the downtime host: the shipped
// interval (1 s, the largest spacing between probes once the app
// answers) and deadline, but one pass instead of three, so the health
// step ends when the gate first sees the app healthy and its end event
// times the gate's notice.
var downtimeGate = sandbox.Timings{Interval: time.Second, Deadline: 60 * time.Second, SuccessThreshold: 1}

// probeKind is what one probe saw.
type probeKind int

const (
	probeOK   probeKind = iota // a 2xx answer
	probeBad                   // another answer (v1.2.0's 503)
	probeDown                  // no answer: refused, reset, timed out
)

// probe is one GET of the health URL on a fresh connection.
type probe struct {
	sent, recv time.Time
	kind       probeKind
}

// prober GETs a URL every probeEvery until stopped, one probe at a time.
type prober struct {
	url    string
	stop   chan struct{}
	done   chan struct{}
	probes []probe
}

// probeClient opens a connection per request: an unreachable app shows
// as a refused connection, not as a kept-alive one that still answers.
var probeClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	Timeout:   2 * time.Second,
}

func startProber(url string) *prober {
	p := &prober{url: url, stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *prober) run() {
	defer close(p.done)
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		p.probes = append(p.probes, probeOnce(p.url))
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

// finish stops the prober and returns its probes.
func (p *prober) finish() []probe {
	close(p.stop)
	<-p.done
	return p.probes
}

func probeOnce(url string) probe {
	pr := probe{sent: time.Now(), kind: probeDown}
	resp, err := probeClient.Get(url)
	pr.recv = time.Now()
	if err != nil {
		return pr
	}
	resp.Body.Close()
	pr.kind = probeBad
	if resp.StatusCode/100 == 2 {
		pr.kind = probeOK
	}
	return pr
}

// outage is a run of probes that were not OK, ended by an OK one.
type outage struct {
	firstFail, firstOK probe
	down               bool // some probe of it had no answer at all
}

// window is from the first failing probe sent to the first OK answer
// received.
func (o outage) window() time.Duration { return o.firstOK.recv.Sub(o.firstFail.sent) }

// outages returns the outages in probes, in order; a run still failing
// at the end is left out.
func outages(probes []probe) []outage {
	var out []outage
	var cur *outage
	for _, p := range probes {
		switch {
		case p.kind != probeOK && cur == nil:
			cur = &outage{firstFail: p, down: p.kind == probeDown}
		case p.kind != probeOK:
			cur.down = cur.down || p.kind == probeDown
		case cur != nil:
			cur.firstOK = p
			out = append(out, *cur)
			cur = nil
		}
	}
	return out
}

// lastDownRun returns the last run of unanswered probes before the first
// OK after them (the return to the old version in a rollback): from its
// first unanswered probe to the OK that ends it.
func lastDownRun(probes []probe) (outage, bool) {
	var best outage
	found := false
	start := -1
	for i, p := range probes {
		switch p.kind {
		case probeDown:
			if start < 0 {
				start = i
			}
		case probeOK:
			if start >= 0 {
				best, found = outage{firstFail: probes[start], firstOK: p, down: true}, true
			}
			start = -1
		default:
			start = -1
		}
	}
	return best, found
}

// measureDowntime runs env.Runs updates (v1.0.0 and v1.1.0 in turn) and
// env.Runs rollbacks (to v1.2.0, whose health answers 503, and back) with
// a client probing /api/health every 5 ms, and before each starts the
// release it waits for by hand to time its own start-to-healthy.
func measureDowntime(ctx context.Context, env *Env) ([]Result, error) {
	rel, err := buildReleases(ctx, env)
	if err != nil {
		return nil, err
	}
	h, err := startAppHost(ctx, env, "downtime", hostOptions{Timings: downtimeGate})
	if err != nil {
		return nil, err
	}
	defer h.close(env)
	stream, err := h.openEvents(ctx)
	if err != nil {
		return nil, err
	}
	defer stream.close()
	hand := &handStarter{rel: rel, dir: filepath.Join(env.WorkDir, "downtime-by-hand")}

	var upWin, upApp, upGate, upExtra []float64
	var rbWin, rbApp, rbGate, rbTotal, rbExtra []float64
	version := "v1.0.0"
	for i := range env.Runs {
		// An update to the other good release.
		to := otherGood(version)
		appStart, err := hand.startToHealthy(ctx, to, h.cfg.DataDir)
		if err != nil {
			return nil, err
		}
		probes, evs, err := h.operate(ctx, stream, desiredDoc{Version: to}, events.ResultSucceeded)
		if err != nil {
			return nil, fmt.Errorf("update %d to %s: %w", i+1, to, err)
		}
		if err := h.settle(ctx, to, time.Minute); err != nil {
			return nil, err
		}
		version = to
		outs := outages(probes)
		if len(outs) != 1 {
			return nil, fmt.Errorf("update %d to %s: want one outage of the health URL, saw %d", i+1, to, len(outs))
		}
		gateAt, ok := stepEnd(evs, "health", events.PhaseDo)
		if !ok {
			return nil, fmt.Errorf("update %d to %s: no end of the health step among the operation's events", i+1, to)
		}
		upWin = append(upWin, toMs(outs[0].window()))
		upApp = append(upApp, toMs(appStart))
		upExtra = append(upExtra, toMs(outs[0].window()-appStart))
		upGate = append(upGate, toMs(gateAt.Sub(outs[0].firstOK.recv)))

		// A rollback: v1.2.0 fails its gate, the updater goes back.
		appStart, err = hand.startToHealthy(ctx, version, h.cfg.DataDir)
		if err != nil {
			return nil, err
		}
		probes, evs, err = h.operate(ctx, stream,
			desiredDoc{Version: "v1.2.0", Retry: time.Now().UTC().Format(time.RFC3339Nano)}, events.ResultRolledBack)
		if err != nil {
			return nil, fmt.Errorf("rollback %d from v1.2.0 to %s: %w", i+1, version, err)
		}
		if err := h.settleRolledBack(ctx, version, time.Minute); err != nil {
			return nil, err
		}
		back, ok := lastDownRun(probes)
		if !ok {
			return nil, fmt.Errorf("rollback %d: the health URL never went unanswered", i+1)
		}
		outs = outages(probes)
		if len(outs) == 0 {
			return nil, fmt.Errorf("rollback %d: no outage of the health URL", i+1)
		}
		gateAt, ok = stepEnd(evs, "recover", events.PhaseUndo)
		if !ok {
			return nil, fmt.Errorf("rollback %d: no end of the recover step's undo among the operation's events", i+1)
		}
		rbWin = append(rbWin, toMs(back.window()))
		rbApp = append(rbApp, toMs(appStart))
		rbExtra = append(rbExtra, toMs(back.window()-appStart))
		rbTotal = append(rbTotal, toMs(outs[len(outs)-1].firstOK.recv.Sub(outs[0].firstFail.sent)))
		rbGate = append(rbGate, toMs(gateAt.Sub(back.firstOK.recv)))
	}
	g := "Downtime"
	within := func(extra []float64) *bool { return boolPtr(median(extra) <= 300) }
	return []Result{
		{Group: g, Name: "update: unreachable window", Unit: "ms", Runs: upWin,
			Baseline: "the app's own start-to-healthy", BaselineRuns: upApp,
			Target: "within 0.3 s of the app's start", Pass: within(upExtra),
			Note: fmt.Sprintf("a client GETs /api/health every 5 ms on fresh connections through an update of prebuilt releases "+
				"(v1.0.0 and v1.1.0 in turn): from the first failed probe sent to the first 2xx received; window minus start-to-healthy "+
				"%.0f ms median (%.0f–%.0f). Baseline: the same release's binary started by hand on a copy of the data, probed the same way, "+
				"before each update.", median(upExtra), minOf(upExtra), maxOf(upExtra))},
		{Group: g, Name: "update: gate notices readiness", Unit: "ms", Runs: upGate, Target: "< 20 ms", Pass: boolPtr(median(upGate) < 20),
			Note: "the health step's end event (one pass needed, shipped interval 1 s) minus the client's first 2xx after the restart; " +
				"the client probes every 5 ms, so the app may have been ready up to 5 ms earlier"},
		{Group: g, Name: "rollback: unreachable window back to the old version", Unit: "ms", Runs: rbWin,
			Baseline: "the old version's own start-to-healthy", BaselineRuns: rbApp,
			Target: "within 0.3 s of the app's start", Pass: within(rbExtra),
			Note: fmt.Sprintf("through an update to v1.2.0 (its health answers 503, so the gate fails after 3 answers) and the rollback: "+
				"from the first unanswered probe after v1.2.0 stopped to the old version's first 2xx; window minus start-to-healthy %.0f ms median (%.0f–%.0f)",
				median(rbExtra), minOf(rbExtra), maxOf(rbExtra))},
		{Group: g, Name: "rollback: whole outage (v1.2.0 fails its gate)", Unit: "ms", Runs: rbTotal,
			Note: "from the first failed probe (old version stopping) to the old version's first 2xx after the rollback: includes v1.2.0's " +
				"start and the gate's failure (3 failing answers, health.interval 1 s apart); no target"},
		{Group: g, Name: "rollback: gate notices readiness", Unit: "ms", Runs: rbGate, Target: "< 20 ms", Pass: boolPtr(median(rbGate) < 20),
			Note: "the end of the recover step's undo (it starts the old version and waits for its gate) minus the client's first 2xx of the old version"},
	}, nil
}

func minOf(xs []float64) float64 { lo, _ := minMax(xs); return lo }
func maxOf(xs []float64) float64 { _, hi := minMax(xs); return hi }

// operate probes the health URL while desired.yaml asks for d and the
// operation it starts ends with result; it returns the probes and the
// operation's events (first step to outcome).
func (h *appHost) operate(ctx context.Context, stream *eventStream, d desiredDoc, result string) ([]probe, []receivedEvent, error) {
	p := startProber(h.cfg.Health.URL)
	evs, err := h.operateWhile(ctx, stream, d, result)
	probes := p.finish()
	if err != nil {
		return nil, nil, err
	}
	return probes, evs, nil
}

// operateWhile writes d and collects the operation's events until its
// outcome, which must be result.
func (h *appHost) operateWhile(ctx context.Context, stream *eventStream, d desiredDoc, result string) ([]receivedEvent, error) {
	at, err := h.writeDesired(d)
	if err != nil {
		return nil, err
	}
	first, err := stream.next(ctx, 30*time.Second, "first step", func(e receivedEvent) bool {
		return e.Type == events.TypeStep && e.State == events.StateStarted && !e.Time.Before(at)
	})
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, h.log(20))
	}
	evs := []receivedEvent{first}
	for {
		e, err := stream.next(ctx, 2*time.Minute, "outcome of "+first.Operation, func(e receivedEvent) bool {
			return e.Operation == first.Operation
		})
		if err != nil {
			return nil, fmt.Errorf("%w\n%s", err, h.log(20))
		}
		evs = append(evs, e)
		if e.Type == events.TypeOutcome {
			if e.Result != result {
				return nil, fmt.Errorf("operation %s ended %s, want %s: %+v\n%s", e.Operation, e.Result, result, e.Failure, h.log(20))
			}
			return evs, nil
		}
	}
}

// stepEnd returns the time of the last succeeded event of step in phase.
func stepEnd(evs []receivedEvent, step, phase string) (time.Time, bool) {
	for i := len(evs) - 1; i >= 0; i-- {
		e := evs[i]
		if e.Type == events.TypeStep && e.Step == step && e.Phase == phase && e.State == events.StateSucceeded {
			return e.Time, true
		}
	}
	return time.Time{}, false
}

// handStarter starts a release's backend by hand, as an operator would
// run the binary, to time the app's own start-to-healthy.
type handStarter struct {
	rel *appReleases
	dir string
	n   int
}

// startToHealthy starts tag's server on a free port of 127.0.0.1, with
// a copy of dataDir as its DATA_DIR (so it migrates what the update's
// start will), probes /api/health every probeEvery as the downtime client
// does, and returns the time from exec to the first 2xx received. The
// process is stopped (SIGTERM) before it returns.
func (s *handStarter) startToHealthy(ctx context.Context, tag, dataDir string) (time.Duration, error) {
	s.n++
	dir := filepath.Join(s.dir, fmt.Sprintf("%02d-%s", s.n, tag))
	if err := os.MkdirAll(filepath.Join(dir, "frontend"), 0o755); err != nil {
		return 0, err
	}
	b := s.rel.built[tag]
	server := filepath.Join(dir, "server")
	if err := os.WriteFile(server, b.Server, 0o755); err != nil {
		return 0, err
	}
	if err := writeFrontend(filepath.Join(dir, "frontend", "dist"), b.Frontend); err != nil {
		return 0, err
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.CommandContext(ctx, "cp", "-a", dataDir, data).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("cannot copy %s: %w: %s", dataDir, err, out)
	}
	ports, err := sandbox.FreePorts(1)
	if err != nil {
		return 0, err
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/api/health", ports[0])
	cmd := exec.Command(server)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), fmt.Sprintf("ADDR=127.0.0.1:%d", ports[0]), "DATA_DIR="+data, "FRONTEND_DIR=frontend/dist")
	log, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return 0, err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	exited := make(chan error, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("cannot start %s by hand: %w", server, err)
	}
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		p := probeOnce(url)
		if p.kind == probeOK {
			return p.recv.Sub(start), nil
		}
		select {
		case err := <-exited:
			exited <- err
			return 0, fmt.Errorf("%s (%s) started by hand exited before it was healthy: %v; see %s", server, tag, err, log.Name())
		case <-deadline.C:
			return 0, errors.New(tag + " started by hand is not healthy after 30 s; see " + log.Name())
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-t.C:
		}
	}
}

// writeFrontend writes a release's built frontend files under dir.
func writeFrontend(dir string, files []release.File) error {
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, 0o644); err != nil {
			return err
		}
	}
	return nil
}
