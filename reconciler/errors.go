package reconciler

import (
	"errors"
	"fmt"
)

// Kind says what a failure means for what happens next.
type Kind int

const (
	// Transient failures are retried with backoff: the network, a busy
	// disk, a service manager hiccup. The release itself is not blamed.
	Transient Kind = iota
	// VersionBroken failures blame the release: it does not build, or it
	// does not come up healthy. The version is recorded as failed and not
	// retried until desired.yaml changes.
	VersionBroken
	// Terminal failures stall until desired.yaml changes or a human acts:
	// an invalid spec, a tag that does not exist, local modifications, a
	// rollback that failed.
	Terminal
	// Waiting is no failure: a policy of desired.yaml holds an update
	// back until a known time (WaitError), and nothing is tried before.
	Waiting
)

func (k Kind) String() string {
	switch k {
	case Transient:
		return "Transient"
	case VersionBroken:
		return "VersionBroken"
	case Waiting:
		return "Waiting"
	default:
		return "Terminal"
	}
}

// Reasons are the machine-readable causes written to conditions, history
// and failedVersions.
const (
	ReasonUpToDate           = "UpToDate"
	ReasonProgressing        = "Progressing"
	ReasonInterrupted        = "Interrupted"
	ReasonInvalidSpec        = "InvalidSpec"
	ReasonDesiredMissing     = "DesiredVersionMissing"
	ReasonTagNotFound        = "TagNotFound"
	ReasonTagMoved           = "TagMoved"
	ReasonSourceUnavailable  = "SourceUnavailable"
	ReasonLocalModifications = "LocalModifications"
	ReasonUntrackedInTheWay  = "UntrackedInTheWay"
	ReasonDataTracked        = "DataTracked"
	ReasonNotGitCheckout     = "NotGitCheckout"
	ReasonBackupFailed       = "BackupFailed"
	ReasonFetchFailed        = "FetchFailed"
	ReasonCheckoutFailed     = "CheckoutFailed"
	ReasonBuildFailed        = "BuildFailed"
	ReasonSwapFailed         = "SwapFailed"
	ReasonServiceFailed      = "ServiceFailed"
	ReasonCrashedOnStart     = "CrashedOnStart"
	ReasonHealthCheckFailed  = "HealthCheckFailed"
	ReasonHookFailed         = "HookFailed"
	ReasonHookRetryLater     = "HookRetryLater"
	ReasonHookRefused        = "HookRefused"
	ReasonUnhealthy          = "Unhealthy"
	ReasonVersionFailed      = "VersionFailed"
	ReasonRollbackFailed     = "RollbackFailed"
	ReasonTooManyAttempts    = "TooManyAttempts"
	ReasonPreflightFailed    = "PreflightFailed"
	ReasonDowngradeRefused   = "DowngradeRefused"
	ReasonInvalidUpdateRepo  = "InvalidUpdateRepo"
	// artifact: prebuilt. Rejected: the release's files cannot be trusted
	// or used here (signature, checksum, digest, size, unsafe archive
	// entry, no asset for this host, a binary of another version).
	// Unavailable: they could not be downloaded (network, GitHub down).
	ReasonArtifactRejected    = "ArtifactRejected"
	ReasonArtifactUnavailable = "ArtifactUnavailable"
	// The policy of desired.yaml holding an update back (WaitError):
	// spec.hold, spec.windows, spec.minReleaseAge.
	ReasonHeld         = "Held"
	ReasonWindowClosed = "WindowClosed"
	ReasonSoakPending  = "SoakPending"
	// A fleet file's rollout.pauseOnFailure holding a host whose update
	// failed (status.fleet.paused) until the file changes.
	ReasonRolloutPaused = "RolloutPaused"
)

// policy is what a failure with a reason means for what happens next.
type policy struct {
	kind Kind
	// blamesRelease: an update that failed with this reason records its
	// target in failedVersions (it is not tried again under the same spec
	// generation and updater.yaml).
	blamesRelease bool
}

