package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/status"
)

// TestCrashedAppIsStartedAgainAtOnce: the exec supervisor restarts an app
// that crashed, like systemd's Restart=on-failure, instead of waiting for
// the next resync (5 minutes): within a second of the crash the app
// answers its health check again, and status.yaml counts the restarts.
// The first crash is of the app `run --once` started, which the daemon
// adopted (it is not the daemon's child); the second of the one the daemon
// started itself. The first kill may come while the daemon's first
// reconcile still health-checks the adopted app; that reconcile then fails
// and, keeping the last known good version running, starts the app: that
// start is counted too (it was not, and this test failed 3 runs in 4
// under -race).
func TestCrashedAppIsStartedAgainAtOnce(t *testing.T) {
	h := newSandboxHost(t)
	h.runOnce(t, "v1.0.0")
	d := h.startDaemon(t)
	ctx := context.Background()
	var seen string // what status.yaml said last, for a failure
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("status.yaml said last: %s\ndaemon log:\n%s", seen, d.log.String())
		}
	})
	for i, kind := range []string{"adopted", "started by the daemon"} {
		waitFor(t, "the daemon has looked at the app", func() bool {
			st, err := status.Load(filepath.Join(h.cfg.StateDir, "status.yaml"))
			if err == nil {
				seen = fmt.Sprintf("serviceRestarts %d, Ready %+v", st.ServiceRestarts, st.Get(status.TypeReady))
			}
			return err == nil && st.IsTrue(status.TypeReady) && st.ServiceRestarts == int64(i)
		})
		before, err := h.svc.Status(ctx)
		if err != nil || !before.Running {
			t.Fatalf("the app does not run: %+v %v", before, err)
		}
		crashed := time.Now()
		if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var after int
		waitFor(t, "the app is started again and healthy", func() bool {
			st, err := h.svc.Status(ctx)
			if err != nil || !st.Running || st.PID == before.PID {
				return false
			}
			obs, err := health.Probe(ctx, http.DefaultClient, h.cfg.Health.URL)
			after = st.PID
			return err == nil && obs.Version == "v1.0.0"
		})
		took := time.Since(crashed)
		t.Logf("app %s (pid %d) killed; pid %d healthy %v later", kind, before.PID, after, took)
		if took > time.Second {
			t.Errorf("the %s app was healthy again only %v after its crash, want within a second\n%s", kind, took, d.log.String())
		}
	}
	waitFor(t, "status.yaml counts two restarts", func() bool {
		st, err := status.Load(filepath.Join(h.cfg.StateDir, "status.yaml"))
		return err == nil && st.ServiceRestarts == 2 && st.LastServiceRestart != nil && st.IsTrue(status.TypeReady)
	})
	d.stop(t)
}
