package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/command"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
)

// The overhead bench: a full update of the example app from source
// (v1.0.0 -> v1.1.0, the shipped updater.yaml as `make demo` runs it),
// step by step from the daemon's event stream, against the same raw work
// done by the tools in a second clone in the same run: git fetch, git
// checkout, the backend and frontend build commands of the config with
// the same environment, and cp -a of data/.
func init() {
	register(Measure{Group: "Overhead", Name: "full update of the example app", Run: runOverhead})
}

// overheadTimings are the demo's health gate timings.
var overheadTimings = sandbox.Timings{Interval: 500 * time.Millisecond, Deadline: 30 * time.Second, SuccessThreshold: 3}

// overheadData is what the bench adds to data/ before the update, beside
// the app's own database: files of random content.
const (
	overheadDataFiles = 200
	overheadDataSize  = 50 << 10
)

// rawSteps pairs an update step with the raw tool doing its work.
var rawSteps = []struct{ step, tool string }{
	{"backup", "cp -a data/"},
	{"fetch", "git fetch"},
	{"checkout", "git checkout"},
	{"build-backend", "go build (the config's command)"},
	{"build-frontend", "pnpm build (the config's command)"},
}

// otherSteps have no raw equivalent in this bench: the restart and the
// health gate (see Downtime), and the updater's own bookkeeping.
var otherSteps = []string{"recover", "stop", "cold-backup", "swap", "start", "health"}

func runOverhead(ctx context.Context, env *Env) ([]Result, error) {
	steps := map[string][]float64{}
	raw := map[string][]float64{}
	var whole, rawTotal, stepsTotal []float64
	for i := range env.Runs {
		s, r, w, err := overheadRun(ctx, env, i)
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", i+1, err)
		}
		var st, rt float64
		for _, p := range rawSteps {
			steps[p.step] = append(steps[p.step], s[p.step])
			raw[p.step] = append(raw[p.step], r[p.step])
			st += s[p.step]
			rt += r[p.step]
		}
		for _, name := range otherSteps {
			steps[name] = append(steps[name], s[name])
		}
		stepsTotal, rawTotal, whole = append(stepsTotal, st), append(rawTotal, rt), append(whole, w)
	}
	how := "Each run: a fresh origin with v1.0.0, two clones of it (the install under a running daemon, converged on v1.0.0 " +
		"and built by it; a raw clone built by hand at v1.0.0 with the same commands, so both Go caches hold the same " +
		fmt.Sprintf("packages), %d files of %d KiB added to data/ of both, then v1.1.0 pushed; ", overheadDataFiles, overheadDataSize>>10) +
		"the daemon updates to it (step times from GET /api/v1/events: started -> succeeded) and the tools do the same work " +
		"in the raw clone, order alternating between runs."
	var rows []Result
	for _, p := range rawSteps {
		rows = append(rows, Result{
			Group: "Overhead", Name: "update step " + p.step, Unit: "ms",
			Runs: steps[p.step], Baseline: p.tool, BaselineRuns: raw[p.step],
			Note: stepNote(p.step),
		})
	}
	ratio := median(stepsTotal) / median(rawTotal)
	rows = append(rows, Result{
		Group: "Overhead", Name: "update: backup + fetch + checkout + builds", Unit: "ms",
		Runs: stepsTotal, Baseline: "cp -a + git fetch + git checkout + go build + pnpm build", BaselineRuns: rawTotal,
		Target: "<= 1.2x", Pass: boolPtr(ratio <= 1.2),
		Note: "The sum of the five steps that have a raw equivalent, per run. " + how,
	})
	for _, name := range otherSteps {
		rows = append(rows, Result{Group: "Overhead", Name: "update step " + name, Unit: "ms", Runs: steps[name], Note: stepNote(name)})
	}
	rows = append(rows, Result{
		Group: "Overhead", Name: "whole update v1.0.0 -> v1.1.0 (first step -> outcome)", Unit: "ms", Runs: whole,
		Baseline: "the raw tools above", BaselineRuns: rawTotal,
		Note: fmt.Sprintf("Includes recover, stop, the cold backup, swap, start and the health gate (%d good answers, %s interval: "+
			"the demo's timings), which the raw tools do not do; no target: the gate's wait is deliberate.",
			overheadTimings.SuccessThreshold, overheadTimings.Interval),
	})
	return rows, nil
}

