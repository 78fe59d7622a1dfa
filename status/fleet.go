package status

import (
	"fmt"
	"time"
)

// FleetResult is how one sync of the fleet repo (desiredFrom.git in
// updater.yaml) ended.
type FleetResult string

// Results of a fleet sync.
const (
	// FleetApplied: the fleet document for this host differed from
	// desired.yaml, and desired.yaml was replaced with it.
	FleetApplied FleetResult = "Applied"
	// FleetUnchanged: desired.yaml already asks for what the fleet
	// document does; nothing was written.
	FleetUnchanged FleetResult = "Unchanged"
	// FleetOutsideWave: the fleet document's rollout does not include
	// this host yet; desired.yaml was left as it was.
	FleetOutsideWave FleetResult = "OutsideWave"
	// FleetRefused: the repo could not be fetched, or what it holds was
	// refused (no path, an invalid file, an unsigned or untrusted
	// commit); desired.yaml was left as it was. Reason says which.
	FleetRefused FleetResult = "Refused"
	// FleetFailed: the fleet document was accepted but this host could
	// not write desired.yaml or its own clone; retried at the next sync.
	FleetFailed FleetResult = "Failed"
	// FleetPaused: the host is paused (FleetStatus.Paused): an update
	// failed here under a fleet file with rollout.pauseOnFailure, and
	// that file has not changed since; desired.yaml was left as it was.
	FleetPaused FleetResult = "Paused"
)

// FleetStatus is the last sync of the fleet repo: what it looked at, and
// what it did.
type FleetStatus struct {
	// Repo is desiredFrom.git.url without credentials; Branch the branch.
	Repo   string `json:"repo"`
	Branch string `json:"branch"`
	// Commit is the fleet commit this sync looked at; "" when it could
	// not fetch one.
	Commit string `json:"commit,omitempty"`
	// Path is the file of the fleet repo chosen for this host (the first
	// path template that exists in Commit); "" when none.
	Path string `json:"path,omitempty"`
	// Cohort is this host's place in every rollout, 0..99: it moves when
	// Cohort < rollout.percent, or when it is a canary.
	Cohort int `json:"cohort"`
	// Result is how the sync ended; Reason a CamelCase word for scripts
	// (Unreachable, BranchMissing, Unsigned, UntrustedSignature,
	// PathMissing, InvalidFile, WriteFailed, ...); Message says it for
	// people, naming the repo, commit and path.
	Result  FleetResult `json:"result"`
	Reason  string      `json:"reason,omitempty"`
	Message string      `json:"message,omitempty"`
	// SyncedAt is when the sync ended.
	SyncedAt time.Time `json:"syncedAt"`
	// Applied is the last fleet document written to desired.yaml; nil
	// until one was. It survives later refusals, so it always says what
	// the host's desired.yaml came from.
	Applied *FleetWrite `json:"applied,omitempty"`
	// Document is the fleet file this host last read and accepted; nil
	// until one was. Like Applied, it survives later refusals.
	Document *FleetDocument `json:"document,omitempty"`
	// Paused is set while this host is paused by its fleet file's
	// rollout.pauseOnFailure (see VersionStatus.RolloutPause): it is kept
	// up to date by every writer of status.yaml.
	Paused *FleetPause `json:"paused,omitempty"`
}

// FleetDocument is a fleet file as one host read it.
type FleetDocument struct {
	// Commit and Path say where this host first read the file; Blob is
	// the file's git object id, the same in every later commit that
	// leaves the file as it is.
	Commit string `json:"commit"`
	Path   string `json:"path"`
	Blob   string `json:"blob"`
	// Version is the file's spec.version (a tag, or latest).
	Version string `json:"version"`
	// PauseOnFailure is the file's rollout.pauseOnFailure.
	PauseOnFailure bool `json:"pauseOnFailure,omitempty"`
	// ReadAt is when this host first read this blob: failures recorded
	// since happened while following it.
	ReadAt time.Time `json:"readAt"`
}

// FleetPause says why a host stopped following its fleet file: an update
// failed here (and was rolled back) under a file with
// rollout.pauseOnFailure. The host stays on the version it runs, takes no
// other from the fleet or from latest, and writes nothing anywhere but its
// own status; metrics and the API show the pause, so a PromQL alert can
// stop the wave. It ends when the fleet file for this host changes (a new
// blob): people looked and decided.
type FleetPause struct {
	// Version is the release that failed; FailedAt when.
	Version  string    `json:"version"`
	FailedAt time.Time `json:"failedAt"`
	// Message says what failed, which file paused the host, and how to
	// resume it.
	Message string `json:"message"`
}

// RolloutPause returns the pause the fleet block and the failed versions
// call for (PauseFor), nil when none.
func (s *VersionStatus) RolloutPause() *FleetPause {
	if s == nil || s.Fleet == nil {
		return nil
	}
	return PauseFor(s.Fleet.Document, s.FailedVersions)
}

// PauseFor returns the pause a host is in when it follows the fleet file d
// and has the failed versions failed, nil when none: d has
// rollout.pauseOnFailure, and an update failed here since the host first
// read d (the most recent such failure is named).
func PauseFor(d *FleetDocument, failed []FailedVersion) *FleetPause {
	if d == nil || !d.PauseOnFailure {
		return nil
	}
	var last *FailedVersion
	for i := range failed {
		f := &failed[i]
		if !f.FailedAt.Before(d.ReadAt) && (last == nil || f.FailedAt.After(last.FailedAt)) {
			last = f
		}
	}
	if last == nil {
		return nil
	}
	return &FleetPause{Version: last.Version, FailedAt: last.FailedAt, Message: fmt.Sprintf(
		"%s failed on this host at %s (%s at step %s) while following %s at %s, whose rollout.pauseOnFailure pauses the host: it stays on the version it runs and takes no other until the fleet file changes",
		last.Version, last.FailedAt.UTC().Format(time.RFC3339), last.Reason, last.Step, d.Path, shortID(d.Commit))}
}

// shortID is a git object id as messages show it.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// FleetWrite is a fleet document written to desired.yaml.
type FleetWrite struct {
	Commit string `json:"commit"`
	Path   string `json:"path"`
	// Version is the spec.version written.
	Version string `json:"version"`
	// Generation is desired.yaml's generation once written (see
	// internal/desired), to match against the reconciler's.
	Generation string    `json:"generation"`
	At         time.Time `json:"at"`
}
