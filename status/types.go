package status

import (
	"time"

	"github.com/better-paas/updater/internal/apiversion"
)

// APIVersion and Kind identify a status.yaml document.
const (
	APIVersion = apiversion.V1
	Kind       = "VersionStatus"
)

// Bounds on the lists status.yaml keeps, so it never grows without limit.
const (
	MaxHistory        = 20
	MaxFailedVersions = 50
)

// VersionStatus is the content of status.yaml.
type VersionStatus struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`

	// ObservedGeneration counts the distinct specs the daemon has acted on:
	// it increases each time desired.yaml's content (ObservedSpecDigest)
	// changes. A failure recorded under one generation blocks a retry of the
	// same version only while the generation is unchanged.
	ObservedGeneration int64  `json:"observedGeneration"`
	ObservedSpecDigest string `json:"observedSpecDigest,omitempty"`
	// DesiredVersion is spec.version as written; TargetVersion is what it
	// resolved to (they differ for "latest").
	DesiredVersion string `json:"desiredVersion,omitempty"`
	TargetVersion  string `json:"targetVersion,omitempty"`

	CurrentVersion string    `json:"currentVersion,omitempty"`
	CurrentCommit  string    `json:"currentCommit,omitempty"`
	LastKnownGood  *Revision `json:"lastKnownGood,omitempty"`
	// PreviousGood is the last known good version before LastKnownGood
	// (set by SetLastKnownGood when the version changes): what a requested
	// rollback goes back to once the running version is the good one.
	PreviousGood *Revision `json:"previousGood,omitempty"`
	// ServiceRestarts counts the times the daemon started the app again
	// after finding it stopped outside an update (a crash, a kill), as
	// systemd counts NRestarts; LastServiceRestart is the latest.
	ServiceRestarts    int64      `json:"serviceRestarts,omitempty"`
	LastServiceRestart *time.Time `json:"lastServiceRestart,omitempty"`

	// Operation is the update in flight, journaled before each step runs.
	// Nil when idle.
	Operation *Operation `json:"operation,omitempty"`

	// LastRetry is the retry-at stamp (spec.RetryAnnotation) of the last
	// retry acted on, so one `better-paas-updater retry` is one more try.
	LastRetry string `json:"lastRetry,omitempty"`

	// KnownTags records the commit each release tag pointed to when the
	// daemon first used it; a tag that later points elsewhere is refused.
	KnownTags map[string]string `json:"knownTags,omitempty"`

	// Restore is the last restore of a backup that the daemon carried out
	// when `backups restore` asked it to; nil when none was asked.
	Restore *RestoreRecord `json:"restore,omitempty"`

	// Policy is the policy of desired.yaml (spec.hold, spec.windows,
	// spec.minReleaseAge) that holds an update back now; nil when none
	// does. The Ready condition carries the same reason.
	Policy *PolicyHold `json:"policy,omitempty"`

	Conditions     []Condition     `json:"conditions,omitempty"`
	History        []HistoryEntry  `json:"history,omitempty"`
	FailedVersions []FailedVersion `json:"failedVersions,omitempty"`

	// Updater is the daemon's own version and self-update (selfUpdate in
	// updater.yaml); nil until self-update first ran.
	Updater *UpdaterStatus `json:"updater,omitempty"`
	Fleet   *FleetStatus   `json:"fleet,omitempty"` // the last sync from the fleet repo (desiredFrom.git); nil without one
}

// PolicyHold is a policy of desired.yaml holding an update back: not a
// failure, a wait with an end.
type PolicyHold struct {
	// Reason is Held (spec.hold), WindowClosed (spec.windows) or
	// SoakPending (spec.minReleaseAge).
	Reason string `json:"reason"`
	// Message says what is held back, why and until when, for people.
	Message string `json:"message,omitempty"`
	// Version is the release held back.
	Version string `json:"version,omitempty"`
	// Until is when the policy lets the update through: the hold's end,
	// the next opening of a window, the time the release is old enough.
	// Nil when it will not (a window whose schedule never fires again).
	Until *time.Time `json:"until,omitempty"`
}

// Revision identifies an installed build: a release and the artefacts built
// from it.
type Revision struct {
	Version      string `json:"version,omitempty"`
	Commit       string `json:"commit,omitempty"`
	BinarySHA256 string `json:"binarySHA256,omitempty"`
	// FrontendSHA256 is a digest of the built frontend folder: the sorted
	// relative paths, modes and contents of what is beneath it. Empty when
	// there was none or it was not recorded; the frontend is then not
	// checked.
	FrontendSHA256 string `json:"frontendSHA256,omitempty"`
}

// Phase says whether an operation is moving forward or undoing.
type Phase string

// Phases of an operation.
const (
	PhaseDo   Phase = "Do"
	PhaseUndo Phase = "Undo"
)

// Operation is the journal of one update.
type Operation struct {
	ID   string        `json:"id"`
	Kind OperationKind `json:"kind,omitempty"`
	From Revision      `json:"from"`
	To   Revision      `json:"to"`
	// Step is the step about to run (or running) in Phase.
	Step  string `json:"step"`
	Phase Phase  `json:"phase"`
	// Attempt counts how often Step has been started in this phase; a
	// restarted daemon increments it, and past a limit the operation stalls.
	Attempt int `json:"attempt"`
	// Done lists the steps whose Do completed, in order; undo walks it backwards.
	Done []string `json:"done,omitempty"`
	// HookRetries counts how often a hook's exit code 21 ("retry later")
	// has held this operation; each hold keeps Done and leaves Step as it
	// is, and past updater.yaml's hooks.maxRetries the hook fails.
	HookRetries int `json:"hookRetries,omitempty"`
	// Failure is why the operation is undoing (empty while going forward).
	Failure   *StepFailure `json:"failure,omitempty"`
	StartedAt time.Time    `json:"startedAt"`
}

// OperationKind says why an operation ran.
type OperationKind string

// Kinds of operation.
const (
	// KindUpdate is an operation desired.yaml asked for by naming a
	// version; it is the default and is not written.
	KindUpdate OperationKind = ""
	// KindRollback is a rollback someone asked for (POST /api/v1/rollback,
	// which writes spec.RollbackAnnotation): an update back to the
	// previous good version, not one the updater did on its own after a
	// failure (that is Result RolledBack).
	KindRollback OperationKind = "Rollback"
)

// StepFailure records the step that failed and why.
type StepFailure struct {
	Step    string `json:"step"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Result is how an operation ended.
