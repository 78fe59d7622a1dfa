package reconciler

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/status"
)

// execute runs (or resumes) op to its end and records the outcome. The
// outcome is published (Options.Events) when Reconcile has saved it.
func (r *Reconciler) execute(ctx context.Context, st *status.VersionStatus, op *status.Operation, repo *gitrepo.Repo) (Result, error) {
	// An update reads archives, packs and build output through buffers an
	// idle daemon never needs again; the runtime would return them to the
	// OS over minutes. One collection when the operation ends returns them
	// now (a few ms, once per update).
	defer debug.FreeOSMemory()
	log := logr.FromContextOrDiscard(ctx)
	succeeded, failed := backupOutcomes(st)
	host := &Host{Config: r.cfg, Repo: repo, Service: r.svc, Events: r.events}
	if r.cfg.IsPrebuilt() {
		host.FindRelease = r.releaseFinder(repo)
	}
	runner := &Runner{
		Steps:            updateSteps(host),
		Hooks:            r.hooks,
		Events:           r.events,
		ProtectBackups:   lastKnownGoodBackups(st),
		SucceededBackups: succeeded,
		FailedBackups:    failed,
		MaxHookRetries:   r.cfg.Hooks.MaxRetries,
		Journal: func(ctx context.Context, op *status.Operation) error {
			st.Operation = op
			verb := "updating"
			if op.Phase == status.PhaseUndo {
				verb = "rolling back"
			}
			summarize(st, phaseProgressing, ReasonProgressing, fmt.Sprintf("%s %s -> %s: step %s (attempt %d)",
				verb, orNothing(op.From.Version), op.To.Version, op.Step, op.Attempt), r.now())
			return r.saveStatus(st)
		},
		OnEvent: func(step string, ev Event) {
			log.Info("Step", "step", step, "event", ev, "operation", op.ID)
			if r.onEvent != nil {
				r.onEvent(step, ev)
			}
		},
	}
	err := runner.Run(ctx, op)
	if errors.Is(err, ErrInterrupted) {
		// Not an outcome: the journal says where the next daemon resumes.
		verb := "update"
		if op.Phase == status.PhaseUndo {
			verb = "rollback"
		}
		msg := fmt.Sprintf("%s %s -> %s interrupted at step %s (%v); it resumes when the daemon starts again",
			verb, orNothing(op.From.Version), op.To.Version, op.Step, context.Cause(ctx))
		summarize(st, phaseProgressing, ReasonInterrupted, msg, r.now())
		r.setOutcome(op, events.ResultInterrupted, nil, msg, nil)
		log.Info("Stopping; the operation resumes from its journal at the next start", "operation", op.ID,
			"step", op.Step, "phase", op.Phase, "attempt", op.Attempt, "cause", context.Cause(ctx).Error())
		return Result{}, err
	}
	var held *HeldError
	if errors.As(err, &held) {
		// Not an outcome either: a hook asked to wait. The journal keeps
		// the operation at the step with its completed steps; the error
		// makes the loop retry with backoff.
		summarize(st, phaseRetrying, ReasonHookRetryLater, fmt.Sprintf("update %s -> %s: %v",
			orNothing(op.From.Version), op.To.Version, held), r.now())
		log.Info("Update held by a hook; it resumes at the step on the next attempt", "operation", op.ID,
			"step", held.Step, "hook", held.Script, "holds", held.Holds, "maxRetries", held.Max)
		return Result{}, err
	}
	var se *StepError
	if err != nil && !errors.As(err, &se) {
		// The journal could not be written: the operation stays as it was
		// last persisted and is resumed from there.
		r.setOutcome(op, events.ResultFailed, &events.Failure{Step: op.Step, Reason: reasonOf(err), Message: err.Error()},
			fmt.Sprintf("stopped at step %s: %v; it resumes from its journal at the next reconcile", op.Step, err), nil)
		return Result{}, err
	}
	st.Operation = nil
	if err == nil {
		res, err := r.recordSuccess(ctx, st, op)
		if err != nil {
			r.setOutcome(op, events.ResultFailed, &events.Failure{Step: op.Step, Reason: reasonOf(err), Message: err.Error()},
				fmt.Sprintf("every step succeeded, but the result cannot be recorded: %v", err), nil)
		} else {
			r.setOutcome(op, events.ResultSucceeded, nil, "", nil)
		}
		return res, err
	}
	r.setFailedOutcome(op, se, runner)
	return r.recordOutcome(ctx, st, op, se)
}

