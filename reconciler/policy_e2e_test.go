package reconciler_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// clock is a settable Options.Now: the test moves time instead of
// sleeping.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// TestPolicyHoldsThenReleases drives a real host under an injected clock
// through each policy of desired.yaml: spec.minReleaseAge (git tags of a
// local origin, dated by their annotated tags), spec.hold and
// spec.windows. Each holds its update back (status.policy and Ready say
// why and until when, plan says the same, nothing is installed, the app
// keeps serving), and the update runs once the clock reaches that time.
func TestPolicyHoldsThenReleases(t *testing.T) {
	h := newHost(t, good("v1.3.0"), good("v1.4.0"))
	// Dates of the annotated tags: the sandbox dates release n n days
	// after its first.
	v13, v14 := h.tagDate("v1.3.0"), h.tagDate("v1.4.0")
	clk := &clock{now: v14.Add(time.Hour)}
	r, err := reconciler.New(reconciler.Options{Config: h.cfg, Service: h.svc, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	once := func() *status.VersionStatus {
		t.Helper()
		st, err := reconciler.RunOnce(h.ctx, r, 3, 10*time.Millisecond)
		if err != nil {
			t.Fatalf("RunOnce: %v", err)
		}
		return st
	}
	write := func(sp spec.Spec) {
		t.Helper()
		d := spec.New(sp.Version)
		d.Spec = sp
		if err := spec.Write(h.cfg.DesiredFile, d); err != nil {
			t.Fatal(err)
		}
	}
	held := func(st *status.VersionStatus, reason, version string, until time.Time, running string) {
		t.Helper()
		p := st.Policy
		if p == nil || p.Reason != reason || p.Version != version || p.Until == nil || !p.Until.Equal(until) {
			t.Fatalf("status.policy = %+v, want %s of %s until %v", p, reason, version, until)
		}
		if c := st.Get(status.TypeReady); c == nil || c.Status != status.False || c.Reason != reason || st.Get(status.TypeStalled) != nil || st.Get(status.TypeReconciling) != nil {
			t.Errorf("conditions = %+v", st.Conditions)
		}
		if st.CurrentVersion != running {
			t.Errorf("current = %s, want %s", st.CurrentVersion, running)
		}
		h.serving(running)
		plan, err := r.Plan(h.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(plan.State) != reason || plan.Action != "Wait" || plan.Reason != reason || plan.Policy == nil || !plan.Policy.Until.Equal(until) || len(plan.Steps) != 0 {
			t.Errorf("plan = %+v", plan)
		}
	}
	updated := func(st *status.VersionStatus, version string) {
		t.Helper()
		if !st.IsTrue(status.TypeReady) || st.CurrentVersion != version || st.Policy != nil {
			t.Fatalf("status = ready %t, current %s, policy %+v; want Ready on %s", st.IsTrue(status.TypeReady), st.CurrentVersion, st.Policy, version)
		}
		h.serving(version)
	}

	// minReleaseAge: v1.4.0 is an hour old, v1.3.0 a day and an hour:
	// latest installs v1.3.0 and waits for v1.4.0.
	write(spec.Spec{Version: spec.Latest, MinReleaseAge: spec.Duration{Duration: 24 * time.Hour}})
	st := once()
	if v13.Add(24*time.Hour).After(clk.now) || len(st.History) != 1 || st.History[0].To != "v1.3.0" {
		t.Fatalf("v1.3.0 (tagged %v) should be old enough at %v and installed: %+v", v13, clk.now, st.History)
	}
	held(st, reconciler.ReasonSoakPending, "v1.4.0", v14.Add(24*time.Hour), "v1.3.0")
	clk.now = v14.Add(24*time.Hour - time.Second)
	again := once()
	held(again, reconciler.ReasonSoakPending, "v1.4.0", v14.Add(24*time.Hour), "v1.3.0")
	if *again.Policy.Until != *st.Policy.Until || again.Policy.Message != st.Policy.Message {
		t.Errorf("a wait that goes on rewrote status.policy: %+v -> %+v", st.Policy, again.Policy)
	}
	clk.now = v14.Add(24 * time.Hour)
	updated(once(), "v1.4.0")

	// hold: nothing moves until it ends.
	until := clk.now.Add(2 * time.Hour)
	write(spec.Spec{Version: "v1.1.0", AllowDowngrade: true, Hold: &spec.Hold{Until: until, Reason: "freeze"}})
	held(once(), reconciler.ReasonHeld, "v1.1.0", until, "v1.4.0")
	clk.now = until
	updated(once(), "v1.1.0")

	// windows: a daily window at 03:00 UTC for an hour.
	opens := time.Date(clk.now.Year(), clk.now.Month(), clk.now.Day(), 3, 0, 0, 0, time.UTC)
	if !opens.After(clk.now) {
		opens = opens.AddDate(0, 0, 1)
	}
	if clk.now.Sub(opens.AddDate(0, 0, -1)) < time.Hour {
		clk.now = opens.AddDate(0, 0, -1).Add(time.Hour) // just after yesterday's window closed
	}
	write(spec.Spec{Version: "v1.3.0", Windows: []spec.Window{{Schedule: "0 3 * * *", Duration: spec.Duration{Duration: time.Hour}}}})
	held(once(), reconciler.ReasonWindowClosed, "v1.3.0", opens, "v1.1.0")
	clk.now = opens.Add(59 * time.Minute) // inside the window
	updated(once(), "v1.3.0")
}

// tagDate is when the origin's annotated tag was made.
func (h *host) tagDate(tag string) time.Time {
	h.t.Helper()
	out, err := exec.Command("git", "-C", h.origin, "for-each-ref", "--format=%(taggerdate:iso-strict)", "refs/tags/"+tag).Output()
	if err != nil {
		h.t.Fatal(err)
	}
	d, err := time.Parse(time.RFC3339, strings.TrimSpace(string(out)))
	if err != nil {
		h.t.Fatalf("tag %s: %v", tag, err)
	}
	return d
}
