package status

import "time"

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