type Result string

// Results of an operation.
const (
	ResultSucceeded      Result = "Succeeded"
	ResultRolledBack     Result = "RolledBack"
	ResultRollbackFailed Result = "RollbackFailed"
)

// HistoryEntry is one finished operation, newest first in History.
type HistoryEntry struct {
	ID         string        `json:"id"`
	Kind       OperationKind `json:"kind,omitempty"`
	From       string        `json:"from,omitempty"`
	To         string        `json:"to"`
	Result     Result        `json:"result"`
	FailedStep string        `json:"failedStep,omitempty"`
	Message    string        `json:"message,omitempty"`
	StartedAt  time.Time     `json:"startedAt"`
	FinishedAt time.Time     `json:"finishedAt"`
}

// RestorePhase is where a requested restore is.
type RestorePhase string

// Phases of a requested restore.
const (
	RestoreRunning   RestorePhase = "Running"
	RestoreSucceeded RestorePhase = "Succeeded"
	RestoreFailed    RestorePhase = "Failed"
)

// RestoreRecord is a restore of a backup of data/ that `backups restore`
// asked the running daemon for, and how it went.
type RestoreRecord struct {
	// RequestID is the id the asking command chose, so it can tell its
	// own answer from an older one.
	RequestID string       `json:"requestID"`
	Backup    string       `json:"backup"`
	Phase     RestorePhase `json:"phase"`
	// Message says why it failed, or where the replaced data was kept.
	Message string `json:"message,omitempty"`
	// ReplacedKeptAt is the folder the data that was replaced was moved to.
	ReplacedKeptAt string     `json:"replacedKeptAt,omitempty"`
	StartedAt      time.Time  `json:"startedAt"`
	FinishedAt     *time.Time `json:"finishedAt,omitempty"`
}

// FailedVersion is a release that was installed, failed and was rolled back.
type FailedVersion struct {
	Version  string    `json:"version"`
	Commit   string    `json:"commit,omitempty"`
	Step     string    `json:"step"`
	Reason   string    `json:"reason"`
	Message  string    `json:"message,omitempty"`
	FailedAt time.Time `json:"failedAt"`
	// Generation is the ObservedGeneration the failure happened under.
	Generation int64 `json:"generation"`
	// ConfigDigest is the digest of updater.yaml when it failed: a failure
	// may be the host's (a build environment, a missing setting), so a
	// changed updater.yaml lifts it. Empty in records of older updaters.
	ConfigDigest string `json:"configDigest,omitempty"`
}

// MaxFailedSelfUpdates bounds UpdaterStatus.FailedVersions.
const MaxFailedSelfUpdates = 20

// UpdaterStatus is what the daemon records of itself: the version running,
// the one it replaced, and how its last self-update went.
type UpdaterStatus struct {
	// Version is the updater running now; PreviousVersion the one it
	// replaced (kept as <binary>.bak).
	Version         string `json:"version,omitempty"`
	PreviousVersion string `json:"previousVersion,omitempty"`
	// LastCheck is when the updater's releases were last listed.
	LastCheck *time.Time `json:"lastCheck,omitempty"`
	// LastSelfUpdate is the latest self-update attempt; nil before the first.
	LastSelfUpdate *SelfUpdateRecord `json:"lastSelfUpdate,omitempty"`
	// FailedVersions are releases of the updater that failed here, newest
	// first, at most MaxFailedSelfUpdates: none is tried again.
	FailedVersions []FailedSelfUpdate `json:"failedVersions,omitempty"`
}

