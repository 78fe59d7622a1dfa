package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"
	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/github/githubtest"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// This file holds the reaction measure and the harness the daemon
// measures share (reaction, idle, downtime, hand-over): the example app's
// releases built once as signed prebuilt assets, published on a fake
// GitHub on 127.0.0.1, and a host installing them with a real
// `better-paas-updater run` whose API and events stream are on. Prebuilt
// releases keep an update cheap (a download of local bytes, no build), so
// a hundred updates take a minute and what is timed is the updater.

func init() {
	register(Measure{Group: "Reaction", Name: "atomic rename -> first step", Run: measureReaction})
}

// reactionWrites is how many desired.yaml writes the reaction measure
// times: the figure, whatever -runs says.
const reactionWrites = 100

// measureReaction times, reactionWrites times, an atomic rename of
// desired.yaml asking for the other good version (v1.0.0 and v1.1.0 in
// turn, allowDowngrade) to the first step event of the operation it
// starts, and lets each update finish before the next write.
func measureReaction(ctx context.Context, env *Env) ([]Result, error) {
	h, err := startAppHost(ctx, env, "reaction", hostOptions{})
	if err != nil {
		return nil, err
	}
	defer h.close(env)
	stream, err := h.openEvents(ctx)
	if err != nil {
		return nil, err
	}
	defer stream.close()

	var byEvent, byClient []float64
	version := "v1.0.0"
	for i := range reactionWrites {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		version = otherGood(version)
		at, err := h.writeDesired(desiredDoc{Version: version})
		if err != nil {
			return nil, err
		}
		first, recv, err := stream.firstStep(ctx, at, 30*time.Second)
		if err != nil {
			return nil, fmt.Errorf("write %d (%s): %w\n%s", i+1, version, err, h.log(20))
		}
		byEvent = append(byEvent, toMs(first.Time.Sub(at)))
		byClient = append(byClient, toMs(recv.Sub(at)))
		if _, err := stream.outcome(ctx, first.Operation, 2*time.Minute); err != nil {
			return nil, fmt.Errorf("write %d (%s): %w\n%s", i+1, version, err, h.log(20))
		}
		if err := h.settle(ctx, version, time.Minute); err != nil {
			return nil, fmt.Errorf("write %d (%s): %w", i+1, version, err)
		}
	}
	journal, err := measureJournalWrite(h.root, reactionWrites)
	if err != nil {
		return nil, err
	}
	p50, p99 := median(byEvent), quantile(byEvent, 0.99)
	lo, hi := minMax(byEvent)
	note := fmt.Sprintf("%d atomic renames of desired.yaml (temp file written and fsynced first; the clock starts just "+
		"before rename(2)), alternating v1.0.0/v1.1.0 (allowDowngrade) of prebuilt releases on a fake GitHub; time to the "+
		"first step event's timestamp (daemon clock, same machine); each update finishes before the next write. "+
		"Min %.2f ms, max %.2f ms; received by an SSE client after %.2f ms median. No baseline: peers poll every "+
		"minutes to hours (Flux 1-10 min, Rancher's upgrade controller 15 min, snapd 4x/day).",
		len(byEvent), lo, hi, median(byClient))
	return []Result{
		{Group: "Reaction", Name: "atomic rename -> first step", Unit: "ms", Runs: byEvent,
			Target: "< 5 ms median", Pass: boolPtr(p50 < 5), Note: note},
		{Group: "Reaction", Name: "atomic rename -> first step, p99", Unit: "ms", Runs: []float64{p99},
			Target: "< 50 ms p99", Pass: boolPtr(p99 < 50),
			Note: fmt.Sprintf("the 99th percentile of the %d renames above (one figure, not a median of runs)", len(byEvent))},
		{Group: "Reaction", Name: "the journal write alone, part of the above", Unit: "ms", Runs: journal,
			Note: fmt.Sprintf("%d atomic writes of a %d-byte file beside status.yaml, as the runner journals an operation "+
				"before its first step starts (temp file, fsync, rename, fsync of the folder), measured right after the "+
				"renames above on the same disk: the floor of the reaction that durability sets.", len(journal), journalBytes)},
	}, nil
}

