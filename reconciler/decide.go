package reconciler

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/better-paas/updater/status"
)

// State names what the host is, as decide sees it. Each state has exactly
// one action (actions below); README's diagram shows the same table.
type State string

// States, in the order decide tests for them.
const (
	// StateNotGitCheckout: installDir is not a git checkout; nothing to do
	// until the administrator fixes updater.yaml or the install.
	StateNotGitCheckout State = "NotGitCheckout"
	// StateUpdateInFlight: status.yaml journals an operation; resume it.
	StateUpdateInFlight State = "UpdateInFlight"
	// StateRestoreRequested: `backups restore` asked the daemon for a
	// restore, which comes before anything else between operations.
	StateRestoreRequested State = "RestoreRequested"
	// StateDesiredMissing and StateInvalidSpec: desired.yaml cannot be
	// used; the host stays as it is.
	StateDesiredMissing State = "DesiredMissing"
	StateInvalidSpec    State = "InvalidSpec"
	// StateHostUnreadable: HEAD, the binary or the service could not be
	// read; try again later.
	StateHostUnreadable State = "HostUnreadable"
	// StateTargetUnresolved: spec.version did not resolve to a release
	// this host may install (source down, no such tag, a moved tag, a
	// refused downgrade); the reason says which.
	StateTargetUnresolved State = "TargetUnresolved"
	// StateInSync: the target runs, healthy. Nothing to do.
	StateInSync State = "InSync"
	// StateRollbackFailed: the last rollback failed under this spec
	// generation; a human must look, nothing is tried.
	StateRollbackFailed State = "RollbackFailed"
	// StateVersionFailed: the target failed here under this generation
	// and this updater.yaml; it is not tried again.
	StateVersionFailed State = "VersionFailed"
	// StateServiceDown and StateUnhealthy: the target is installed but its
	// process is gone, or it does not answer healthy; start and check it.
	StateServiceDown State = "ServiceDown"
	StateUnhealthy   State = "Unhealthy"
	// StateNothingInstalled: no backend binary yet; the update installs.
	StateNothingInstalled State = "NothingInstalled"
	// StateUpdatePending: another version is wanted; update to it.
	StateUpdatePending State = "UpdatePending"
	// The waiting states: a policy of desired.yaml holds an update back
	// until a known time (policy.go). StateHeld: spec.hold lasts.
	// StateWindowClosed: spec.windows are all closed. They gate only the
	// start of an update (NothingInstalled, UpdatePending), tested in
	// this order once every other state is ruled out.
	StateHeld         State = "Held"
	StateWindowClosed State = "WindowClosed"
	// StateRolloutPaused: an update failed here under a fleet file with
	// rollout.pauseOnFailure (status.fleet.paused); no other version is
	// started until the fleet file changes. Tested before the others.
	StateRolloutPaused State = "RolloutPaused"
	// StateSoakPending: latest skipped a release younger than
	// spec.minReleaseAge, and the host already serves the newest release
	// old enough (or none is): nothing to do until the young one is old
	// enough. An older eligible release above the running one is not a
	// wait: it is UpdatePending.
	StateSoakPending State = "SoakPending"
)

// action is what act does for a state.
type action int

const (
	// actResume runs the journaled operation to its end.
	actResume action = iota
	// actRestore carries out the requested restore, then observes again.
	actRestore
	// actSettle writes the refusal: a terminal reason stalls, another is
	// retried with backoff; the last good version is kept running.
	actSettle
	// actHold changes nothing and waits for desired.yaml to change.
	actHold
	// actMarkReady records the running target as the last known good one.
	actMarkReady
	// actRepair starts the installed target and waits until it is healthy.
	actRepair
	// actUpdate checks the host once more (local changes, files in the
	// way, space) and runs an update.
	actUpdate
	// actWait installs nothing, keeps the last good version running,
	// records the policy's wait and comes back when it ends.
	actWait
)

func (a action) String() string {
	return [...]string{"Resume", "Restore", "Settle", "Hold", "MarkReady", "Repair", "Update", "Wait"}[a]
}