// policies is the one table of what every reason means: for a refusal
// before any step (settle: Terminal stalls, anything else is retried with
// backoff) and for an update that failed at a step (recordOutcome: a
// reason that blames the release records it and decides again, another
// Terminal one stalls, a Transient one is retried). Every reason constant
// has a row; TestEveryReasonHasAPolicy reads this file to make sure.
var policies = map[string]policy{
	// Not failures: they name states.
	ReasonUpToDate:    {kind: Transient},
	ReasonProgressing: {kind: Transient},
	ReasonInterrupted: {kind: Transient},
	// The release itself.
	ReasonBuildFailed:       {kind: VersionBroken, blamesRelease: true},
	ReasonHealthCheckFailed: {kind: VersionBroken, blamesRelease: true},
	// The new version's process exited before it said it was ready (a
	// Type=notify unit): the same verdict as a failed health check.
	ReasonCrashedOnStart: {kind: VersionBroken, blamesRelease: true},
	// A prebuilt release whose files are refused: not tried again until
	// the release or updater.yaml (prebuilt.publicKey, the templates)
	// changes.
	ReasonArtifactRejected: {kind: VersionBroken, blamesRelease: true},
	ReasonTooManyAttempts:  {kind: Terminal, blamesRelease: true},
	ReasonTagMoved:         {kind: Terminal, blamesRelease: true},
	ReasonTagNotFound:      {kind: Terminal, blamesRelease: true},
	// The world around the host: retrying may fix it.
	ReasonSourceUnavailable:   {kind: Transient},
	ReasonBackupFailed:        {kind: Transient},
	ReasonFetchFailed:         {kind: Transient},
	ReasonArtifactUnavailable: {kind: Transient},
	ReasonCheckoutFailed:      {kind: Transient},
	ReasonSwapFailed:          {kind: Transient},
	ReasonServiceFailed:       {kind: Transient},
	ReasonHookFailed:          {kind: Transient},
	// Not a failure: a hook held the update (exit 21); it stays journaled
	// at its step and is retried with backoff (HeldError).
	ReasonHookRetryLater:  {kind: Transient},
	ReasonUnhealthy:       {kind: Transient},
	ReasonPreflightFailed: {kind: Transient},
	reasonUnknown:         {kind: Transient},
	// The host or its administrator must act: stall, blame nobody.
	ReasonInvalidSpec:        {kind: Terminal},
	ReasonDesiredMissing:     {kind: Terminal},
	ReasonLocalModifications: {kind: Terminal},
	ReasonUntrackedInTheWay:  {kind: Terminal},
	ReasonDataTracked:        {kind: Terminal},
	ReasonNotGitCheckout:     {kind: Terminal},
	ReasonVersionFailed:      {kind: Terminal},
	ReasonRollbackFailed:     {kind: Terminal},
	ReasonDowngradeRefused:   {kind: Terminal},
	ReasonInvalidUpdateRepo:  {kind: Terminal},
	ReasonHookRefused:        {kind: Terminal},
	// Not failures: a policy waits until a known time.
	ReasonHeld:          {kind: Waiting},
	ReasonWindowClosed:  {kind: Waiting},
	ReasonSoakPending:   {kind: Waiting},
	ReasonRolloutPaused: {kind: Waiting},
}

// policyOf returns the policy of reason; a reason without a row (which the
// tests forbid) is retried, the safe default for the unknown.
func policyOf(reason string) policy {
	if p, ok := policies[reason]; ok {
		return p
	}
	return policy{kind: Transient}
}

// KindOf returns the kind of failure a reason stands for.
func KindOf(reason string) Kind { return policyOf(reason).kind }

// ErrInterrupted is wrapped by the error Runner.Run and Reconcile return
// when the daemon is stopping (its context was cancelled: SIGTERM from
// `systemctl stop` or a reboot, SIGINT). It is neither success nor failure
// but "later", as snapd's Retry: the operation is left exactly as it was
// journaled and the next daemon resumes it, as after SIGKILL. Nothing is
// recorded against the release.
var ErrInterrupted = errors.New("interrupted: the daemon is stopping")

// HeldError is returned by Runner.Run when a hook script of the operation's
// current step exited with hooks.RetryLaterCode (21) and the operation had
// been held fewer than its limit of times: waiting, not failing. The
// operation stays journaled at Step with its completed steps (nothing is
// undone, op.HookRetries counts the hold), so the next Run resumes it at
// Step, running the step's Enter hooks again. It wraps the hook's error
// (hooks.ErrRetryLater, *hooks.ScriptError) and has reason
// ReasonHookRetryLater.
type HeldError struct {
	// Step is the step whose hook held the operation.
	Step string
	// Script is the file name of the hook that exited 21.
	Script string
	// Holds is how often the operation has been held, this hold included;
	// Max is the limit (updater.yaml's hooks.maxRetries).
	Holds, Max int
	Err        error
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("update held at step %s: hook %s asked to retry later (exit 21; hold %d of at most %d, hooks.maxRetries); the completed steps are kept and the step is retried with backoff: %v",
		e.Step, e.Script, e.Holds, e.Max, e.Err)
}

func (e *HeldError) Unwrap() error { return e.Err }

// Failure is an error with a reason. Steps return them so the reconciler
// can tell, with errors.As, what went wrong and what to do next without
// parsing text.
type Failure struct {
	Reason string
	Err    error
}

func (f *Failure) Error() string { return f.Err.Error() }
func (f *Failure) Unwrap() error { return f.Err }

// failure wraps err with reason; a nil err stays nil.
func failure(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &Failure{Reason: reason, Err: err}
}

// reasonUnknown is the reason of an error that carries none.
const reasonUnknown = "Error"

// reasonOf returns the reason of err, reasonUnknown when it carries none.
func reasonOf(err error) string {
	var h *HeldError
	if errors.As(err, &h) {
		return ReasonHookRetryLater
	}
	if w, ok := AsWait(err); ok {
		return w.Reason
	}
	var f *Failure
	if errors.As(err, &f) {
		return f.Reason
	}
	return reasonUnknown
}

// StepError is returned by Runner.Run when a step failed: Step is the step
// whose Do failed, RolledBack says whether every completed step was undone.
type StepError struct {
	Step       string
	RolledBack bool
	Err        error
	// UndoErr is the error of the undo that failed, when RolledBack is false.
	UndoErr error
	// UndoStep names the step whose undo failed.
	UndoStep string
}

func (e *StepError) Error() string {
	if e.UndoErr != nil {
		return fmt.Sprintf("%s: %v; rollback failed at %s: %v", e.Step, e.Err, e.UndoStep, e.UndoErr)
	}
	return fmt.Sprintf("%s: %v", e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }
