//go:build faultinject

package reconciler_test

import (
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/examples"
	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/fault"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// liveProcesses counts live processes working in dir or below whose
// command line starts with argv.
func liveProcesses(dir string, argv ...string) int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cwd, _ := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if cwd != dir && !strings.HasPrefix(cwd, dir+"/") {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(string(cmdline), strings.Join(argv, "\x00")+"\x00") {
			if stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); !strings.Contains(string(stat), ") Z ") {
				n++
			}
		}
	}
	return n
}

// TestFaults walks one host through every fault the issue lists, in turn.
// Each scenario starts from a healthy host and must leave it healthy, on
// the last known good version or on the new one when the fault passed,
// with data/ intact and the reason in status.
func TestFaults(t *testing.T) {
	badOverlay := examples.Releases()[2].Overlay // the example's release that answers 503
	read := func(name string) string {
		b, err := fs.ReadFile(badOverlay, name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	h := newHost(t,
		isolated(sandbox.CrashOnStart("v2.0.0")),
		isolated(sandbox.HangOnStart("v2.1.0")),
		isolated(sandbox.ReportsVersion("v2.2.0", "v1.1.0")),
		isolated(sandbox.Flapping("v2.3.0")),
		isolated(sandbox.HangingFrontendBuild("v2.4.0")),
		isolated(sandbox.SlowStart("v2.5.0", 1500*time.Millisecond)),
		good("v2.6.0"), good("v2.7.0"), good("v2.8.0"), good("v2.9.0"),
		isolated(sandbox.Release{Tag: "v3.0.0", Files: map[string]string{
			"backend/health.go": read("backend/health.go"), "backend/health_test.go": read("backend/health_test.go"),
		}}),
	)
	h.cfg.Build.Frontend.Timeout.Duration = 5 * time.Second
	t.Cleanup(func() { fault.Set("") })
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	data := h.precious()

	// Releases that must be rolled back, each for its own reason.
	for _, tc := range []struct {
		name, tag, step, reason, message string
	}{
		{"app crashes on start", "v2.0.0", "health", reconciler.ReasonHealthCheckFailed, "process exited"},
		{"app hangs on start", "v2.1.0", "health", reconciler.ReasonHealthCheckFailed, "within " + h.cfg.Health.Deadline.Duration.String()},
		{"app answers with the old version", "v2.2.0", "health", reconciler.ReasonHealthCheckFailed, `want "v2.2.0", got "v1.1.0"`},
		{"app flaps", "v2.3.0", "health", reconciler.ReasonHealthCheckFailed, "HTTP 503"},
		{"build hangs", "v2.4.0", "build-frontend", reconciler.ReasonBuildFailed, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			began := time.Now()
			h.set(tc.tag)
			st := h.converge()
			f, ok := st.Failure(tc.tag)
			if !ok || f.Step != tc.step || f.Reason != tc.reason || !strings.Contains(f.Message, tc.message) {
				t.Fatalf("failure = %+v (recorded %v), want step %s reason %s mentioning %q", f, ok, tc.step, tc.reason, tc.message)
			}
			if c := st.Get(status.TypeStalled); c == nil || c.Reason != reconciler.ReasonVersionFailed {
				t.Errorf("Stalled = %+v", c)
			}
			h.serving("v1.1.0")
			if st.CurrentVersion != "v1.1.0" || h.head() != h.tagCommit("v1.1.0") {
				t.Errorf("not back on v1.1.0: %s at %s", st.CurrentVersion, h.head())
			}
			if tc.tag == "v2.0.0" && time.Since(began) > 20*time.Second {
				t.Errorf("a crashing app took %s to roll back: the gate waited instead of seeing the crash", time.Since(began))
			}
			if n := liveProcesses(h.install, "sleep", "1000"); n != 0 {
				t.Errorf("%d processes of a killed build are still running", n)
			}
		})
	}

	t.Run("slow starter passes", func(t *testing.T) {
		h.set("v2.5.0")
		if st := h.converge(); !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v2.5.0" {
			t.Fatalf("Ready %s, current %s", condition(st, status.TypeReady), st.CurrentVersion)
		}
		h.serving("v2.5.0")
	})

	// Faults that blame the environment, not the release: the update is
	// undone, retried later, and succeeds once the fault is gone.
	transient := func(t *testing.T, tag, faults, reason, message string, during, after func()) {
		t.Helper()
		current := h.precious()
		before, _ := h.r.Status()
		pid := h.pid()
		fault.Set(faults)
		if during != nil {
			during()
		}
		h.set(tag)
		if _, err := h.r.Reconcile(h.ctx); err == nil {
			t.Fatal("the reconcile succeeded despite the fault")
		}
		st, _ := h.r.Status()
		c := st.Get(status.TypeReconciling)
		if c == nil || c.Reason != reason || !strings.Contains(c.Message, message) {
			t.Errorf("Reconciling = %+v, want reason %s mentioning %q", c, reason, message)
		}
		if _, failed := st.Failure(tag); failed {
			t.Errorf("%s was blamed for the environment's fault", tag)
		}
		h.serving(before.CurrentVersion)
		if reason != reconciler.ReasonServiceFailed && h.pid() != pid {
			t.Errorf("the service was restarted: pid %d -> %d", pid, h.pid())
		}
		preserved(t, "data", current, h.precious())
		fault.Set("")
		if after != nil {
			after()
		}
		if st := h.converge(); !st.IsTrue(status.TypeReady) || st.CurrentVersion != tag {
			t.Fatalf("after the fault: Ready %s, current %s", condition(st, status.TypeReady), st.CurrentVersion)
		}
	}
	dropLocalTag := func(tag string) {
		if out, err := exec.Command("git", "-C", h.install, "tag", "-d", tag).CombinedOutput(); err != nil {
			t.Fatalf("git tag -d: %v\n%s", err, out)
		}
	}

	t.Run("backup fails: disk full", func(t *testing.T) {
		transient(t, "v2.6.0", "backup:do:mid=enospc", reconciler.ReasonBackupFailed, "no space left on device", nil, func() {
			list, err := backup.List(h.cfg.BackupDir)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range list {
				if strings.HasSuffix(b.ID, "-v2.6.0") {
					t.Errorf("a failed backup is listed: %s", b.ID)
				}
			}
			if left := leftovers(t, h.cfg.BackupDir); len(left) > 0 {
				t.Errorf("partial backup left: %v", left)
			}
		})
	})
	t.Run("fetch fails", func(t *testing.T) {
		dropLocalTag("v2.7.0")
		transient(t, "v2.7.0", "fetch:do:mid=error", reconciler.ReasonFetchFailed, "injected fault", nil, nil)
	})
	t.Run("restart fails", func(t *testing.T) {
		transient(t, "v2.8.0", "start:do:mid=error", reconciler.ReasonServiceFailed, "injected fault", nil, nil)
	})
	t.Run("network drops", func(t *testing.T) {
		dropLocalTag("v2.9.0")
		away := h.origin + ".away"
		transient(t, "v2.9.0", "", reconciler.ReasonSourceUnavailable, "cannot list releases",
			func() {
				if err := os.Rename(h.origin, away); err != nil {
					t.Fatal(err)
				}
			},
			func() {
				if err := os.Rename(away, h.origin); err != nil {
					t.Fatal(err)
				}
			})
	})

	// Last, because it leaves the host broken: the rollback's own health
	// check fails. Something else takes the app's port while the bad
	// release is stopped, so the previous version cannot listen.
	t.Run("rollback health fails", func(t *testing.T) {
		u, err := url.Parse(h.cfg.Health.URL)
		if err != nil {
			t.Fatal(err)
		}
		var squatter net.Listener
		fault.Hook("swap:undo:after", func() {
			if squatter, err = net.Listen("tcp", u.Host); err != nil {
				t.Errorf("cannot take the port: %v", err)
			}
		})
		defer func() {
			if squatter != nil {
				squatter.Close()
			}
		}()
		h.set("v3.0.0")
		st := h.converge()
		c := st.Get(status.TypeStalled)
		if c == nil || c.Reason != reconciler.ReasonRollbackFailed ||
			!strings.Contains(c.Message, "v3.0.0 is not healthy") || !strings.Contains(c.Message, "cannot confirm v2.9.0 is healthy again") {
			t.Fatalf("Stalled = %+v", c)
		}
		if st.History[0].Result != status.ResultRollbackFailed || st.Operation != nil {
			t.Errorf("history[0] = %+v, operation %+v", st.History[0], st.Operation)
		}
		for i := 0; i < 2; i++ {
			h.events = nil
			if _, err := h.r.Reconcile(h.ctx); err != nil {
				t.Fatal(err)
			}
			if len(h.events) > 0 {
				t.Fatalf("a failed rollback was attempted again: %v", h.events)
			}
			if st, _ := h.r.Status(); condition(st, status.TypeStalled) != "True/"+reconciler.ReasonRollbackFailed {
				t.Fatalf("the stall changed to %s: a human must still see RollbackFailed", condition(st, status.TypeStalled))
			}
		}
	})
	preserved(t, "data across all faults", data, h.precious())
}

