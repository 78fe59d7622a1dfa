package reconciler

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/status"
)

// RestoreBackup puts backup id back as data/: it stops the service,
// restores into a new folder beside data/ (backup.Restore verifies the copy
// before it swaps folders with renames, so the current data is never
// deleted, only moved aside), starts the service and waits until it is
// healthy on the version it runs. It returns where the replaced data was
// kept. If the restore fails, the service is started again on the data it
// had. The caller holds the state folder's lock: no update runs meanwhile.
//
// A backup that has only its hot pass (the update stopped before its cold
// pass) was copied while the app wrote, so it may not be consistent; it is
// refused with ErrHotPassOnly unless force is set.
func (r *Reconciler) RestoreBackup(ctx context.Context, id string, force bool) (replaced string, err error) {
	log := logr.FromContextOrDiscard(ctx)
	if err := backup.Verify(ctx, r.cfg.BackupDir, id); err != nil {
		return "", fmt.Errorf("cannot restore backup %s: %w", id, err)
	}
	if hot, err := hotPassOnly(r.cfg.BackupDir, id); err != nil {
		return "", fmt.Errorf("cannot restore backup %s: %w", id, err)
	} else if hot && !force {
		return "", fmt.Errorf("cannot restore backup %s: %w", id, ErrHotPassOnly)
	}
	version := ""
	if st, err := status.Load(StatusPath(r.cfg)); err == nil {
		version = st.CurrentVersion
	}
	log.Info("Stopping service for a restore", "backup", id)
	if err := r.svc.Stop(ctx); err != nil {
		return "", fmt.Errorf("cannot stop the service to restore backup %s: %w", id, err)
	}
	replaced, rerr := backup.Restore(ctx, r.cfg.BackupDir, id, r.cfg.DataDir)
	if rerr != nil {
		log.Error(rerr, "Restore failed; starting the service on the data it had", "backup", id)
	} else {
		log.Info("Restored backup", "backup", id, "replacedKeptAt", replaced)
	}
	h := &Host{Config: r.cfg, Service: r.svc}
	if err := r.svc.Start(ctx); err != nil {
		return replaced, errors.Join(rerr, fmt.Errorf("cannot start the service after the restore: %w", err))
	}
	if _, err := h.gate(version).Wait(ctx); err != nil {
		return replaced, errors.Join(rerr, fmt.Errorf("the service is not healthy after the restore: %w", err))
	}
	if rerr != nil {
		return "", fmt.Errorf("cannot restore backup %s: %w", id, rerr)
	}
	return replaced, nil
}

// ErrHotPassOnly refuses a restore of a backup that was never finished
// while the app was stopped.
var ErrHotPassOnly = errors.New("it has only its hot pass, copied while the app was writing, so it may be inconsistent; " +
	"restore it anyway with --force, or pick a consistent backup (`backups list`)")

// hotPassOnly reports whether backup id never had its cold pass.
func hotPassOnly(root, id string) (bool, error) {
	list, err := backup.List(root)
	if err != nil {
		return false, err
	}
	for _, b := range list {
		if b.ID == id {
			return b.FinishedAt.IsZero(), nil
		}
	}
	return false, fmt.Errorf("%w: %s", backup.ErrNotFound, id)
}
