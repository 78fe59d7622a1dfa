package reconciler_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// host is a real install of the example app: a bare origin, a clone, real
// builds, the embedded supervisor running the backend on 127.0.0.1.
type host struct {
	t       *testing.T
	ctx     context.Context
	origin  string
	install string
	cfg     *config.Config
	svc     *service.Exec
	r       *reconciler.Reconciler
	events  []string
}

// skipEndToEnd skips a test that clones, builds and runs the example app for
// real: `make test-fast` (go test -short) leaves those to `make test`.
func skipEndToEnd(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: real builds; run make test")
	}
}

func newHost(t *testing.T, extra ...sandbox.Release) *host {
	t.Helper()
	return newHostWith(t, nil, extra...)
}

// newHostWith is newHost with the sandbox's options changed by configure
// (nil: none) before its updater.yaml is written.
func newHostWith(t *testing.T, configure func(*sandbox.Options), extra ...sandbox.Release) *host {
	t.Helper()
	skipEndToEnd(t)
	dir := t.TempDir()
	ctx := logr.NewContext(context.Background(), testr.New(t))
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(dir, "origin.git"), append(sandbox.DefaultReleases(), extra...))
	if err != nil {
		t.Fatal(err)
	}
	install := filepath.Join(dir, "install")
	if err := sandbox.Clone(ctx, origin, install, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	// What an update must never touch: data written by the app and its
	// users, and an untracked secret.
	mustWrite(t, filepath.Join(install, "data", "uploads", "photo.jpg"), "\xff\xd8 not really a jpeg")
	mustWrite(t, filepath.Join(install, "data", "notes.txt"), "keep me\n")
	mustWrite(t, filepath.Join(install, ".env"), "SECRET=1\n")

	// The shipped example config, with a short health gate: a healthy
	// release passes in 2 answers 100 ms apart, and a release that never
	// answers (or flaps) is given up on after 3 s, which still leaves a
	// slow starter (faults_test.go, 1.5 s) room on a loaded machine.
	opts := sandbox.Options{
		Timings:     sandbox.Timings{Interval: 100 * time.Millisecond, Deadline: 3 * time.Second, SuccessThreshold: 2},
		ShareBuilds: true, // every test builds the same releases in its own folder
	}
	if configure != nil {
		configure(&opts)
	}
	raw, err := sandbox.ConfigWith(dir, install, freePort(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "updater.yaml")
	mustWrite(t, cfgPath, string(raw))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.NewExec(service.ExecConfig{
		Command: cfg.Service.Exec.Command, Dir: cfg.InstallDir, Env: cfg.Service.Exec.Env,
		PIDFile: filepath.Join(cfg.StateDir, "service.pid"), LogFile: filepath.Join(cfg.StateDir, "service.log"),
		StopTimeout: cfg.Service.StopTimeout.Duration,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	h := &host{t: t, ctx: ctx, origin: origin, install: install, cfg: cfg, svc: svc}
	h.r, err = reconciler.New(reconciler.Options{Config: cfg, Service: svc,
		OnEvent: func(step string, ev reconciler.Event) { h.events = append(h.events, step+":"+string(ev)) }})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// set writes desired.yaml as a person or Ansible would.
func (h *host) set(version string) {
	h.t.Helper()
	if err := spec.Write(h.cfg.DesiredFile, spec.New(version)); err != nil {
		h.t.Fatal(err)
	}
}

// converge runs reconciles until Ready or Stalled.
func (h *host) converge() *status.VersionStatus {
	h.t.Helper()
	h.events = nil
	st, err := reconciler.RunOnce(h.ctx, h.r, 3, 10*time.Millisecond)
	if err != nil {
		h.t.Fatalf("RunOnce: %v", err)
	}
	return st
}

// serving asserts the app answers health with version.
func (h *host) serving(version string) {
	h.t.Helper()
	obs, err := health.Probe(h.ctx, http.DefaultClient, h.cfg.Health.URL)
	if err != nil || obs.Version != version {
		h.t.Fatalf("health = %+v, %v; want %s serving", obs, err, version)
	}
}

func (h *host) head() string {
	h.t.Helper()
	out, err := exec.Command("git", "-C", h.install, "rev-parse", "HEAD").Output()
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func (h *host) tagCommit(tag string) string {
	h.t.Helper()
	out, err := exec.Command("git", "-C", h.origin, "rev-parse", tag+"^{commit}").Output()
	if err != nil {
		h.t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func (h *host) pid() int {
	h.t.Helper()
	st, err := h.svc.Status(h.ctx)
	if err != nil || !st.Running {
		h.t.Fatalf("service not running: %+v %v", st, err)
	}
	return st.PID
}

// snapshot hashes every file under dir (symlinks by target), relative paths as keys.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := e.Info()
		if err != nil {
			return err
		}
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[rel] = "link:" + target
			return err
		case e.IsDir():
			out[rel] = "dir:" + info.Mode().String()
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = info.Mode().String() + ":" + hex.EncodeToString(sum[:])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// preserved fails unless every entry of before is unchanged in after;
// entries may be added (the app's additive migrations).
func preserved(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, sum := range before {
		if after[p] != sum {
			t.Errorf("%s: %s changed or vanished (%q -> %q)", what, p, sum, after[p])
		}
	}
}

func (h *host) precious() map[string]string {
	m := snapshot(h.t, filepath.Join(h.install, "data"))
	b, err := os.ReadFile(filepath.Join(h.install, ".env"))
	if err != nil {
		h.t.Fatal(err)
	}
	m["../.env"] = string(b)
	return m
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func condition(st *status.VersionStatus, typ string) string {
	if c := st.Get(typ); c != nil {
		return string(c.Status) + "/" + c.Reason
	}
	return "absent"
}

// TestUpdateLifecycle walks one host through its life: a first install, a
// good update, a converged no-op, and a release that fails its health check
// and is rolled back without looping.
func TestUpdateLifecycle(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	before := h.precious()

	// v1.0.0: the clone has no binary yet; the update builds and starts it.
	h.set("v1.0.0")
	st := h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.0.0" {
		t.Fatalf("after install: Ready=%s current=%s", condition(st, status.TypeReady), st.CurrentVersion)
	}
	h.serving("v1.0.0")
	v100 := fileSum(t, filepath.Join(h.install, "server"))

	// v1.1.0: a good update.
	h.set("v1.1.0")
	st = h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" || st.CurrentCommit != h.tagCommit("v1.1.0") {
		t.Fatalf("after update: %s %s %s", condition(st, status.TypeReady), st.CurrentVersion, st.CurrentCommit)
	}
	h.serving("v1.1.0")
	if h.head() != h.tagCommit("v1.1.0") {
		t.Errorf("HEAD = %s, want v1.1.0", h.head())
	}
	if got := fileSum(t, filepath.Join(h.install, "server.bak")); got != v100 {
		t.Errorf("server.bak is not the v1.0.0 binary")
	}
	v110 := fileSum(t, filepath.Join(h.install, "server"))
	if st.LastKnownGood == nil || st.LastKnownGood.Version != "v1.1.0" || st.LastKnownGood.BinarySHA256 != v110 {
		t.Errorf("lastKnownGood = %+v", st.LastKnownGood)
	}
	if len(st.History) < 2 || st.History[0].Result != status.ResultSucceeded || st.History[0].From != "v1.0.0" {
		t.Errorf("history = %+v", st.History)
	}
	preserved(t, "after v1.1.0", before, h.precious())

	// Converged: a reconcile does no git, build or service work. The origin
	// is moved away, so any fetch or ls-remote would fail the reconcile.
	frontend := snapshot(t, filepath.Join(h.install, "frontend", "dist"))
	pid := h.pid()
	binInfo, _ := os.Stat(filepath.Join(h.install, "server"))
	if err := os.Rename(h.origin, h.origin+".away"); err != nil {
		t.Fatal(err)
	}
	h.events = nil
	res, err := h.r.Reconcile(h.ctx)
	if err != nil {
		t.Fatalf("converged reconcile: %v", err)
	}
	if len(h.events) != 0 || res.Requeue {
		t.Errorf("converged reconcile ran steps %v (requeue %v)", h.events, res.Requeue)
	}
	st, _ = h.r.Status()
	if !st.IsTrue(status.TypeReady) || h.pid() != pid {
		t.Errorf("converged reconcile changed the host: Ready=%s pid %d -> %d", condition(st, status.TypeReady), pid, h.pid())
	}
	if info, _ := os.Stat(filepath.Join(h.install, "server")); !os.SameFile(info, binInfo) || !info.ModTime().Equal(binInfo.ModTime()) {
		t.Error("converged reconcile replaced the binary")
	}
	if err := os.Rename(h.origin+".away", h.origin); err != nil {
		t.Fatal(err)
	}

	// v1.2.0 builds but answers 503: rolled back to v1.1.0, recorded, not retried.
	h.set("v1.2.0")
	st = h.converge()
	if c := st.Get(status.TypeStalled); c == nil || c.Reason != reconciler.ReasonVersionFailed || !strings.Contains(c.Message, "HealthCheckFailed") {
		t.Fatalf("after bad release: Stalled = %+v", c)
	}
	if st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" || st.Operation != nil {
		t.Errorf("after rollback: Ready=%s current=%s op=%+v", condition(st, status.TypeReady), st.CurrentVersion, st.Operation)
	}
	h.serving("v1.1.0")
	if h.head() != h.tagCommit("v1.1.0") {
		t.Errorf("HEAD not restored: %s", h.head())
	}
	if got := fileSum(t, filepath.Join(h.install, "server")); got != v110 {
		t.Error("binary not restored to v1.1.0")
	}
	preserved(t, "frontend after rollback", frontend, snapshot(t, filepath.Join(h.install, "frontend", "dist")))
	f, ok := st.Failure("v1.2.0")
	if !ok || f.Step != "health" || f.Reason != reconciler.ReasonHealthCheckFailed || f.Commit != h.tagCommit("v1.2.0") {
		t.Errorf("failedVersions = %+v", st.FailedVersions)
	}
	if st.History[0].Result != status.ResultRolledBack || st.History[0].FailedStep != "health" {
		t.Errorf("history[0] = %+v", st.History[0])
	}
	wantSeq := "start:undo swap:undo build-frontend:undo build-backend:undo checkout:undo recover:undo"
	if got := strings.Join(h.events, " "); !strings.HasSuffix(got, wantSeq) {
		t.Errorf("rollback sequence %q does not end with %q", got, wantSeq)
	}

	// No retry loop: reconciling again changes nothing and runs no step.
	runs := len(st.History)
	for i := 0; i < 3; i++ {
		h.events = nil
		if _, err := h.r.Reconcile(h.ctx); err != nil {
			t.Fatal(err)
		}
		if len(h.events) != 0 {
			t.Fatalf("a failed version was retried: %v", h.events)
		}
	}
	st, _ = h.r.Status()
	if len(st.History) != runs {
		t.Errorf("history grew from %d to %d without a spec change", runs, len(st.History))
	}
	preserved(t, "after rollback", before, h.precious())
}

// TestBrokenBuildsLeaveTheRunningVersionAlone: a backend that does not
// compile and a frontend that does not build change nothing that runs.
func TestBrokenBuildsLeaveTheRunningVersionAlone(t *testing.T) {
	t.Parallel()
	// Releases stack: v1.4.0 fixes v1.3.0's backend and breaks the frontend.
	frontend := sandbox.BrokenFrontend("v1.4.0")
	frontend.Remove = []string{"backend/broken.go"}
	h := newHost(t, sandbox.BrokenBackend("v1.3.0"), frontend)
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	before := h.precious()
	for _, tc := range []struct{ tag, step string }{{"v1.3.0", "build-backend"}, {"v1.4.0", "build-frontend"}} {
		t.Run(tc.tag, func(t *testing.T) {
			pid := h.pid()
			bin := fileSum(t, filepath.Join(h.install, "server"))
			dist := snapshot(t, filepath.Join(h.install, "frontend", "dist"))
			h.set(tc.tag)
			st := h.converge()
			f, ok := st.Failure(tc.tag)
			if !ok || f.Step != tc.step || f.Reason != reconciler.ReasonBuildFailed {
				t.Fatalf("failure = %+v (ok %v)", f, ok)
			}
			if c := st.Get(status.TypeStalled); c == nil || c.Reason != reconciler.ReasonVersionFailed {
				t.Errorf("Stalled = %+v", c)
			}
			if h.pid() != pid {
				t.Errorf("service restarted: pid %d -> %d", pid, h.pid())
			}
			h.serving("v1.1.0")
			if fileSum(t, filepath.Join(h.install, "server")) != bin {
				t.Error("binary swapped after a failed build")
			}
			preserved(t, "frontend", dist, snapshot(t, filepath.Join(h.install, "frontend", "dist")))
			if h.head() != h.tagCommit("v1.1.0") {
				t.Errorf("checkout not restored: %s", h.head())
			}
			for _, leftover := range []string{"server.new", "frontend/dist.new"} {
				if _, err := os.Stat(filepath.Join(h.install, leftover)); !os.IsNotExist(err) {
					t.Errorf("%s left behind: %v", leftover, err)
				}
			}
			if strings.Contains(strings.Join(h.events, " "), "stop:") {
				t.Errorf("the service was touched: %v", h.events)
			}
		})
	}
	preserved(t, "data", before, h.precious())
}

// TestRefusalsChangeNothing: invalid desired.yaml, unknown tags and local
// modifications are refused with a reason, and the host stays as it was.
func TestRefusalsChangeNothing(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.set("v1.0.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	tests := []struct {
		name, desired, reason, message string
		modify                         string // a tracked file to modify first
	}{
		{name: "bad yaml", desired: "spec: [", reason: reconciler.ReasonInvalidSpec, message: "desired.yaml"},
		{name: "unknown field", desired: "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  versoin: v1.1.0\n", reason: reconciler.ReasonInvalidSpec, message: "versoin"},
		{name: "not semver", desired: "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: 1.1\n", reason: reconciler.ReasonInvalidSpec, message: "vMAJOR.MINOR.PATCH"},
		{name: "missing tag", desired: "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: v9.9.9\n", reason: reconciler.ReasonTagNotFound, message: "v9.9.9 does not exist"},
		{name: "local modifications", desired: "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: v1.1.0\n",
			modify: "backend/main.go", reason: reconciler.ReasonLocalModifications, message: "backend/main.go"},
	}
	t.Run("invalid spec keeps the last good version running", func(t *testing.T) {
		if err := h.svc.Stop(h.ctx); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, h.cfg.DesiredFile, "spec: [")
		st := h.converge()
		if condition(st, status.TypeStalled) != "True/"+reconciler.ReasonInvalidSpec || len(h.events) != 0 {
			t.Fatalf("Stalled %s, steps %v", condition(st, status.TypeStalled), h.events)
		}
		h.serving("v1.0.0")
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.modify != "" {
				p := filepath.Join(h.install, tt.modify)
				b, _ := os.ReadFile(p)
				mustWrite(t, p, string(b)+"\n// a hotfix made on the server\n")
			}
			tree := snapshot(t, h.install)
			pid := h.pid()
			mustWrite(t, h.cfg.DesiredFile, tt.desired)
			st := h.converge()
			c := st.Get(status.TypeStalled)
			if c == nil || c.Reason != tt.reason || !strings.Contains(c.Message, tt.message) {
				t.Fatalf("Stalled = %+v, want reason %s mentioning %q", c, tt.reason, tt.message)
			}
			if r := st.Get(status.TypeReady); r == nil || r.Status != status.False {
				t.Errorf("Ready = %+v", r)
			}
			if len(h.events) != 0 {
				t.Errorf("steps ran: %v", h.events)
			}
			if after := snapshot(t, h.install); len(after) != len(tree) {
				t.Errorf("install tree changed: %d -> %d entries", len(tree), len(after))
			} else {
				preserved(t, "install", tree, after)
			}
			if h.pid() != pid {
				t.Error("service restarted")
			}
			h.serving("v1.0.0")
		})
	}
}

// TestRetryLatestAndTags: a failed version is retried only when asked, latest
// skips it, a lost status.yaml is rebuilt from the host, and a moved tag is
// refused until spec.commit accepts it.
func TestRetryLatestAndTags(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	h.set("v1.2.0")
	st := h.converge()
	first, _ := st.Failure("v1.2.0")
	if condition(st, status.TypeStalled) != "True/"+reconciler.ReasonVersionFailed {
		t.Fatalf("v1.2.0: Stalled %s", condition(st, status.TypeStalled))
	}

	t.Run("retry annotation runs the failed version once more", func(t *testing.T) {
		d, err := spec.Load(h.cfg.DesiredFile)
		if err != nil {
			t.Fatal(err)
		}
		d.Metadata.Annotations = map[string]string{spec.RetryAnnotation: "2026-11-29T12:00:00Z"}
		if err := spec.Write(h.cfg.DesiredFile, d); err != nil {
			t.Fatal(err)
		}
		st := h.converge()
		if !strings.Contains(strings.Join(h.events, " "), "health:error") {
			t.Fatalf("retry did not run the update: %v", h.events)
		}
		again, _ := st.Failure("v1.2.0")
		if !again.FailedAt.After(first.FailedAt) || again.Generation <= first.Generation {
			t.Errorf("failure not re-recorded: %+v then %+v", first, again)
		}
		h.serving("v1.1.0")
	})

	t.Run("latest skips the failed version", func(t *testing.T) {
		h.set("latest")
		st := h.converge()
		if !st.IsTrue(status.TypeReady) || st.TargetVersion != "v1.1.0" || len(h.events) != 0 {
			t.Fatalf("latest: Ready %s, target %s, steps %v", condition(st, status.TypeReady), st.TargetVersion, h.events)
		}
	})

	t.Run("corrupt status is rebuilt from the host", func(t *testing.T) {
		// Pinned: with latest, a lost status forgets which versions failed
		// here, and the next reconcile would try v1.2.0 once more.
		h.set("v1.1.0")
		if st := h.converge(); !st.IsTrue(status.TypeReady) || len(h.events) != 0 {
			t.Fatalf("pinning the running version: Ready %s, steps %v", condition(st, status.TypeReady), h.events)
		}
		path := reconciler.StatusPath(h.cfg)
		mustWrite(t, path, "apiVersion: updates.better-paas.io/v1\nkind: VersionStatus\nconditions: [\x00")
		st := h.converge()
		if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" || len(h.events) != 0 {
			t.Fatalf("after corruption: Ready %s, current %s, steps %v", condition(st, status.TypeReady), st.CurrentVersion, h.events)
		}
		if lkg := st.LastKnownGood; lkg == nil || lkg.BinarySHA256 != fileSum(t, filepath.Join(h.install, "server")) || lkg.Commit != h.tagCommit("v1.1.0") {
			t.Errorf("lastKnownGood not rebuilt: %+v", st.LastKnownGood)
		}
		kept, _ := filepath.Glob(path + ".corrupt-*")
		if len(kept) != 1 {
			t.Errorf("the corrupt file was not kept for a human: %v", kept)
		}
	})

	t.Run("a moved tag is refused until spec.commit accepts it", func(t *testing.T) {
		h.set("v1.1.0")
		h.converge()
		moved := h.tagCommit("v1.0.0")
		git := func(dir string, args ...string) {
			if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("git %v: %v\n%s", args, err, out)
			}
		}
		git(h.origin, "tag", "-f", "v1.1.0", moved)
		git(h.install, "tag", "-d", "v1.1.0") // as if this host had never fetched it
		pid := h.pid()
		st := h.converge()
		c := st.Get(status.TypeStalled)
		if c == nil || c.Reason != reconciler.ReasonTagMoved || !strings.Contains(c.Message, "spec.commit: "+moved) {
			t.Fatalf("Stalled = %+v", c)
		}
		if h.pid() != pid || len(h.events) != 0 {
			t.Errorf("a moved tag changed the host: pid %d -> %d, steps %v", pid, h.pid(), h.events)
		}
		h.serving("v1.1.0")

		d := spec.New("v1.1.0")
		d.Spec.Commit = moved
		if err := spec.Write(h.cfg.DesiredFile, d); err != nil {
			t.Fatal(err)
		}
		st = h.converge()
		if !st.IsTrue(status.TypeReady) || st.CurrentCommit != moved || st.KnownTags["v1.1.0"] != moved {
			t.Fatalf("after accepting: Ready %s, commit %s, known %s", condition(st, status.TypeReady), st.CurrentCommit, st.KnownTags["v1.1.0"])
		}
	})

	t.Run("a pinned older version needs allowDowngrade", func(t *testing.T) {
		pid := h.pid()
		h.set("v1.0.0")
		st := h.converge()
		if c := st.Get(status.TypeStalled); c == nil || c.Reason != reconciler.ReasonDowngradeRefused || !strings.Contains(c.Message, "allowDowngrade: true") {
			t.Fatalf("Stalled = %+v", c)
		}
		if len(h.events) != 0 || h.pid() != pid {
			t.Errorf("a refused downgrade changed the host: steps %v", h.events)
		}
		d := spec.New("v1.0.0")
		d.Spec.AllowDowngrade = true
		if err := spec.Write(h.cfg.DesiredFile, d); err != nil {
			t.Fatal(err)
		}
		if st := h.converge(); !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.0.0" {
			t.Fatalf("allowed downgrade: Ready %s, current %s", condition(st, status.TypeReady), st.CurrentVersion)
		}
		h.serving("v1.0.0")
	})
}