// setFailedOutcome keeps the outcome of op, which failed at a step: rolled
// back or not, why, and the end of the failing step's log. The log was
// read when the step failed; for a rollback resumed after a restart, a
// build's log is read now (the file is still there) and the app's output
// is not shown (the rollback has started the previous version since).
func (r *Reconciler) setFailedOutcome(op *status.Operation, se *StepError, runner *Runner) {
	f := &events.Failure{Step: se.Step, Reason: reasonOf(se.Err), Message: se.Err.Error()}
	tail := runner.failureLog
	if i := runner.index(se.Step); tail == nil && i >= 0 {
		if b, ok := runner.Steps[i].(buildStep); ok {
			tail = b.logTail()
		}
	}
	if se.RolledBack {
		r.setOutcome(op, events.ResultRolledBack, f, "", tail)
		return
	}
	r.setOutcome(op, events.ResultRollbackFailed, f, fmt.Sprintf("rolling back to %s then failed at %s: %v; a human must look",
		orNothing(op.From.Version), se.UndoStep, se.UndoErr), tail)
}

// recordSuccess records an operation whose every step succeeded.
func (r *Reconciler) recordSuccess(ctx context.Context, st *status.VersionStatus, op *status.Operation) (Result, error) {
	now := r.now().UTC()
	sha, err := r.binaries.SHA256Settled(ctx, r.cfg.BackendBinary()) // remembered for the reconciles to come
	if err != nil {
		return Result{}, err
	}
	st.CurrentVersion, st.CurrentCommit = op.To.Version, op.To.Commit
	st.ClearFailure(op.To.Version) // it installed and passed its health check
	st.SetLastKnownGood(status.Revision{Version: op.To.Version, Commit: op.To.Commit, BinarySHA256: sha})
	st.AddHistory(status.HistoryEntry{ID: op.ID, Kind: op.Kind, From: op.From.Version, To: op.To.Version, Result: status.ResultSucceeded,
		StartedAt: op.StartedAt, FinishedAt: now})
	summarize(st, phaseReady, ReasonUpToDate, fmt.Sprintf("updated to %s (%s), healthy", op.To.Version, short(op.To.Commit)), now)
	logr.FromContextOrDiscard(ctx).Info("Updated", "operation", op.ID, "version", op.To.Version, "durationMs", now.Sub(op.StartedAt).Milliseconds())
	return Result{Requeue: true}, nil
}

// recordOutcome records an operation that failed at a step, by the
// failure's reason and the one policy table (errors.go): whether the
// release is recorded as failed, and whether the host is retried with
// backoff, stalled, or decided again at once. A rollback that failed is
// always recorded and stalls.
func (r *Reconciler) recordOutcome(ctx context.Context, st *status.VersionStatus, op *status.Operation, se *StepError) (Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	now := r.now().UTC()
	reason := reasonOf(se.Err)
	entry := status.HistoryEntry{ID: op.ID, Kind: op.Kind, From: op.From.Version, To: op.To.Version, StartedAt: op.StartedAt, FinishedAt: now,
		FailedStep: se.Step, Message: se.Error()}
	st.CurrentVersion, st.CurrentCommit = op.From.Version, op.From.Commit
	failedVersion := status.FailedVersion{Version: op.To.Version, Commit: op.To.Commit, Step: se.Step, Reason: reason,
		Message: se.Err.Error(), FailedAt: now, Generation: st.ObservedGeneration, ConfigDigest: r.cfgDigest}
	if !se.RolledBack {
		entry.Result = status.ResultRollbackFailed
		st.AddHistory(entry)
		st.RecordFailure(failedVersion)
		// The rollback stopped part-way: the host runs neither version
		// for sure. Record what it shows now (the commit checked out, the
		// version the app or the binary says), not the one it left.
		if repo, err := gitrepo.Open(r.cfg.InstallDir); err == nil {
			if h, err := r.observeHost(ctx, repo); err == nil {
				st.CurrentVersion, st.CurrentCommit = h.currentVersion(st), h.head
			}
		}
		log.Error(se, "Rollback failed; a human must look", "operation", op.ID)
		summarize(st, phaseStalled, ReasonRollbackFailed, fmt.Sprintf(
			"%s failed at %s: %v; rolling back to %s then failed at %s: %v; no further attempts until desired.yaml changes",
			op.To.Version, se.Step, se.Err, orNothing(op.From.Version), se.UndoStep, se.UndoErr), now)
		return Result{}, nil
	}
	entry.Result = status.ResultRolledBack
	st.AddHistory(entry)
	log.Error(se, "Update failed and was rolled back", "operation", op.ID, "reason", reason, "version", op.From.Version)
	p := policyOf(reason)
	if p.blamesRelease {
		st.RecordFailure(failedVersion)
	}
	switch {
	case p.kind == Transient:
		summarize(st, phaseRetrying, reason, fmt.Sprintf("update to %s rolled back, will retry: %v", op.To.Version, se), now)
		return Result{}, se
	case p.blamesRelease:
		// Decide again: a pinned version stalls as VersionFailed, latest
		// moves on to the next release that has not failed.
		return Result{Requeue: true}, nil
	}
	// The host's own state refused the update; the check before the next
	// one finds it again, without a backup.
	summarize(st, phaseStalled, reason, se.Error(), now)
	return Result{}, nil
}