// actions is the state -> action table: one row per state, nothing else
// decides what happens.
var actions = map[State]action{
	StateNotGitCheckout:   actSettle,
	StateUpdateInFlight:   actResume,
	StateRestoreRequested: actRestore,
	StateDesiredMissing:   actSettle,
	StateInvalidSpec:      actSettle,
	StateHostUnreadable:   actSettle,
	StateTargetUnresolved: actSettle,
	StateInSync:           actMarkReady,
	StateRollbackFailed:   actHold,
	StateVersionFailed:    actSettle,
	StateServiceDown:      actRepair,
	StateUnhealthy:        actRepair,
	StateNothingInstalled: actUpdate,
	StateUpdatePending:    actUpdate,
	StateHeld:             actWait,
	StateWindowClosed:     actWait,
	StateRolloutPaused:    actWait,
	StateSoakPending:      actWait,
}

// Decision is what decide made of an Observation.
type Decision struct {
	State  State
	Action action
	// Err is the refusal to record, for actSettle: a *Failure whose
	// reason says whether it stalls or is retried; for actWait, the
	// *WaitError that says which policy waits and until when.
	Err error
}

// decide maps an observation to the host's state and the action for it.
// It is a pure function: no I/O, no clock (the time is o.Now), no writes; the table tests in
// decide_test.go cover every state in milliseconds.
func decide(o Observation) Decision {
	state, err := classify(o)
	return Decision{State: state, Action: actions[state], Err: err}
}

// classify is the if-chain behind decide, each test in the order that
// matters: what cannot be read first, then the journal, then desired.yaml,
// the host and the target.
func classify(o Observation) (State, error) {
	st := o.Status
	switch {
	case o.RepoErr != nil:
		return StateNotGitCheckout, failure(ReasonNotGitCheckout, fmt.Errorf("installDir %s: %w", o.InstallDir, o.RepoErr))
	case st.Operation != nil:
		return StateUpdateInFlight, nil
	case o.RestoreRequested():
		return StateRestoreRequested, nil
	case errors.Is(o.DesiredErr, fs.ErrNotExist):
		return StateDesiredMissing, failure(ReasonDesiredMissing, fmt.Errorf(
			"%s does not exist: run `better-paas-updater set VERSION` or write it (spec.version: a tag or latest)", o.DesiredFile))
	case o.DesiredErr != nil:
		// The last valid spec is kept: the host stays on what it runs.
		return StateInvalidSpec, failure(ReasonInvalidSpec, o.DesiredErr)
	case o.HostErr != nil:
		return StateHostUnreadable, o.HostErr
	case o.TargetErr != nil:
		if w, ok := AsWait(o.TargetErr); ok {
			return StateSoakPending, w // no release is old enough, and none runs
		}
		return StateTargetUnresolved, o.TargetErr
	case o.Host.serving(o.Target):
		if o.Soak != nil {
			return StateSoakPending, o.Soak
		}
		return StateInSync, nil
	}
	if c := st.Get(status.TypeStalled); c != nil && c.Reason == ReasonRollbackFailed && c.ObservedGeneration == o.Generation {
		return StateRollbackFailed, nil // the message already says why
	}
	if f, ok := st.Failure(o.Target.Version); ok && f.Generation == o.Generation && holdsBack(f, o.ConfigDigest) {
		return StateVersionFailed, failure(ReasonVersionFailed, fmt.Errorf(
			"%s failed at step %s (%s) and was rolled back to %s; it is not retried until desired.yaml changes or you run `better-paas-updater retry`: %s",
			f.Version, f.Step, f.Reason, orNothing(o.CurrentVersion), f.Message))
	}
	if lkg := st.LastKnownGood; lkg != nil && o.Host.head == o.Target.Commit &&
		*lkg == (status.Revision{Version: o.Target.Version, Commit: o.Host.head, BinarySHA256: o.Host.binarySHA}) {
		if !o.Host.running {
			return StateServiceDown, nil
		}
		return StateUnhealthy, nil
	}
	if w := gate(o); w != nil {
		switch w.Reason {
		case ReasonRolloutPaused:
			return StateRolloutPaused, w
		case ReasonHeld:
			return StateHeld, w
		}
		return StateWindowClosed, w
	}
	if o.Host.binarySHA == "" {
		return StateNothingInstalled, nil
	}
	return StateUpdatePending, nil
}
