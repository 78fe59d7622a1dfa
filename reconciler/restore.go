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
func (r *Reconciler) RestoreBackup(ctx context.Context, id string) (replaced string, err error) {
	log := logr.FromContextOrDiscard(ctx)
	if err := backup.Verify(ctx, r.cfg.BackupDir, id); err != nil {
		return "", fmt.Errorf("cannot restore backup %s: %w", id, err)
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
