package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// The policy of desired.yaml (spec.hold, spec.windows, spec.minReleaseAge)
// decides when an update to another version may start. It gates nothing
// else: an operation in flight finishes (StateUpdateInFlight comes first),
// the running version is still started and repaired (StateServiceDown,
// StateUnhealthy come before), a failed update is still rolled back (that
// is part of its operation), and a rollback someone asked for
// (spec.RollbackAnnotation) is not held. Every time is o.Now, read once by
// observe from Options.Now, so tests move the clock instead of sleeping.
// Messages name absolute times only, so a wait that goes on writes the
// same status.yaml at every resync.

// WaitError is a policy of desired.yaml holding an update back: waiting,
// not failing. decide returns it as Decision.Err of the waiting states
// (StateHeld, StateWindowClosed, StateSoakPending); nothing is retried
// before Until, when the policy lets the update through.
type WaitError struct {
	// Reason is ReasonHeld, ReasonWindowClosed or ReasonSoakPending.
	Reason string
	// Version is the release held back.
	Version string
	// Until is when the policy lets it through; zero when it will not
	// (no window opens again).
	Until time.Time
	// Msg says what is held back, by which field, until when, and how to
	// let it through sooner.
	Msg string
}

func (e *WaitError) Error() string { return e.Msg }

// record returns the wait as status.yaml's policy field.
func (e *WaitError) record() *status.PolicyHold {
	p := &status.PolicyHold{Reason: e.Reason, Message: e.Msg, Version: e.Version}
	if !e.Until.IsZero() {
		u := e.Until.UTC()
		p.Until = &u
	}
	return p
}

// requeueAfter is how long until w lets the update through; 0 (the next
// resync) when it never does by itself.
func (e *WaitError) requeueAfter(now time.Time) time.Duration {
	if e.Until.IsZero() {
		return 0
	}
	return max(e.Until.Sub(now), time.Second)
}

// AsWait returns the policy wait err carries, if any.
func AsWait(err error) (*WaitError, bool) {
	var w *WaitError
	ok := errors.As(err, &w)
	return w, ok
}

// gate returns the policy that holds back the update decide is about to
// start (to o.Target), nil when none does: first a fleet rollout's pause
// (status.fleet.paused), then spec.hold, then spec.windows.
func gate(o Observation) *WaitError {
	sp := o.Desired.Spec
	if operationKind(o.Desired) == status.KindRollback {
		return nil // asked for to undo a bad version: never held
	}
	target := o.Target.Version
	if p := o.Status.RolloutPause(); p != nil {
		// No end time: it ends when the fleet file changes, which the
		// sync writes into status.yaml and desired.yaml, waking the loop.
		return &WaitError{Reason: ReasonRolloutPaused, Version: target, Msg: fmt.Sprintf(
			"the update to %s is paused: %s",
			target, p.Message)}
	}
	if h := sp.Hold; h != nil && o.Now.Before(h.Until) {
		why := ""
		if h.Reason != "" {
			why = " (" + h.Reason + ")"
		}
		return &WaitError{Reason: ReasonHeld, Version: target, Until: h.Until, Msg: fmt.Sprintf(
			"spec.hold holds the update to %s back until %s%s; the host stays on %s. Remove spec.hold from %s to update sooner",
			target, stamp(h.Until), why, orNothing(o.CurrentVersion), o.DesiredFile)}
	}
	if len(sp.Windows) == 0 {
		return nil
	}
	next, open := nextWindow(sp.Windows, o.Now)
	if open {
		return nil
	}
	w := &WaitError{Reason: ReasonWindowClosed, Version: target, Until: next}
	if next.IsZero() {
		w.Msg = fmt.Sprintf("the update to %s waits for a maintenance window (spec.windows), but none opens again; the host stays on %s. Fix spec.windows in %s",
			target, orNothing(o.CurrentVersion), o.DesiredFile)
		return w
	}
	w.Msg = fmt.Sprintf("the update to %s waits for a maintenance window (spec.windows): the next opens at %s (%s); the host stays on %s",
		target, stamp(next), next.Format("2006-01-02 15:04 MST"), orNothing(o.CurrentVersion))
	return w
}

// nextWindow reports whether one of windows is open at now, and when
// closed, the earliest next opening, in that window's zone (zero when
// none opens again). A window that no longer parses (its zone vanished
// from the system) is left out; Validate refused the rest.
func nextWindow(windows []spec.Window, now time.Time) (next time.Time, open bool) {
	for _, w := range windows {
		isOpen, _, n, err := w.OpenAt(now)
		switch {
		case err != nil:
		case isOpen:
			return time.Time{}, true
		case !n.IsZero() && (next.IsZero() || n.Before(next)):
			next = n
		}
	}
	return next, false
}

// soakWait is the wait for the releases spec.minReleaseAge holds back
// (p.soaking the newest, p.next the first old enough): latest stays on
// the newest release old enough, current ("" when there is none to stay
// on), until p.nextAt.
func soakWait(o Observation, p latestPick, current string) *WaitError {
	age := o.Desired.Spec.MinReleaseAge.Duration
	stay := "installs nothing until then"
	if current != "" {
		stay = "stays on " + current + ", the newest release old enough"
	}
	first := ""
	if p.next != p.soaking {
		first = fmt.Sprintf(" (%s is old enough at %s)", p.soaking, stamp(p.eligibleAt))
	}
	return &WaitError{Reason: ReasonSoakPending, Version: p.soaking, Until: p.nextAt, Msg: fmt.Sprintf(
		"%s is younger than spec.minReleaseAge %s%s: latest takes %s at %s; the host %s. Pin spec.version in %s to install a release sooner",
		p.soaking, age, first, p.next, stamp(p.nextAt), stay, o.DesiredFile)}
}

// wait is the action of the waiting states: nothing newer is installed,
// the last known good version is kept running (keepRunning), and the
// reconcile comes back when the policy lets the update through. A host
// that serves its target (SoakPending: the newest release old enough) is
// recorded as the last known good version, as MarkReady does.
//
// Conditions, kstatus style: the desired version is not reached, so
// Ready is False with the wait's reason and message; neither Reconciling
// (nothing is being done) nor Stalled (it ends by itself).
func (r *Reconciler) wait(ctx context.Context, st *status.VersionStatus, o Observation, w *WaitError) (Result, error) {
	if o.Host.serving(o.Target) {
		r.markServing(st, o)
	} else {
		r.keepRunning(ctx, st, o.readHost())
	}
	if p := st.Policy; p == nil || p.Reason != w.Reason || p.Version != w.Version {
		logr.FromContextOrDiscard(ctx).Info("Update held back by policy", "reason", w.Reason, "version", w.Version, "until", stamp(w.Until))
	}
	st.Policy = w.record()
	summarizeWaiting(st, w.Reason, w.Msg, r.now())
	return Result{RequeueAfter: w.requeueAfter(r.now())}, nil
}

// summarizeWaiting writes the conditions of a waiting state, as
// summarize does for the others: Ready False with the reason, and neither
// Reconciling nor Stalled.
func summarizeWaiting(st *status.VersionStatus, reason, message string, now time.Time) {
	st.Remove(status.TypeReconciling)
	st.Remove(status.TypeStalled)
	st.Set(status.Condition{Type: status.TypeReady, Status: status.False, Reason: reason, Message: message}, now)
}

// stamp is a time as status and plan write it: RFC 3339 in UTC.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
