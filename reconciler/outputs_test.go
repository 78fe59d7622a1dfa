//go:build faultinject

package reconciler_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/better-paas/updater/internal/fault"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// The live outputs, server and frontend/dist, are what runs: whatever goes
// wrong in an update, a rollback must leave them as the previous version
// built them.

// binaryVersion is what the binary at path says it is (-version).
func binaryVersion(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(path, "-version").Output()
	if err != nil {
		t.Fatalf("%s -version: %v", path, err)
	}
	return strings.TrimSpace(string(out))
}

// sameTree fails unless after holds exactly the entries of before.
func sameTree(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	preserved(t, what, before, after)
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: %s appeared", what, p)
		}
	}
}

// previousBuild records the live outputs of the running version.
type previousBuild struct {
	version, binary string
	dist            map[string]string
	pid             int
}

func (h *host) previousBuild(version string) previousBuild {
	h.t.Helper()
	return previousBuild{version: version, binary: fileSum(h.t, filepath.Join(h.install, "server")),
		dist: snapshot(h.t, filepath.Join(h.install, "frontend", "dist")), pid: h.pid()}
}

// intact asserts the host serves p's version from p's outputs, and that
// the binary on disk, which the next restart runs, is p's.
func (h *host) intact(t *testing.T, p previousBuild) {
	t.Helper()
	h.serving(p.version)
	bin := filepath.Join(h.install, "server")
	if got := fileSum(t, bin); got != p.binary {
		t.Errorf("server has sha256 %s, the previous binary %s", got, p.binary)
	}
	if got := binaryVersion(t, bin); got != p.version {
		t.Errorf("server on disk is %s, want %s", got, p.version)
	}
	sameTree(t, "frontend/dist", p.dist, snapshot(t, filepath.Join(h.install, "frontend", "dist")))
	if h.head() != h.tagCommit(p.version) {
		t.Errorf("HEAD %s, want %s", h.head(), p.version)
	}
}

// TestSwapFailingHalfwayRestoresThePreviousBuild: a swap that fails between
// the two renames of the frontend has already installed the new binary;
// its Do puts the previous binary and frontend back, so the rollback ends
// healthy on the previous version.
func TestSwapFailingHalfwayRestoresThePreviousBuild(t *testing.T) {
	h := newHost(t)
	t.Cleanup(func() { fault.Set("") })
	h.set("v1.0.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	prev := h.previousBuild("v1.0.0")

	fault.Set("swap:do:mid=error")
	h.set("v1.1.0")
	_, rerr := h.r.Reconcile(h.ctx)
	st, err := h.r.Status()
	if err != nil {
		t.Fatal(err)
	}
	if e := st.History[0]; e.Result != status.ResultRolledBack || e.FailedStep != "swap" {
		t.Fatalf("history[0] = %s at %s: %s", e.Result, e.FailedStep, e.Message)
	}
	if rerr == nil {
		t.Error("the reconcile reported no error: a swap that failed is retried")
	}
	if c := st.Get(status.TypeReconciling); c == nil || c.Reason != reconciler.ReasonSwapFailed {
		t.Errorf("Reconciling = %+v", c)
	}
	h.intact(t, prev)

	fault.Set("")
	if st := h.converge(); !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" {
		t.Fatalf("after the fault: Ready %s, current %s", condition(st, status.TypeReady), st.CurrentVersion)
	}
	h.serving("v1.1.0")
}

// TestBuildWritingTheLiveOutputIsRestored: a build command that writes the
// live output besides $(OUTPUT), as a release's own build script might,
// fails its build step, and the previous output is put back while the
// previous version keeps running.
func TestBuildWritingTheLiveOutputIsRestored(t *testing.T) {
	t.Parallel()
	backend := []string{"sh", "-c", `go build -ldflags "-X main.version=$1" -o server ./backend && cp server "$2"`, "sh", "$(VERSION)", "$(OUTPUT)"}
	frontend := []string{"sh", "-c", `npm --prefix frontend run build -- "$1" && npm --prefix frontend run build -- frontend/dist`, "sh", "$(OUTPUT)"}
	for _, tc := range []struct {
		name, tag, step   string
		backend, frontend []string // a command that also writes the live output
	}{
		{"backend, release that fails health", "v1.2.0", "build-backend", backend, nil},
		{"backend, release that would pass", "v1.3.0", "build-backend", backend, nil},
		{"frontend, release that fails health", "v1.2.0", "build-frontend", nil, frontend},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHost(t, good("v1.3.0"))
			h.set("v1.1.0")
			if st := h.converge(); !st.IsTrue(status.TypeReady) {
				t.Fatalf("setup: %s", condition(st, status.TypeReady))
			}
			if tc.backend != nil {
				h.cfg.Build.Backend.Command = tc.backend
			}
			if tc.frontend != nil {
				h.cfg.Build.Frontend.Command = tc.frontend
			}
			prev := h.previousBuild("v1.1.0")
			h.set(tc.tag)
			st := h.converge()
			f, ok := st.Failure(tc.tag)
			if !ok || f.Step != tc.step || f.Reason != reconciler.ReasonBuildFailed || !strings.Contains(f.Message, "wrote the live output") {
				t.Errorf("failure = %+v (recorded %v), want step %s reason BuildFailed: the build wrote the live output", f, ok, tc.step)
			}
			if e := st.History[0]; e.Result != status.ResultRolledBack {
				t.Fatalf("history[0] = %s at %s: %s", e.Result, e.FailedStep, e.Message)
			}
			h.intact(t, prev)
			if h.pid() != prev.pid {
				t.Errorf("the service was restarted: pid %d -> %d", prev.pid, h.pid())
			}
		})
	}
}

// TestRollbackRestoresAReplacedBinary: the last act of a rollback checks
// the binary it is about to start, and puts the previous one back when
// something replaced it.
func TestRollbackRestoresAReplacedBinary(t *testing.T) {
	h := newHost(t)
	t.Cleanup(func() { fault.Set("") })
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	prev := h.previousBuild("v1.1.0")
	bin := filepath.Join(h.install, "server")
	stray := filepath.Join(h.install, "server.stray")
	fault.Hook("swap:undo:before", func() {
		if err := os.Link(bin, stray); err != nil { // the new, unhealthy binary
			t.Errorf("cannot keep the new binary: %v", err)
		}
	})
	fault.Hook("swap:undo:after", func() {
		if err := os.Rename(stray, bin); err != nil {
			t.Errorf("cannot put the new binary back: %v", err)
		}
	})
	h.set("v1.2.0")
	st := h.converge()
	if e := st.History[0]; e.Result != status.ResultRolledBack || e.FailedStep != "health" {
		t.Fatalf("history[0] = %s at %s: %s", e.Result, e.FailedStep, e.Message)
	}
	h.intact(t, prev)
}

// TestSwapAfterARollbackLeavesNoTemporaryFiles: a rollback leaves server
// and server.bak as two names of one file; the next update's swap must
// not leave server.bak.tmp behind.
func TestSwapAfterARollbackLeavesNoTemporaryFiles(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	for _, step := range []struct {
		tag    string
		result status.Result
	}{{"v1.0.0", status.ResultSucceeded}, {"v1.2.0", status.ResultRolledBack}, {"v1.1.0", status.ResultSucceeded}} {
		h.set(step.tag)
		if st := h.converge(); st.History[0].To != step.tag || st.History[0].Result != step.result {
			t.Fatalf("%s: history[0] = %+v, want %s", step.tag, st.History[0], step.result)
		}
	}
	h.serving("v1.1.0")
	if left := leftovers(t, h.install, h.cfg.StateDir); len(left) > 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}
