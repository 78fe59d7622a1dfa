package reconciler

import (
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// TestPolicyWaitsSayUntilWhen: each waiting state names the field, the
// version held back and the time it lets the update through, and the
// reconcile comes back exactly then; moving the clock to that time
// releases the update.
func TestPolicyWaitsSayUntilWhen(t *testing.T) {
	want := func(o *Observation) {
		o.Desired = spec.New("v1.2.0")
		o.Target = status.Revision{Version: "v1.2.0", Commit: commitB}
	}
	berlin := spec.Window{Schedule: "0 2 * * 6", Duration: spec.Duration{Duration: 4 * time.Hour}, TimeZone: "Europe/Berlin"}
	utc := spec.Window{Schedule: "30 3 * * *", Duration: spec.Duration{Duration: time.Hour}}
	tests := []struct {
		name   string
		change func(*Observation)
		state  State
		until  time.Time
		says   []string
	}{
		{"hold", func(o *Observation) {
			want(o)
			o.Desired.Spec.Hold = &spec.Hold{Until: t0.Add(90 * time.Minute), Reason: "black friday"}
		}, StateHeld, t0.Add(90 * time.Minute), []string{"spec.hold", "v1.2.0", "2026-11-30T13:30:00Z", "black friday", "stays on v1.1.0", "Remove spec.hold"}},
		// t0 is Monday 12:00 UTC: the Berlin window opens Saturday 02:00
		// CET (01:00 UTC), the UTC one Tuesday 03:30: the earlier wins.
		{"windows", func(o *Observation) {
			want(o)
			o.Desired.Spec.Windows = []spec.Window{berlin, utc}
		}, StateWindowClosed, time.Date(2026, 12, 1, 3, 30, 0, 0, time.UTC), []string{"spec.windows", "v1.2.0", "2026-12-01T03:30:00Z"}},
		{"window in its zone", func(o *Observation) {
			want(o)
			o.Desired.Spec.Windows = []spec.Window{berlin}
		}, StateWindowClosed, time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC), []string{"2026-12-05T01:00:00Z", "2026-12-05 02:00 CET"}},
		{"soak", func(o *Observation) {
			o.Desired = spec.New(spec.Latest)
			o.Desired.Spec.MinReleaseAge = spec.Duration{Duration: 72 * time.Hour}
			o.Soak = soakWait(*o, latestPick{soaking: "v1.3.0", eligibleAt: t0.Add(2 * time.Hour), next: "v1.2.0", nextAt: t0.Add(time.Hour)}, "v1.1.0")
		}, StateSoakPending, t0.Add(time.Hour), []string{"v1.3.0 is younger than spec.minReleaseAge 72h0m0s", "v1.3.0 is old enough at 2026-11-30T14:00:00Z", "latest takes v1.2.0 at 2026-11-30T13:00:00Z", "stays on v1.1.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := running()
			tt.change(&o)
			d := decide(o)
			w, ok := AsWait(d.Err)
			if d.State != tt.state || d.Action != actWait || !ok {
				t.Fatalf("decide = %s/%s %v, want %s/Wait", d.State, d.Action, d.Err, tt.state)
			}
			if !w.Until.Equal(tt.until) {
				t.Errorf("until = %v, want %v", w.Until, tt.until)
			}
			if got := w.requeueAfter(o.Now); got != tt.until.Sub(o.Now) {
				t.Errorf("requeueAfter = %v, want %v", got, tt.until.Sub(o.Now))
			}
			for _, s := range tt.says {
				if !strings.Contains(w.Error(), s) {
					t.Errorf("%q does not say %q", w.Error(), s)
				}
			}
			rec := w.record()
			if rec.Reason != reasonOf(d.Err) || rec.Until == nil || !rec.Until.Equal(tt.until) || rec.Message != w.Msg {
				t.Errorf("status.policy = %+v", rec)
			}
			// At that time, the wait is over (a soak moves latest, which
			// resolve decides; here the hold and windows).
			if tt.state != StateSoakPending {
				o.Now = tt.until
				if d := decide(o); d.State != StateUpdatePending {
					t.Errorf("at %v: %s, want UpdatePending", o.Now, d.State)
				}
				o.Now = tt.until.Add(-time.Second)
				if d := decide(o); d.State != tt.state {
					t.Errorf("a second before: %s, want %s", d.State, tt.state)
				}
			}
		})
	}
}