func stepNote(step string) string {
	switch step {
	case "backup":
		return "The hot pass of the first backup (copy, sha256 manifest, syncfs) of data/ vs cp -a (no hash, no sync)."
	case "fetch":
		return "gitrepo.FetchTag (go-git) vs git fetch --no-tags origin +refs/tags/v1.1.0:refs/tags/v1.1.0, from the same local bare repo."
	case "checkout":
		return "gitrepo.Checkout plus the step's check that no backup path is tracked, vs git checkout --detach v1.1.0."
	case "build-backend", "build-frontend":
		return "The same command of updater.yaml with the same environment (Config.BuildEnv plus VERSION, COMMIT, OUTPUT); the step adds its log file and the output check."
	case "recover":
		return "Checks that the running version is healthy before the update."
	case "stop", "start":
		return "The exec supervisor stopping (SIGTERM) or starting the app."
	case "cold-backup":
		return "The cold pass of the backup while the app is stopped."
	case "swap":
		return "The new binary and frontend renamed into place (the old kept as .bak)."
	case "health":
		return fmt.Sprintf("The health gate: %d good answers %s apart.", overheadTimings.SuccessThreshold, overheadTimings.Interval)
	}
	return ""
}

// overheadRun does one run and returns the updater's step times, the raw
// tools' times (both in ms, by step name) and the whole update's time.
func overheadRun(ctx context.Context, env *Env, run int) (steps, raw map[string]float64, whole float64, err error) {
	root := filepath.Join(env.WorkDir, "overhead", fmt.Sprintf("run-%d", run))
	rels := sandbox.DefaultReleases()
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(root, "origin.git"), rels[:1])
	if err != nil {
		return nil, nil, 0, err
	}
	defer os.RemoveAll(root) // after close: the app's pidfile is in root
	h, err := startSourceHost(ctx, env, root, origin)
	if err != nil {
		return nil, nil, 0, err
	}
	defer h.close(env)

	rawDir := filepath.Join(root, "raw")
	if err := sandbox.Clone(ctx, origin, rawDir, "v1.0.0"); err != nil {
		return nil, nil, 0, err
	}
	// The same data on both sides: the app's own files, then the bench's.
	if err := writeOverheadData(filepath.Join(h.install, "data", "bench")); err != nil {
		return nil, nil, 0, err
	}
	if err := copyTree(ctx, filepath.Join(h.install, "data"), filepath.Join(rawDir, "data")); err != nil {
		return nil, nil, 0, err
	}
	// The raw clone built at v1.0.0 as the daemon built the install.
	v100, err := toolGitOutput(ctx, rawDir, "rev-parse", "HEAD")
	if err != nil {
		return nil, nil, 0, err
	}
	if _, err := rawBuilds(ctx, h.cfg, rawDir, "v1.0.0", v100, ""); err != nil {
		return nil, nil, 0, err
	}
	if err := sandbox.AddRelease(ctx, origin, rels[1]); err != nil {
		return nil, nil, 0, err
	}
	settleDisk()

	updater := func() (time.Duration, error) {
		var err error
		steps, whole, err = updateSteps(ctx, h, "v1.1.0")
		return 0, err
	}
	tools := func() (time.Duration, error) {
		var err error
		raw, err = rawUpdate(ctx, h.cfg, rawDir, filepath.Join(root, "raw-backup"), "v1.1.0")
		return 0, err
	}
	if _, _, err := alternate(run, updater, tools); err != nil {
		return nil, nil, 0, err
	}
	return steps, raw, whole, nil
}

// startSourceHost installs v1.0.0 from origin under root with the shipped
// example config (source builds, the demo's health timings, the API on),
// starts the daemon and waits until it runs v1.0.0, Ready.
func startSourceHost(ctx context.Context, env *Env, root, origin string) (_ *appHost, err error) {
	h := &appHost{root: root, install: filepath.Join(root, "install"), cfgPath: filepath.Join(root, "updater.yaml")}
	defer func() {
		if err != nil {
			h.close(env)
		}
	}()
	if err := sandbox.Clone(ctx, origin, h.install, "v1.0.0"); err != nil {
		return nil, err
	}
	ports, err := sandbox.FreePorts(2)
	if err != nil {
		return nil, err
	}
	h.appAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	h.apiURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	rawCfg, err := sandbox.ConfigWith(root, h.install, ports[0], sandbox.Options{
		Timings: overheadTimings, APIListen: strings.TrimPrefix(h.apiURL, "http://"),
	})
	if err != nil {
		return nil, err
	}
	if h.cfg, err = writeConfig(h.cfgPath, rawCfg); err != nil {
		return nil, err
	}
	h.layout = layout.New(h.cfg)
	if h.token, err = sandbox.CreateToken(env.Updater, h.cfgPath, false); err != nil {
		return nil, err
	}
	ec := h.cfg.Service.Exec
	if h.svc, err = service.NewExec(service.ExecConfig{Command: ec.Command, Dir: h.cfg.InstallDir, Env: ec.Env,
		PIDFile: h.layout.PIDFile, LogFile: h.layout.ServiceLog, StopTimeout: h.cfg.Service.StopTimeout.Duration}); err != nil {
		return nil, err
	}
	if _, err := h.writeDesired(desiredDoc{Version: "v1.0.0"}); err != nil {
		return nil, err
	}
	if h.daemon, err = sandbox.StartDaemon(env.Updater, filepath.Join(root, "daemon.log"), nil, "run", "--config", h.cfgPath); err != nil {
		return nil, err
	}
	if err := h.settle(ctx, "v1.0.0", 3*time.Minute); err != nil {
		return nil, err
	}
	return h, nil
}