// writeConfig checks that raw loads as an updater.yaml and writes it to
// path, returning it parsed.
func writeConfig(path string, raw []byte) (*config.Config, error) {
	cfg, err := config.Parse(path, raw)
	if err != nil {
		return nil, fmt.Errorf("the bench's updater.yaml does not load: %w", err)
	}
	if err := atomicfile.WriteFile(path, raw, 0o644); err != nil {
		return nil, err
	}
	return cfg, nil
}

// journalBytes is about the size of status.yaml after many updates.
const journalBytes = 4500

// measureJournalWrite times n durable atomic writes of journalBytes into
// dir, as status.Save writes status.yaml (internal/atomicfile).
func measureJournalWrite(dir string, n int) ([]float64, error) {
	path := filepath.Join(dir, "journal-bench.yaml")
	defer os.Remove(path)
	data := bytes.Repeat([]byte("x"), journalBytes)
	runs := make([]float64, 0, n)
	for i := range n {
		data[0] = byte('a' + i%26) // other bytes each time, as a journal would be
		start := time.Now()
		if err := atomicfile.WriteFile(path, data, 0o644); err != nil {
			return nil, err
		}
		runs = append(runs, toMs(time.Since(start)))
	}
	return runs, nil
}

// otherGood returns the good release that is not v.
func otherGood(v string) string {
	if v == "v1.0.0" {
		return "v1.1.0"
	}
	return "v1.0.0"
}

// toMs converts d to milliseconds.
func toMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// The GitHub repository the example app's releases are published under.
const (
	appOwner = "better-paas"
	appRepo  = "example"
)

// appTags are the releases the bench installs: v1.0.0 and v1.1.0 are
// good, v1.2.0's health answers 503 (its updates roll back).
var appTags = []string{"v1.0.0", "v1.1.0", "v1.2.0"}

// appReleases is the example app's history, built once per bench run.
type appReleases struct {
	origin string // the bare origin the installs are cloned from
	pub    string // minisign public key line: prebuilt.publicKey
	built  map[string]sandbox.BuiltRelease
	assets map[string]map[string][]byte
}

var (
	releasesOnce sync.Once
	releasesVal  *appReleases
	releasesErr  error
)

// buildReleases builds appTags as the release pipeline would (go and node
// of this machine) into env.WorkDir, once per run; later calls return the
// first result.
func buildReleases(ctx context.Context, env *Env) (*appReleases, error) {
	releasesOnce.Do(func() {
		env.Log.Printf("building the example app's releases %v", appTags)
		releasesVal, releasesErr = doBuildReleases(ctx, env)
	})
	return releasesVal, releasesErr
}