// TestSummarizeWaiting: a wait is Ready False with its reason, and
// neither Reconciling nor Stalled, whatever came before.
func TestSummarizeWaiting(t *testing.T) {
	st := status.New()
	summarize(st, phaseStalled, ReasonTagNotFound, "gone", t0)
	summarize(st, phaseRetrying, ReasonSourceUnavailable, "down", t0)
	summarizeWaiting(st, ReasonHeld, "held until", t0)
	if c := st.Get(status.TypeReady); c == nil || c.Status != status.False || c.Reason != ReasonHeld || c.Message != "held until" {
		t.Errorf("Ready = %+v", c)
	}
	if st.Get(status.TypeReconciling) != nil || st.Get(status.TypeStalled) != nil {
		t.Errorf("conditions = %+v", st.Conditions)
	}
}

// TestRolloutPauseHoldsEveryOtherVersion: a host paused by its fleet
// file's rollout.pauseOnFailure starts no update to another version (a
// newer latest included) and says why; a rollback someone asked for still
// goes through, and a failure from before the host read the file pauses
// nothing.
func TestRolloutPauseHoldsEveryOtherVersion(t *testing.T) {
	paused := func(failedAt time.Time) Observation {
		o := running()
		o.Desired = spec.New(spec.Latest)
		o.Target = status.Revision{Version: "v1.2.1", Commit: commitB}
		o.Status.Fleet = &status.FleetStatus{Document: &status.FleetDocument{Commit: strings.Repeat("c", 40),
			Path: "fleet/desired.yaml", Blob: strings.Repeat("b", 40), Version: spec.Latest, PauseOnFailure: true, ReadAt: t0.Add(-time.Hour)}}
		o.Status.FailedVersions = []status.FailedVersion{{Version: "v1.2.0", Step: "health", Reason: ReasonHealthCheckFailed, FailedAt: failedAt}}
		return o
	}
	o := paused(t0.Add(-time.Minute))
	d := decide(o)
	w, ok := AsWait(d.Err)
	if d.State != StateRolloutPaused || d.Action != actWait || !ok {
		t.Fatalf("decide = %s/%s %v, want RolloutPaused/Wait", d.State, d.Action, d.Err)
	}
	for _, s := range []string{"v1.2.1", "v1.2.0 failed", "fleet/desired.yaml", "cccccccccccc", "pauseOnFailure", "until the fleet file changes"} {
		if !strings.Contains(w.Error(), s) {
			t.Errorf("%q does not say %q", w.Error(), s)
		}
	}
	if rec := w.record(); rec.Reason != ReasonRolloutPaused || rec.Until != nil || rec.Version != "v1.2.1" {
		t.Errorf("status.policy = %+v", rec)
	}
	if w.requeueAfter(o.Now) != 0 {
		t.Error("a pause has no end time, yet it asks to come back at one")
	}

	rollback := paused(t0.Add(-time.Minute))
	rollback.Desired.Metadata.Annotations = map[string]string{spec.RollbackAnnotation: "2026-11-30T11:59:00Z"}
	if d := decide(rollback); d.State == StateRolloutPaused {
		t.Error("a rollback someone asked for was paused")
	}
	if d := decide(paused(t0.Add(-2 * time.Hour))); d.State != StateUpdatePending {
		t.Errorf("a failure from before the fleet file was read: %s, want UpdatePending", d.State)
	}
	off := paused(t0.Add(-time.Minute))
	off.Status.Fleet.Document.PauseOnFailure = false
	if d := decide(off); d.State != StateUpdatePending {
		t.Errorf("without pauseOnFailure: %s, want UpdatePending", d.State)
	}
}
