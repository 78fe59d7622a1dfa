package selfupdate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/status"
)

// Resume settles the self-update marker a previous process left, once at
// the daemon's start, under its lock and before the first reconcile:
//
//   - none: records the running version when selfUpdate is enabled;
//   - this process is the new updater on trial (its version is the
//     marker's To and <exe>.new is still there): counts the attempt; the
//     trial ends in Reconciled;
//   - this process is the new updater, already renamed over <exe> (a
//     crash after the rename): records Succeeded and removes the marker;
//   - this process is the old updater: the new one stopped before it
//     reconciled once (Trial), so <exe>.new is removed and RolledBack
//     recorded; or it reconciled and was renaming itself (Committing),
//     so the rename is finished and a Restart into <exe> returned;
//   - anything else (a binary replaced by hand meanwhile): the marker and
//     <exe>.new are removed.
//
// A returned *Restart must be carried out (Restart.Exec) instead of
// running the loop.
func (u *Updater) Resume(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx).WithName("self-update")
	u.lock.Lock()
	defer u.lock.Unlock()
	m, ok, err := readMarker(u.marker)
	if err != nil {
		return err
	}
	if !ok {
		if !u.su.Enabled {
			return nil
		}
		// Best effort: a status.yaml that cannot be read is the
		// reconciler's to rebuild (or, from a newer updater, to refuse).
		if st, err := u.loadStatus(); err == nil && (st.Updater == nil || st.Updater.Version != u.o.Version) {
			u.record(ctx, func(st *status.VersionStatus) {
				if st.Updater == nil {
					st.Updater = &status.UpdaterStatus{}
				}
				st.Updater.Version = u.o.Version
			})
		}
		return nil
	}
	_, statErr := os.Stat(m.New)
	staged := statErr == nil
	if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return fmt.Errorf("cannot settle the self-update in %s: %w", u.marker, statErr)
	}
	if u.o.Version == m.To {
		// On trial this process runs from <exe>.new; what it replaces,
		// and stages the next release beside, is <exe>.
		u.o.Executable = m.Exe
	}
	switch {
	case u.o.Version == m.To && staged && m.Phase == PhaseTrial:
		m.Attempts++
		if m.Attempts > maxTrialAttempts {
			return u.rollBack(ctx, m, ReasonExited, fmt.Errorf("updater %s was started %d times on trial without reconciling once", m.To, m.Attempts-1))
		}
		if err := writeMarker(u.marker, m); err != nil {
			return err
		}
		log.Info("Running a new updater on trial: it takes over once it has reconciled", "from", m.From, "to", m.To, "attempt", m.Attempts)
		u.mu.Lock()
		u.trial = &m
		u.mu.Unlock()
		return nil
	case u.o.Version == m.To && staged: // Committing
		if err := u.commit(m); err != nil {
			return err
		}
		return u.settle(ctx, m)
	case u.o.Version == m.To:
		return u.settle(ctx, m)
	case u.o.Version == m.From && staged && m.Phase == PhaseCommitting:
		// The new updater reconciled and was renaming itself when it
		// stopped: finish for it and let it settle.
		if err := u.commit(m); err != nil {
			return err
		}
		log.Info("Finished installing the new updater that reconciled before it stopped", "from", m.From, "to", m.To)
		return &Restart{Path: m.Exe, From: m.From, To: m.To}
	case u.o.Version == m.From && m.Phase == PhaseCommitting:
		// The rename is done: <exe> is the new updater, which settles
		// at its next start (this is an old copy run meanwhile).
		return nil
	case u.o.Version == m.From:
		err := fmt.Errorf("updater %s stopped before it reconciled once (started %s, %d attempt(s)); %s runs again: see the daemon's log of that start", m.To, m.StartedAt.Format("2006-01-02T15:04:05Z07:00"), max(m.Attempts, 1), m.From)
		return u.rollBack(ctx, m, ReasonExited, err)
	default:
		log.Info("Removing the marker of a self-update this binary is not part of (replaced by hand?)", "from", m.From, "to", m.To, "running", u.o.Version)
		if err := removeFile(m.New); err != nil {
			return err
		}
		return removeFile(u.marker)
	}
}