func doBuildReleases(ctx context.Context, env *Env) (*appReleases, error) {
	pub, key, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	text, err := pub.MarshalText()
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(env.WorkDir, "releases", "origin.git"), sandbox.DefaultReleases())
	if err != nil {
		return nil, err
	}
	r := &appReleases{origin: origin, pub: lines[len(lines)-1],
		built: map[string]sandbox.BuiltRelease{}, assets: map[string]map[string][]byte{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(appTags))
	for i, tag := range appTags {
		wg.Go(func() {
			b, err := sandbox.BuildRelease(ctx, origin, tag)
			if err != nil {
				errs[i] = err
				return
			}
			a, err := b.Assets(key)
			if err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			r.built[tag], r.assets[tag] = b, a
			mu.Unlock()
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// hostOptions adapt a bench host.
type hostOptions struct {
	// Timings of the health gate; zero: 20 ms interval, 30 s deadline, one
	// pass (an update is over as soon as the gate sees the new version).
	Timings sandbox.Timings
	// Listen turns service.exec.listen on at the app's address
	// (sandbox.Options.Listen): the supervisor owns the app's socket.
	Listen bool
	// NoAPI turns the daemon's API off (it is on, as shipped, by default):
	// no token, no events, no metrics.
	NoAPI bool
}

// appHost is one install of the example app at v1.0.0 under a running
// daemon following its desired.yaml, with the API on.
type appHost struct {
	root, install, cfgPath string
	cfg                    *config.Config
	layout                 layout.Layout
	appAddr                string // the app's host:port
	apiURL, token          string
	daemon                 *sandbox.Daemon
	bin                    string   // the updater binary
	env                    []string // the daemon's environment
	starts                 int      // daemons started so far
	gh                     *githubtest.Server
	svc                    *service.Exec
	cleanups               []func()
}

// benchTB is the one testing.TB method githubtest.New calls besides
// Helper: Cleanup, run by appHost.close. The embedded nil interface is
// never called.
type benchTB struct {
	testing.TB
	cleanups *[]func()
}

func (b benchTB) Helper()          {}
func (b benchTB) Cleanup(f func()) { *b.cleanups = append(*b.cleanups, f) }

// startAppHost installs v1.0.0 under env.WorkDir/name, writes its
// updater.yaml (the shipped example adapted by internal/sandbox, prebuilt
// from a fake GitHub), creates an API token, starts the daemon and waits
// until it runs v1.0.0, Ready.
func startAppHost(ctx context.Context, env *Env, name string, o hostOptions) (_ *appHost, err error) {
	rel, err := buildReleases(ctx, env)
	if err != nil {
		return nil, err
	}
	if o.Timings == (sandbox.Timings{}) {
		o.Timings = sandbox.Timings{Interval: 20 * time.Millisecond, Deadline: 30 * time.Second, SuccessThreshold: 1}
	}
	h := &appHost{root: filepath.Join(env.WorkDir, name)}
	defer func() {
		if err != nil {
			h.close(env)
		}
	}()
	h.gh = githubtest.New(benchTB{cleanups: &h.cleanups})
	for _, tag := range appTags {
		h.gh.AddRelease(appOwner, appRepo, tag, rel.assets[tag])
	}
	h.install = filepath.Join(h.root, "install")
	h.cfgPath = filepath.Join(h.root, "updater.yaml")
	if err := os.MkdirAll(h.root, 0o755); err != nil {
		return nil, err
	}
	if err := sandbox.Clone(ctx, rel.origin, h.install, "v1.0.0"); err != nil {
		return nil, err
	}
	ports, err := sandbox.FreePorts(2)
	if err != nil {
		return nil, err
	}
	h.appAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	if !o.NoAPI {
		h.apiURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	}
	raw, err := sandbox.ConfigWith(h.root, h.install, ports[0], sandbox.Options{
		Timings:   o.Timings,
		APIListen: strings.TrimPrefix(h.apiURL, "http://"),
		Prebuilt:  &sandbox.PrebuiltSource{APIURL: h.gh.APIURL(), PublicKey: rel.pub},
		Listen:    o.Listen,
	})
	if err != nil {
		return nil, err
	}
	if h.cfg, err = writeConfig(h.cfgPath, raw); err != nil {
		return nil, err
	}
	h.layout = layout.New(h.cfg)
	if !o.NoAPI {
		if h.token, err = sandbox.CreateToken(env.Updater, h.cfgPath, false); err != nil {
			return nil, err
		}
	}
	ec := h.cfg.Service.Exec
	if h.svc, err = service.NewExec(service.ExecConfig{Command: ec.Command, Dir: h.cfg.InstallDir, Env: ec.Env,
		PIDFile: h.layout.PIDFile, LogFile: h.layout.ServiceLog, StopTimeout: h.cfg.Service.StopTimeout.Duration}); err != nil {
		return nil, err
	}
	denv, err := sandbox.ToolchainFreeEnv(h.root, appOwner+"/"+appRepo)
	if err != nil {
		return nil, err
	}
	if _, err := h.writeDesired(desiredDoc{Version: "v1.0.0"}); err != nil {
		return nil, err
	}
	h.bin, h.env = env.Updater, denv
	if err := h.startDaemon(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

// startDaemon starts `better-paas-updater run` (its log appended to by
// each start) and waits until the host runs v1.0.0, Ready.
func (h *appHost) startDaemon(ctx context.Context) (err error) {
	h.starts++
	logPath := filepath.Join(h.root, fmt.Sprintf("daemon-%d.log", h.starts))
	if h.daemon, err = sandbox.StartDaemon(h.bin, logPath, h.env, "run", "--config", h.cfgPath); err != nil {
		return err
	}
	return h.settle(ctx, "v1.0.0", time.Minute)
}

// restartDaemon stops the daemon (SIGTERM; the app keeps running) and
// starts it again, so it adopts the app and carries nothing of the update
// that installed it: the daemon a host has after a reboot or an upgrade of
// the updater.
func (h *appHost) restartDaemon(ctx context.Context) error {
	if err := h.daemon.Stop(30 * time.Second); err != nil {
		return err
	}
	return h.startDaemon(ctx)
}

// close stops the daemon, then the app, and the fake GitHub; it logs what
// went wrong rather than failing the measure that already has its figures.
func (h *appHost) close(env *Env) {
	if h.daemon != nil {
		if err := h.daemon.Stop(30 * time.Second); err != nil {
			env.Log.Printf("%s: %v", h.root, err)
		}
	}
	if h.svc != nil {
		if err := h.svc.Stop(context.Background()); err != nil {
			env.Log.Printf("%s: cannot stop the app: %v", h.root, err)
		}
	}
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
	h.cleanups = nil
}

// log returns the last n lines of the running daemon's log.
func (h *appHost) log(n int) string {
	if h.daemon == nil {
		return "no daemon started"
	}
	b, err := os.ReadFile(h.daemon.LogPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// desiredDoc is what the bench asks desired.yaml for.
type desiredDoc struct {
	Version string
	// Retry, when set, is a new retry-at stamp for Version: another try
	// of a version that failed before.
	Retry string
}

// writeDesired writes desired.yaml the way a careful script does: a
// temporary file beside it, written and fsynced, then renamed over it. It
// returns the time just before rename(2).
func (h *appHost) writeDesired(d desiredDoc) (time.Time, error) {
	doc := spec.DesiredVersion{APIVersion: spec.APIVersion, Kind: spec.Kind,
		Spec: spec.Spec{Version: d.Version, AllowDowngrade: true}}
	if d.Retry != "" {
		doc.Metadata.Annotations = map[string]string{spec.RetryAnnotation: d.Retry, spec.RetryVersionAnnotation: d.Version}
	}
	b, err := yaml.Marshal(&doc)
	if err != nil {
		return time.Time{}, err
	}
	return renameInto(h.cfg.DesiredFile, b)
}

// renameInto writes data to a temporary file beside path, fsyncs it and
// renames it over path, returning the time just before the rename.
func renameInto(path string, data []byte) (time.Time, error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".bench-desired-*")
	if err != nil {
		return time.Time{}, err
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		os.Remove(f.Name())
		return time.Time{}, fmt.Errorf("cannot write %s: %w", f.Name(), err)
	}
	at := time.Now()
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return time.Time{}, fmt.Errorf("cannot rename into %s: %w", path, err)
	}
	return at, nil
}

// status reads the host's status.yaml.
func (h *appHost) status() (*status.VersionStatus, error) { return status.Load(h.layout.Status) }

// settle polls status.yaml (every 2 ms) until the host runs version,
// Ready, with no operation in flight, and then the daemon's reconcile
// count (GET /metrics) until it stops moving, so the loop is idle when the
// next measure writes.
func (h *appHost) settle(ctx context.Context, version string, timeout time.Duration) error {
	return h.settleOn(ctx, version, true, timeout)
}

// settleRolledBack is settle after a rollback to version: the host runs
// it with no operation in flight, not Ready (the failed version stalls it
// until desired.yaml changes).
func (h *appHost) settleRolledBack(ctx context.Context, version string, timeout time.Duration) error {
	return h.settleOn(ctx, version, false, timeout)
}

func (h *appHost) settleOn(ctx context.Context, version string, ready bool, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	why := "no status yet"
	for {
		if err := h.daemon.Alive(); err != nil {
			return fmt.Errorf("%w\n%s", err, h.log(20))
		}
		st, err := h.status()
		if err == nil && st.CurrentVersion == version && st.Operation == nil && (!ready || st.IsTrue(status.TypeReady)) {
			break
		}
		if err != nil {
			why = err.Error()
		} else {
			why = sandbox.Summary(st)
		}
		if err := pause(ctx, 2*time.Millisecond); err != nil {
			return fmt.Errorf("not settled on %s (ready: %v) after %s: %s\n%s", version, ready, timeout, why, h.log(20))
		}
	}
	if h.apiURL == "" {
		return nil // no metrics to tell when the loop is idle
	}
	// The reconcile that ended the operation asks for another at once;
	// wait for that one too: the count is at least one (a daemon just
	// started has reconciled) and holds for 60 ms. A daemon just started
	// may not serve its API yet. Scrapes are spaced: each costs the
	// daemon a few milliseconds of CPU.
	last, still := -1.0, time.Now()
	for {
		n, _, err := h.reconciles(ctx)
		switch {
		case err != nil || n < 1:
			last, still = -1, time.Now()
		case n != last:
			last, still = n, time.Now()
		case time.Since(still) >= 60*time.Millisecond:
			return nil
		}
		if perr := pause(ctx, 20*time.Millisecond); perr != nil {
			return fmt.Errorf("the daemon on %s did not stop reconciling (last scrape: %v): %w", version, err, perr)
		}
	}
}

// pause waits d or until ctx ends (its error then). It paces polling
// loops; nothing waits on it for another process's progress.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// reconciles scrapes GET /metrics and returns the count and sum (seconds)
// of better_paas_updater_reconcile_duration_seconds over all results.
func (h *appHost) reconciles(ctx context.Context) (count, sum float64, err error) {
	resp, err := h.api(ctx, "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return 0, 0, fmt.Errorf("GET /metrics: %s: %s", resp.Status, b)
	}
	const name = "better_paas_updater_reconcile_duration_seconds"
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		metric, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		base, _, _ := strings.Cut(metric, "{")
		v, perr := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if perr != nil {
			continue
		}
		switch base {
		case name + "_count":
			count += v
		case name + "_sum":
			sum += v
		}
	}
	return count, sum, sc.Err()
}

// apiClient talks to the daemons' API (not the event stream, which has
// its own): no proxy, and a daemon that does not answer within 10 s fails
// the measure rather than hanging it.
var apiClient = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}

// api GETs path from the daemon's API with the token.
func (h *appHost) api(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.apiURL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	return apiClient.Do(req)
}

// eventStream is GET /api/v1/events read as Server-Sent Events; every
// event is stamped with the time it was read.
type eventStream struct {
	cancel context.CancelFunc
	ch     chan receivedEvent
	done   chan struct{}
	err    error
}

type receivedEvent struct {
	events.Event
	at time.Time
}

// openEvents opens the daemon's event stream.
func (h *appHost) openEvents(ctx context.Context) (*eventStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.apiURL+"/api/v1/events", nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("cannot open the event stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("cannot open the event stream: %s: %s", resp.Status, b)
	}
	s := &eventStream{cancel: cancel, ch: make(chan receivedEvent, 4096), done: make(chan struct{})}
	go s.read(resp.Body)
	return s, nil
}

func (s *eventStream) read(body io.ReadCloser) {
	defer close(s.done)
	defer body.Close()
	r := bufio.NewReader(body)
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			s.err = err
			close(s.ch)
			return
		}
		at := time.Now()
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if len(data) > 0 {
				var e events.Event
				if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &e); err == nil && e.Type != events.TypeGap {
					s.ch <- receivedEvent{Event: e, at: at}
				}
			}
			data = nil
			continue
		}
		if v, ok := strings.CutPrefix(line, "data:"); ok {
			data = append(data, strings.TrimPrefix(v, " "))
		}
	}
}

