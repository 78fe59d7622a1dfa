package reconciler_test

import (
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// TestEveryStateKeepsTheLastGoodVersionRunning: whatever holds an update
// back (a failed release, a refused downgrade, a missing tag, local
// modifications), an app that crashes meanwhile is started again on the
// last known good version, status.yaml counts the restart, and the reason
// it is held stays in status.
func TestEveryStateKeepsTheLastGoodVersionRunning(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	v110 := fileSum(t, filepath.Join(h.install, "server"))

	for _, tc := range []struct {
		name   string
		hold   func()
		reason string
	}{
		{"after a failed release", func() { h.set("v1.2.0") }, reconciler.ReasonVersionFailed},
		{"while a downgrade is refused", func() { h.set("v1.0.0") }, reconciler.ReasonDowngradeRefused},
		{"while the tag does not exist", func() { h.set("v9.9.9") }, reconciler.ReasonTagNotFound},
		{"while desired.yaml is missing", func() {
			if err := os.Remove(h.cfg.DesiredFile); err != nil {
				t.Fatal(err)
			}
		}, reconciler.ReasonDesiredMissing},
		{"while desired.yaml names a latest with nothing newer and the spec asks for a commit that moved", func() {
			d := spec.New("v1.1.0")
			d.Spec.Commit = "0123456789abcdef0123456789abcdef01234567"
			if err := spec.Write(h.cfg.DesiredFile, d); err != nil {
				t.Fatal(err)
			}
		}, reconciler.ReasonTagMoved},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.hold()
			st := h.converge()
			if c := st.Get(status.TypeStalled); c == nil || c.Reason != tc.reason {
				t.Fatalf("Stalled = %+v, want %s", c, tc.reason)
			}
			servingIn(t, h, "v1.1.0")
			restarts := st.ServiceRestarts

			// The app crashes (the path users take: the process dies).
			if err := syscall.Kill(h.pid(), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if alive, _ := h.svc.Status(h.ctx); alive.Running {
				waitGone(t, h)
			}
			st = h.converge()
			servingIn(t, h, "v1.1.0")
			if c := st.Get(status.TypeStalled); c == nil || c.Reason != tc.reason {
				t.Errorf("after the restart: Stalled = %+v, want still %s", c, tc.reason)
			}
			// A start is a start, whatever the state: status.yaml counts it.
			if st.ServiceRestarts != restarts+1 || st.LastServiceRestart == nil {
				t.Errorf("after the restart: serviceRestarts %d (was %d), lastServiceRestart %v: want one more, and when",
					st.ServiceRestarts, restarts, st.LastServiceRestart)
			}
			if len(h.events) != 0 {
				t.Errorf("steps ran: %v", h.events)
			}
			if got := fileSum(t, filepath.Join(h.install, "server")); got != v110 {
				t.Error("the binary changed")
			}
		})
	}
}

// servingIn is h.serving for a subtest.
func servingIn(t *testing.T, h *host, version string) {
	t.Helper()
	obs, err := health.Probe(h.ctx, http.DefaultClient, h.cfg.Health.URL)
	if err != nil || obs.Version != version {
		t.Fatalf("health = %+v, %v; want %s serving", obs, err, version)
	}
}

// waitGone waits until the supervisor sees the killed backend gone.
func waitGone(t *testing.T, h *host) {
	t.Helper()
	for range 1000 {
		st, err := h.svc.Status(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Running {
			return
		}
		// The kernel reaps a SIGKILLed process within microseconds; a
		// short yield keeps this a bounded wait, not a timing guess.
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the killed backend is still running")
}
