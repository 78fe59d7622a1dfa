package reconciler

import (
	"context"
	"time"

	"github.com/better-paas/updater/status"
)

// Request is what one update works on. It is rebuilt from the journal after
// a restart, so it holds only what status.yaml records.
type Request struct {
	// ID names the operation; the backup of data/ is stored under it.
	ID string
	// From is the revision that ran before the update ("" Version when
	// nothing was installed); To is the release being installed.
	From, To status.Revision
	// ProtectBackups are backups retention must keep besides the newest:
	// the backup of the last known good version's data.
	ProtectBackups []string
	// SucceededBackups and FailedBackups are the IDs of the backups of
	// earlier updates that succeeded and that did not (status.yaml
	// history); retention prunes failed attempts' backups first.
	SucceededBackups, FailedBackups []string
}

// Step is one idempotent action of an update. Do may run more than once
// for the same Request (a daemon restarted mid-step runs it again), so it
// must converge to the same result. A Do that fails cleans up its own
// partial work before returning.
type Step interface {
	Name() string
	Do(ctx context.Context, req *Request) error
}

// Undoer is implemented by steps whose effect must be reversed when a
// later step fails. Undo runs only after Do completed, in reverse order of
// the steps, and must itself be idempotent. It must not start another
// rollback: an Undo error stalls the update with reason RollbackFailed.
type Undoer interface {
	Undo(ctx context.Context, req *Request) error
}

// Checker is implemented by steps that can tell cheaply that their effect
// is already in place; the runner then skips Do.
type Checker interface {
	Done(ctx context.Context, req *Request) (bool, error)
}

// Timeouter is implemented by steps with their own time limit; others get
// DefaultStepTimeout.
type Timeouter interface {
	Timeout() time.Duration
}

// DefaultStepTimeout bounds a step that does not say otherwise.
const DefaultStepTimeout = 5 * time.Minute