// updateSteps asks the daemon for version and returns each step's time
// (ms, Do phase, from the events' own timestamps) and the whole
// operation's, first step started to outcome.
func updateSteps(ctx context.Context, h *appHost, version string) (map[string]float64, float64, error) {
	stream, err := h.openEvents(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer stream.close()
	at, err := h.writeDesired(desiredDoc{Version: version})
	if err != nil {
		return nil, 0, err
	}
	started := map[string]time.Time{}
	steps := map[string]float64{}
	var first time.Time
	op := "" // the operation's id, from its first step
	for {
		// The stream replays what it keeps of earlier operations: skip
		// those.
		e, err := stream.next(ctx, 5*time.Minute, "the update to "+version, func(e receivedEvent) bool {
			if e.Time.Before(at) || op != "" && e.Operation != op {
				return false
			}
			return e.Type == events.TypeStep && e.Phase == events.PhaseDo || e.Type == events.TypeOutcome && op != ""
		})
		if err != nil {
			return nil, 0, fmt.Errorf("%w\n%s", err, h.log(20))
		}
		switch {
		case e.Type == events.TypeOutcome:
			if e.Result != events.ResultSucceeded || e.To != version {
				return nil, 0, fmt.Errorf("the update to %s ended %s (to %s): %+v\n%s", version, e.Result, e.To, e.Failure, h.log(20))
			}
			return steps, durMs(e.Time.Sub(first)), nil
		case e.State == events.StateStarted:
			if first.IsZero() {
				first, op = e.Time, e.Operation
			}
			started[e.Step] = e.Time
		case e.State == events.StateSucceeded, e.State == events.StateSkipped:
			steps[e.Step] = durMs(e.Time.Sub(started[e.Step]))
		case e.State == events.StateFailed:
			return nil, 0, fmt.Errorf("step %s failed: %s", e.Step, e.Error)
		}
	}
}

// rawUpdate does an update's raw work in the clone dir with the tools:
// cp -a of data/ to backupDir, git fetch and checkout of tag, and the
// config's build commands. It returns each one's time in ms by the name of
// the step doing the same work.
func rawUpdate(ctx context.Context, cfg *config.Config, dir, backupDir, tag string) (map[string]float64, error) {
	out := map[string]float64{}
	d, err := runTool(ctx, "", nil, "cp", "-a", filepath.Join(dir, "data"), backupDir)
	if err != nil {
		return nil, err
	}
	out["backup"] = durMs(d)
	if d, err = runTool(ctx, dir, toolGitEnv(), "git", "fetch", "--quiet", "--no-tags", "origin", "+refs/tags/"+tag+":refs/tags/"+tag); err != nil {
		return nil, err
	}
	out["fetch"] = durMs(d)
	if d, err = runTool(ctx, dir, toolGitEnv(), "git", "checkout", "--quiet", "--detach", tag); err != nil {
		return nil, err
	}
	out["checkout"] = durMs(d)
	commit, err := toolGitOutput(ctx, dir, "rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	builds, err := rawBuilds(ctx, cfg, dir, tag, commit, ".new")
	if err != nil {
		return nil, err
	}
	for k, v := range builds {
		out[k] = v
	}
	return out, nil
}

// rawBuilds runs the config's build commands in dir as the build steps
// do (same argv, same environment), each writing its output plus suffix,
// and returns their times in ms by step name.
func rawBuilds(ctx context.Context, cfg *config.Config, dir, version, commit, suffix string) (map[string]float64, error) {
	out := map[string]float64{}
	for _, b := range []struct {
		step  string
		build config.BuildStep
	}{{"build-backend", cfg.Build.Backend}, {"build-frontend", cfg.Build.Frontend}} {
		if !b.build.Enabled() {
			continue
		}
		output := filepath.Join(dir, b.build.Output) + suffix
		vars := map[string]string{"VERSION": version, "COMMIT": commit, "OUTPUT": output}
		// As command.Run does: the daemon's environment, then the build's.
		benv := append(append(os.Environ(), cfg.BuildEnv(os.Environ())...), "VERSION="+version, "COMMIT="+commit, "OUTPUT="+output)
		d, err := runTool(ctx, dir, benv, command.Expand(b.build.Command, vars)...)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(output); err != nil {
			return nil, fmt.Errorf("%s wrote nothing to %s", b.step, output)
		}
		out[b.step] = durMs(d)
	}
	return out, nil
}

// writeOverheadData fills dir with the bench's data files.
func writeOverheadData(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{15})
	buf := make([]byte, overheadDataSize)
	for i := range overheadDataFiles {
		_, _ = rng.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("upload-%04d.bin", i)), buf, 0o644); err != nil {
			return err
		}
	}
	return nil
}
