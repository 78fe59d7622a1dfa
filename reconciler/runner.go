package reconciler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/hooks"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/fault"
	"github.com/better-paas/updater/status"
)

// MaxAttempts is how often one step may be started for one operation
// (counting restarts of the daemon mid-step) before the update gives up
// and rolls back, so a step that crashes the daemon cannot loop forever.
const MaxAttempts = 3

// Event is what the runner reports about a step, for logs, the demo and
// the sequence tests.
type Event string

// Events, in the words of the sequence tests ("build-backend:do").
const (
	EventDo        Event = "do"
	EventSkip      Event = "skip"
	EventError     Event = "error"
	EventUndo      Event = "undo"
	EventUndoError Event = "undo-error"
	// EventHeld: a hook of the step exited 21 and the operation is held
	// at the step (HeldError); nothing is undone.
	EventHeld Event = "held"
)

// Journal persists op before the runner acts on it. An error stops the
// runner before the step runs: acting on work that is not journaled would
// break the promise that a restart resumes it.
type Journal func(ctx context.Context, op *status.Operation) error

// HookRunner runs the administrator's hook scripts around a step.
type HookRunner interface {
	Run(ctx context.Context, step string, action hooks.Action, env map[string]string) error
}

// hookChecker is a HookRunner that can say, before an update starts, what
// would stop its scripts from running (hooks.Runner.Check).
type hookChecker interface {
	Check(steps ...string) error
}

// Runner runs the steps of one operation, journaling before each, and undoes
// the completed steps in reverse when one fails.
type Runner struct {
	Steps   []Step
	Journal Journal
	Hooks   HookRunner          // optional
	OnEvent func(string, Event) // optional
	// Events, if set, is told of every step as it starts and ends, in
	// both phases, with its duration (events.TypeStep). A Do is
	// "started", then "succeeded", "skipped" (its Checker found it done)
	// or "failed"; an Undo of a step that has one is "started", then
	// "succeeded" or "failed". A step cut short by a stopping daemon is
	// not ended: it runs again when the journal is resumed.
	Events Publisher
	// ProtectBackups, SucceededBackups and FailedBackups are passed to the
	// steps in the Request's fields of those names.
	ProtectBackups, SucceededBackups, FailedBackups []string
	// MaxHookRetries bounds how often hooks may hold one operation with
	// exit 21 (op.HookRetries); the exit 21 past it fails the step like
	// any other hook failure. Zero means config.DefaultHookMaxRetries.
	MaxHookRetries int

	// failureLog is the end of the failing step's log (logTailer), read
	// when it failed and Events is set; nil when it has none.
	failureLog []string
}

// Run drives op from its journaled position to the end. op.Phase Do runs
// forward from op.Step (from the first step when empty); op.Phase Undo
// continues a rollback. It returns nil when every step's Do succeeded, and
// a *StepError otherwise: RolledBack true when all completed steps were
// undone, false (with UndoErr) when an undo failed. An Enter or Leave hook
// that exits 21 holds the operation instead, while op.HookRetries is below
// MaxHookRetries: op is journaled at the step with the hold counted (the
// attempt is not), nothing is undone, and a *HeldError is returned; the
// next Run resumes at the step. A failing Journal is
// returned as is: nothing further was done. When ctx is cancelled (the
// daemon is stopping) it returns an error wrapping ErrInterrupted and
// leaves op as last journaled, so the next Run resumes it.
func (r *Runner) Run(ctx context.Context, op *status.Operation) error {
	req := &Request{ID: op.ID, From: op.From, To: op.To, ProtectBackups: r.ProtectBackups,
		SucceededBackups: r.SucceededBackups, FailedBackups: r.FailedBackups}
	if op.Phase == status.PhaseUndo {
		var cause error = errors.New("operation was rolling back")
		if op.Failure != nil {
			cause = failure(op.Failure.Reason, errors.New(op.Failure.Message))
		}
		return r.undo(ctx, op, req, cause)
	}
	start := 0
	if op.Step != "" {
		start = r.index(op.Step)
		if start < 0 {
			return fmt.Errorf("cannot resume operation %s: unknown step %q", op.ID, op.Step)
		}
	}
	for _, s := range r.Steps[start:] {
		if slices.Contains(op.Done, s.Name()) {
			continue
		}
		if err := interrupted(ctx, op); err != nil {
			return err
		}
		if op.Step == s.Name() {
			op.Attempt++
		} else {
			op.Step, op.Attempt = s.Name(), 1
		}
		if err := r.Journal(ctx, op); err != nil {
			return err
		}
		began := time.Now()
		r.publishStep(req.ID, s.Name(), events.PhaseDo, events.StateStarted, began, nil)
		skipped, err := r.do(ctx, s, req, op.Attempt)
		if err != nil {
			// A step cut short by a stopping daemon did not fail: it runs
			// again when the next daemon resumes the journal.
			if ierr := interrupted(ctx, op); ierr != nil {
				return ierr
			}
			if errors.Is(err, hooks.ErrRetryLater) {
				held, herr := r.hold(ctx, op, s.Name(), err)
				if held != nil {
					r.publishStep(req.ID, s.Name(), events.PhaseDo, events.StateHeld, began, held)
				}
				if held != nil || herr != nil {
					return errors.Join(held, herr)
				}
				err = failure(ReasonHookFailed, fmt.Errorf("%w; the update was held %d times already, the limit set by hooks.maxRetries in updater.yaml (raise it to wait longer)",
					err, op.HookRetries))
			}
			r.event(s.Name(), EventError)
			r.publishStep(req.ID, s.Name(), events.PhaseDo, events.StateFailed, began, err)
			if t, ok := s.(logTailer); ok && r.Events != nil {
				r.failureLog = t.logTail()
			}
			op.Failure = &status.StepFailure{Step: s.Name(), Reason: reasonOf(err), Message: err.Error()}
			op.Phase = status.PhaseUndo
			// The rollback is decided: journal it before anything else, so
			// a stop from here on resumes the rollback, not the failed step.
			if jerr := r.Journal(ctx, op); jerr != nil {
				return jerr
			}
			if herr := r.hook(ctx, s.Name(), hooks.ActionError, req); herr != nil {
				logr.FromContextOrDiscard(ctx).Error(herr, "Error hook failed", "step", s.Name())
			}
			r.rollbackHook(ctx, op, req, hooks.ActionEnter)
			return r.undo(ctx, op, req, err)
		}
		end := events.StateSucceeded
		if skipped {
			end = events.StateSkipped
		}
		r.publishStep(req.ID, s.Name(), events.PhaseDo, end, began, nil)
		op.Done = append(op.Done, s.Name())
	}
	return nil
}