// SelfUpdateResult is how a self-update ended.
type SelfUpdateResult string

// Results of a self-update.
const (
	// SelfUpdateSucceeded: the new updater came up, reconciled once and
	// now runs as the binary.
	SelfUpdateSucceeded SelfUpdateResult = "Succeeded"
	// SelfUpdateFailed: the new updater was refused before it ran as the
	// daemon (download, signature, checksum, version or trial run); the
	// binary was never touched.
	SelfUpdateFailed SelfUpdateResult = "Failed"
	// SelfUpdateRolledBack: the new updater ran as the daemon but did not
	// reconcile once, or exited before it did; the old one runs again.
	SelfUpdateRolledBack SelfUpdateResult = "RolledBack"
)

// SelfUpdateRecord is one self-update attempt.
type SelfUpdateRecord struct {
	From   string           `json:"from"`
	To     string           `json:"to"`
	Result SelfUpdateResult `json:"result"`
	// Reason is a CamelCase word for scripts (TrialFailed, ...); Message
	// says why for people.
	Reason  string    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	Time    time.Time `json:"time"`
}

// FailedSelfUpdate is a release of the updater that failed here.
type FailedSelfUpdate struct {
	Version  string    `json:"version"`
	Reason   string    `json:"reason"`
	Message  string    `json:"message,omitempty"`
	FailedAt time.Time `json:"failedAt"`
}

// RecordSelfUpdate records r as the last self-update and, unless it
// succeeded, r.To as a failed version (replacing an older record of it,
// dropping the oldest past MaxFailedSelfUpdates). A success sets Version
// to r.To and PreviousVersion to r.From.
func (s *VersionStatus) RecordSelfUpdate(r SelfUpdateRecord) {
	if s.Updater == nil {
		s.Updater = &UpdaterStatus{}
	}
	u := s.Updater
	u.LastSelfUpdate = &r
	if r.Result == SelfUpdateSucceeded {
		u.Version, u.PreviousVersion = r.To, r.From
		return
	}
	kept := []FailedSelfUpdate{{Version: r.To, Reason: r.Reason, Message: r.Message, FailedAt: r.Time}}
	for _, f := range u.FailedVersions {
		if f.Version != r.To {
			kept = append(kept, f)
		}
	}
	if len(kept) > MaxFailedSelfUpdates {
		kept = kept[:MaxFailedSelfUpdates]
	}
	u.FailedVersions = kept
}

// SelfUpdateFailed reports whether the updater release version failed here.
func (s *VersionStatus) SelfUpdateFailed(version string) bool {
	if s.Updater == nil {
		return false
	}
	for _, f := range s.Updater.FailedVersions {
		if f.Version == version {
			return true
		}
	}
	return false
}

// New returns an empty status document.
func New() *VersionStatus {
	return &VersionStatus{APIVersion: APIVersion, Kind: Kind}
}

// SetLastKnownGood records rev as the last known good version; the one it
// replaces becomes PreviousGood when its version differs (a second healthy
// start of the same version keeps PreviousGood as it was).
func (s *VersionStatus) SetLastKnownGood(rev Revision) {
	if old := s.LastKnownGood; old != nil && old.Version != "" && old.Version != rev.Version {
		prev := *old
		s.PreviousGood = &prev
	}
	s.LastKnownGood = &rev
}

// AddHistory prepends e and drops the oldest entries past MaxHistory.
func (s *VersionStatus) AddHistory(e HistoryEntry) {
	s.History = append([]HistoryEntry{e}, s.History...)
	if len(s.History) > MaxHistory {
		s.History = s.History[:MaxHistory]
	}
}

// RecordFailure remembers that f.Version failed, replacing an older record
// of the same version and dropping the oldest past MaxFailedVersions.
func (s *VersionStatus) RecordFailure(f FailedVersion) {
	kept := []FailedVersion{f}
	for _, old := range s.FailedVersions {
		if old.Version != f.Version {
			kept = append(kept, old)
		}
	}
	if len(kept) > MaxFailedVersions {
		kept = kept[:MaxFailedVersions]
	}
	s.FailedVersions = kept
}

// ClearFailure forgets that version failed: it has since been installed
// and passed its health check.
func (s *VersionStatus) ClearFailure(version string) {
	kept := s.FailedVersions[:0]
	for _, f := range s.FailedVersions {
		if f.Version != version {
			kept = append(kept, f)
		}
	}
	if len(kept) == 0 {
		kept = nil
	}
	s.FailedVersions = kept
}

// Failure returns the record of version's last failure, if any.
func (s *VersionStatus) Failure(version string) (FailedVersion, bool) {
	for _, f := range s.FailedVersions {
		if f.Version == version {
			return f, true
		}
	}
	return FailedVersion{}, false
}