func (s *eventStream) close() {
	s.cancel()
	<-s.done
}

// next returns the next event that satisfies match, or an error after
// timeout or when the stream ends.
func (s *eventStream) next(ctx context.Context, timeout time.Duration, what string, match func(receivedEvent) bool) (receivedEvent, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case e, ok := <-s.ch:
			if !ok {
				return receivedEvent{}, fmt.Errorf("the event stream ended waiting for %s: %v", what, s.err)
			}
			if match(e) {
				return e, nil
			}
		case <-t.C:
			return receivedEvent{}, fmt.Errorf("no %s within %s", what, timeout)
		case <-ctx.Done():
			return receivedEvent{}, ctx.Err()
		}
	}
}

// firstStep returns the first step event stamped after since (the start
// of an operation), and when it was read.
func (s *eventStream) firstStep(ctx context.Context, since time.Time, timeout time.Duration) (events.Event, time.Time, error) {
	e, err := s.next(ctx, timeout, "step event", func(e receivedEvent) bool {
		return e.Type == events.TypeStep && e.State == events.StateStarted && !e.Time.Before(since)
	})
	return e.Event, e.at, err
}

// outcome returns the outcome event of operation op.
func (s *eventStream) outcome(ctx context.Context, op string, timeout time.Duration) (events.Event, error) {
	e, err := s.next(ctx, timeout, "outcome of operation "+op, func(e receivedEvent) bool {
		return e.Type == events.TypeOutcome && e.Operation == op
	})
	return e.Event, err
}