// hold holds op at step after a hook's exit 21 (err), when the limit
// allows: it journals op with the hold counted and returns a *HeldError
// (or the journal's error). It returns nil, nil when op has been held
// MaxHookRetries times already, so the caller fails the step.
func (r *Runner) hold(ctx context.Context, op *status.Operation, step string, err error) (held, jerr error) {
	limit := r.MaxHookRetries
	if limit <= 0 {
		limit = config.DefaultHookMaxRetries
	}
	if op.HookRetries >= limit {
		return nil, nil
	}
	op.HookRetries++
	// A hold is not an attempt: the step is resumed, not restarted after
	// a crash, so it must not count towards MaxAttempts.
	op.Attempt--
	if err := r.Journal(ctx, op); err != nil {
		return nil, err
	}
	r.event(step, EventHeld)
	script := ""
	var se *hooks.ScriptError
	if errors.As(err, &se) {
		script = se.Script
	}
	return &HeldError{Step: step, Script: script, Holds: op.HookRetries, Max: limit, Err: err}, nil
}

// do runs s's Do between its hooks; skipped reports that its Checker
// found its effect already in place, so Do did not run.
func (r *Runner) do(ctx context.Context, s Step, req *Request, attempt int) (skipped bool, err error) {
	ctx = fault.WithStep(ctx, s.Name()+":do")
	if err := fault.Inject(ctx, "before"); err != nil {
		return false, err
	}
	if attempt > MaxAttempts {
		return false, failure(ReasonTooManyAttempts, fmt.Errorf("step started %d times without finishing", attempt-1))
	}
	if err := r.hook(ctx, s.Name(), hooks.ActionEnter, req); err != nil {
		return false, hookFailure(err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeoutOf(s))
	defer cancel()
	if c, ok := s.(Checker); ok {
		done, err := c.Done(ctx, req)
		if err != nil {
			return false, err
		}
		if done {
			r.event(s.Name(), EventSkip)
			if err := hookFailure(r.hook(ctx, s.Name(), hooks.ActionLeave, req)); err != nil {
				return false, err
			}
			return true, fault.Inject(ctx, "after")
		}
	}
	r.event(s.Name(), EventDo)
	log := logr.FromContextOrDiscard(ctx)
	began := time.Now()
	if err := s.Do(ctx, req); err != nil {
		return false, err
	}
	log.Info("Step done", "step", s.Name(), "durationMs", time.Since(began).Milliseconds())
	if err := hookFailure(r.hook(ctx, s.Name(), hooks.ActionLeave, req)); err != nil {
		return false, err
	}
	return false, fault.Inject(ctx, "after")
}

// undo reverses op.Done from the end. Each undo is journaled first; a
// step is removed from Done only after its Undo succeeded, so a restart
// repeats at most the undo that was running. A stopping daemon finishes
// the undo in progress (see undoStep) and leaves the rest to the next one.
func (r *Runner) undo(ctx context.Context, op *status.Operation, req *Request, cause error) error {
	failed := ""
	if op.Failure != nil {
		failed = op.Failure.Step
	}
	for len(op.Done) > 0 {
		if err := interrupted(ctx, op); err != nil {
			return err
		}
		name := op.Done[len(op.Done)-1]
		i := r.index(name)
		if i < 0 {
			return fmt.Errorf("cannot undo operation %s: unknown step %q", op.ID, name)
		}
		if op.Step == name && op.Phase == status.PhaseUndo {
			op.Attempt++
		} else {
			op.Step, op.Phase, op.Attempt = name, status.PhaseUndo, 1
		}
		if err := r.Journal(ctx, op); err != nil {
			return err
		}
		_, undoable := r.Steps[i].(Undoer)
		began := time.Now()
		if undoable {
			r.publishStep(req.ID, name, events.PhaseUndo, events.StateStarted, began, nil)
		}
		if err := r.undoStep(ctx, r.Steps[i], req, op.Attempt); err != nil {
			r.event(name, EventUndoError)
			r.publishStep(req.ID, name, events.PhaseUndo, events.StateFailed, began, err)
			r.rollbackHook(ctx, op, req, hooks.ActionError)
			return &StepError{Step: failed, Err: cause, UndoStep: name, UndoErr: err}
		}
		if undoable {
			r.publishStep(req.ID, name, events.PhaseUndo, events.StateSucceeded, began, nil)
		}
		op.Done = op.Done[:len(op.Done)-1]
	}
	r.rollbackHook(ctx, op, req, hooks.ActionLeave)
	return &StepError{Step: failed, Err: cause, RolledBack: true}
}

// undoStep undoes one step; a step without Undo has nothing to reverse.
// The Undo runs on a context the daemon's stop does not cancel, bounded by
// the step's timeout: an undo half done (a binary restored but the
// previous version not yet started) must not be abandoned just because a
// stop arrived, and it must not be mistaken for a failed rollback either.
func (r *Runner) undoStep(ctx context.Context, s Step, req *Request, attempt int) error {
	ctx = fault.WithStep(ctx, s.Name()+":undo")
	if err := fault.Inject(ctx, "before"); err != nil {
		return err
	}
	if u, ok := s.(Undoer); ok {
		r.event(s.Name(), EventUndo)
		if attempt > MaxAttempts {
			return fmt.Errorf("undo started %d times without finishing", attempt-1)
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeoutOf(s))
		defer cancel()
		began := time.Now()
		if err := u.Undo(uctx, req); err != nil {
			return err
		}
		logr.FromContextOrDiscard(ctx).Info("Step undone", "step", s.Name(), "durationMs", time.Since(began).Milliseconds())
	}
	return fault.Inject(ctx, "after")
}

func (r *Runner) hook(ctx context.Context, step string, action hooks.Action, req *Request) error {
	if r.Hooks == nil {
		return nil
	}
	return r.Hooks.Run(ctx, step, action, hookEnv(req))
}

// hookEnv is what every hook is told about the operation.
func hookEnv(req *Request) map[string]string {
	return map[string]string{
		"OPERATION":    req.ID,
		"FROM_VERSION": req.From.Version,
		"TO_VERSION":   req.To.Version,
		"TO_COMMIT":    req.To.Commit,
	}
}

// rollbackHook runs the hooks.StateRollback scripts of action, telling
// them also the failed step and why (FAILED_STEP, FAILURE_REASON,
// FAILURE_MESSAGE). Their failures are logged and change nothing: a
// rollback must not be held or stopped by a notification.
func (r *Runner) rollbackHook(ctx context.Context, op *status.Operation, req *Request, action hooks.Action) {
	if r.Hooks == nil {
		return
	}
	env := hookEnv(req)
	if f := op.Failure; f != nil {
		env["FAILED_STEP"], env["FAILURE_REASON"], env["FAILURE_MESSAGE"] = f.Step, f.Reason, f.Message
	}
	if err := r.Hooks.Run(ctx, "rollback", action, env); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "Rollback hook failed; the rollback goes on", "action", action)
	}
}

// interrupted returns an error wrapping ErrInterrupted, naming where op
// was left, when ctx was cancelled; nil otherwise.
func interrupted(ctx context.Context, op *status.Operation) error {
	if ctx.Err() == nil {
		return nil
	}
	return fmt.Errorf("%w (%v): operation %s left at step %s (%s, attempt %d) for the next start to resume",
		ErrInterrupted, context.Cause(ctx), op.ID, op.Step, op.Phase, op.Attempt)
}

func (r *Runner) index(name string) int {
	return slices.IndexFunc(r.Steps, func(s Step) bool { return s.Name() == name })
}

func (r *Runner) event(step string, ev Event) {
	if r.OnEvent != nil {
		r.OnEvent(step, ev)
	}
}

func timeoutOf(s Step) time.Duration {
	if t, ok := s.(Timeouter); ok && t.Timeout() > 0 {
		return t.Timeout()
	}
	return DefaultStepTimeout
}

// hookFailure classifies a hook error: any failure blames nobody in
// particular and is retried (exit 21 still matches hooks.ErrRetryLater, so
// Run holds the operation instead while the limit allows).
func hookFailure(err error) error {
	return failure(ReasonHookFailed, err)
}