// TestRollbackFailedRecordsWhatTheHostRuns: a rollback that stops part-way
// (here: the checkout of the previous version fails) leaves the host with
// the bad release's commit checked out; status.yaml says so, instead of
// naming the version the update started from as if it ran.
func TestRollbackFailedRecordsWhatTheHostRuns(t *testing.T) {
	h := newHost(t)
	t.Cleanup(func() { fault.Set("") })
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	before, _ := h.r.Status()
	fault.Set("checkout:undo:before=error")
	h.set("v1.2.0") // fails its health check
	st := h.converge()
	if c := st.Get(status.TypeStalled); c == nil || c.Reason != reconciler.ReasonRollbackFailed {
		t.Fatalf("Stalled = %+v, want RollbackFailed", c)
	}
	head := h.head()
	if head == before.CurrentCommit {
		t.Fatalf("the failed checkout undo left %s checked out, the previous commit: nothing to tell apart", head)
	}
	if st.CurrentCommit != head {
		t.Errorf("status says commit %s runs, the install has %s checked out", st.CurrentCommit, head)
	}
	if st.CurrentVersion == before.CurrentVersion {
		t.Errorf("status says %s runs, but the install is at v1.2.0's commit", st.CurrentVersion)
	}
	t.Logf("after the failed rollback: currentVersion %q, commit %s", st.CurrentVersion, st.CurrentCommit)
}
