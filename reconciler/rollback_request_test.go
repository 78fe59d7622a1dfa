package reconciler_test

import (
	"testing"
	"time"

	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/status"
)

// TestRequestedRollbackIsRecordedAsOne: after v1.0.0 -> v1.1.0 succeeded,
// the rollback the page and the API ask for (internal/desired.Rollback)
// pins v1.0.0, the good version before the running one; the daemon installs
// it and records the operation as a rollback in the history.
func TestRequestedRollbackIsRecordedAsOne(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	for _, v := range []string{"v1.0.0", "v1.1.0"} {
		h.set(v)
		if st := h.converge(); !st.IsTrue(status.TypeReady) || st.CurrentVersion != v {
			t.Fatalf("%s: current %q, Ready %+v", v, st.CurrentVersion, st.Get(status.TypeReady))
		}
	}
	statusPath := layout.New(h.cfg).Status
	if _, version, err := desired.Rollback(h.cfg.DesiredFile, statusPath, "", time.Now()); err != nil || version != "v1.0.0" {
		t.Fatalf("desired.Rollback = %q, %v; want v1.0.0", version, err)
	}
	st := h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.0.0" {
		t.Fatalf("after the rollback: current %q, Ready %+v", st.CurrentVersion, st.Get(status.TypeReady))
	}
	h.serving("v1.0.0")
	if len(st.History) == 0 {
		t.Fatal("no history")
	}
	if e := st.History[0]; e.Kind != status.KindRollback || e.Result != status.ResultSucceeded || e.From != "v1.1.0" || e.To != "v1.0.0" {
		t.Errorf("history[0] = %+v, want a succeeded rollback v1.1.0 -> v1.0.0", e)
	}
	if e := st.History[1]; e.Kind != status.KindUpdate {
		t.Errorf("history[1] = %+v, want an update", e)
	}
	if st.PreviousGood == nil || st.PreviousGood.Version != "v1.1.0" || st.LastKnownGood.Version != "v1.0.0" {
		t.Errorf("lastKnownGood %+v, previousGood %+v", st.LastKnownGood, st.PreviousGood)
	}
}