// Reconciled is told the outcome of every reconcile of the daemon, while
// the caller holds Options.Lock. While the new updater is on trial, its
// first successful reconcile commits it (<exe>.bak, the rename, status
// Succeeded); MaxTrialErrors failures in a row roll it back and return
// the *Restart into the old binary, which the caller must carry out. A
// cancelled reconcile counts neither way. The first call also lets Run
// start checking for releases.
func (u *Updater) Reconciled(ctx context.Context, rerr error) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.trial != nil && !(rerr != nil && ctx.Err() != nil) {
		m := *u.trial
		switch {
		case rerr == nil:
			u.trial = nil
			m.Phase = PhaseCommitting
			if err := writeMarker(u.marker, m); err != nil {
				return err
			}
			if err := u.commit(m); err != nil {
				return err
			}
			if err := u.settle(ctx, m); err != nil {
				return err
			}
		default:
			u.trialErrs++
			if u.trialErrs >= MaxTrialErrors {
				u.trial = nil
				return u.rollBack(ctx, m, ReasonReconcileFailed,
					fmt.Errorf("updater %s failed %d reconciles in a row on trial: %w", m.To, u.trialErrs, rerr))
			}
			return nil
		}
	}
	if !u.firstDone && u.trial == nil {
		u.firstDone = true
		close(u.checked)
	}
	return nil
}

// commit keeps <exe> as <exe>.bak and renames <exe>.new over <exe>. It is
// idempotent: a missing <exe>.new means it was done.
func (u *Updater) commit(m Marker) error {
	if _, err := os.Stat(m.New); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	bak, tmp := m.Exe+".bak", m.Exe+".bak.tmp"
	_ = os.Remove(tmp)
	if err := os.Link(m.Exe, tmp); err != nil {
		// A file system without hard links: copy.
		if cerr := copyExecutable(m.Exe, tmp); cerr != nil {
			return fmt.Errorf("cannot keep %s as %s: %w", m.Exe, bak, errors.Join(err, cerr))
		}
	}
	if err := atomicfile.Rename(tmp, bak); err != nil {
		return err
	}
	return atomicfile.Rename(m.New, m.Exe)
}

// record applies f to status.yaml (the caller holds the lock). It is
// best effort: settling a self-update must not fail, or stop a daemon
// from starting, because status.yaml cannot be written; the error is
// logged.
func (u *Updater) record(ctx context.Context, f func(*status.VersionStatus)) {
	if err := u.updateStatusLocked(f); err != nil {
		logr.FromContextOrDiscard(ctx).Error(err, "Cannot record the self-update in status.yaml")
	}
}

// settle records the new updater's success and removes the marker.
func (u *Updater) settle(ctx context.Context, m Marker) error {
	u.record(ctx, func(st *status.VersionStatus) {
		st.RecordSelfUpdate(status.SelfUpdateRecord{From: m.From, To: m.To, Result: status.SelfUpdateSucceeded,
			Message: fmt.Sprintf("updater %s reconciled and replaced %s (kept as %s.bak)", m.To, m.From, m.Exe), Time: u.o.Now().UTC()})
	})
	logr.FromContextOrDiscard(ctx).Info("Updated the updater", "from", m.From, "to", m.To, "binary", m.Exe, "kept", m.Exe+".bak")
	return removeFile(u.marker)
}

// rollBack records that m.To failed on trial, removes <exe>.new and the
// marker, and returns the Restart into <exe>, the old binary, unless
// this process is the old binary already (then nil).
func (u *Updater) rollBack(ctx context.Context, m Marker, reason string, cause error) error {
	logr.FromContextOrDiscard(ctx).Error(cause, "New updater failed on trial; the old one runs again", "from", m.From, "to", m.To, "reason", reason)
	u.record(ctx, func(st *status.VersionStatus) {
		st.RecordSelfUpdate(status.SelfUpdateRecord{From: m.From, To: m.To, Result: status.SelfUpdateRolledBack,
			Reason: reason, Message: cause.Error(), Time: u.o.Now().UTC()})
		st.Updater.Version = m.From
	})
	if err := removeFile(m.New); err != nil {
		return err
	}
	if err := removeFile(u.marker); err != nil {
		return err
	}
	if u.o.Version == m.From {
		return nil
	}
	return &Restart{Path: m.Exe, From: m.To, To: m.From}
}

// Abandon is given the error the run command stops with. When this
// process is the new updater on trial and it stops on an error of its own
// before it reconciled once (it cannot start its reconciler or API, say),
// the trial failed: RolledBack is recorded, <exe>.new and the marker
// removed, and the Restart into the old binary returned, so the old one
// comes back without waiting for a supervisor. Any other err (nil, a
// Restart, a stop signal's cancellation) is returned as it is: a stop
// leaves the marker, and whichever binary starts next settles it.
func (u *Updater) Abandon(ctx context.Context, err error) error {
	if _, ok := AsRestart(err); err == nil || ok || errors.Is(err, context.Canceled) || ctx.Err() != nil {
		return err
	}
	u.mu.Lock()
	m := u.trial
	u.trial = nil
	u.mu.Unlock()
	if m == nil {
		return err
	}
	u.lock.Lock()
	defer u.lock.Unlock()
	return u.rollBack(ctx, *m, ReasonExited, fmt.Errorf("updater %s stopped on trial before it reconciled once: %w", m.To, err))
}
