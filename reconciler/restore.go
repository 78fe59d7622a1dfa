package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/status"
)

// RestoreBackup puts backup id back as data/, and each extra path it
// holds that backup.paths still lists: it stops the service, restores
// everything into new folders beside what it replaces
// (backup.RestoreAll copies and verifies every tree before it swaps any,
// with renames, so nothing current is ever deleted, only moved aside),
// starts the service and waits until it is healthy on the version it
// runs. It returns where the replaced data and extra paths were kept.
// An extra path the backup recorded as missing is moved aside; one the
// backup does not hold, or that backup.paths no longer lists, is left
// alone. If the restore fails, the service is started again on what it
// had. The caller holds the state folder's lock: no update runs
// meanwhile.
//
// A backup that has only its hot pass (the update stopped before its cold
// pass) was copied while the app wrote, so it may not be consistent; it is
// refused with ErrHotPassOnly unless force is set.
func (r *Reconciler) RestoreBackup(ctx context.Context, id string, force bool) (backup.Restored, error) {
	log := logr.FromContextOrDiscard(ctx)
	if err := backup.Verify(ctx, r.cfg.BackupDir, id); err != nil {
		return backup.Restored{}, fmt.Errorf("cannot restore backup %s: %w", id, err)
	}
	if hot, err := hotPassOnly(r.cfg.BackupDir, id); err != nil {
		return backup.Restored{}, fmt.Errorf("cannot restore backup %s: %w", id, err)
	} else if hot && !force {
		return backup.Restored{}, fmt.Errorf("cannot restore backup %s: %w", id, ErrHotPassOnly)
	}
	version := ""
	if st, err := status.Load(StatusPath(r.cfg)); err == nil {
		version = st.CurrentVersion
	}
	log.Info("Stopping service for a restore", "backup", id)
	if err := r.svc.Stop(ctx); err != nil {
		return backup.Restored{}, fmt.Errorf("cannot stop the service to restore backup %s: %w", id, err)
	}
	res, rerr := backup.RestoreAll(ctx, r.cfg.BackupDir, id, r.cfg.DataDir, r.cfg.InstallDir, r.cfg.Backup.Paths)
	if rerr != nil {
		log.Error(rerr, "Restore failed; starting the service on the data it had", "backup", id)
	} else {
		log.Info("Restored backup", "backup", id, "replacedKeptAt", res.Data)
	}
	for _, p := range res.Paths {
		log.Info("Restored extra path", "backup", id, "path", p.Path, "missingInBackup", p.Missing, "replacedKeptAt", p.Replaced)
	}
	if len(res.NotInBackup) > 0 {
		log.Info("Left extra paths the backup does not hold as they are", "backup", id, "paths", res.NotInBackup)
	}
	h := &Host{Config: r.cfg, Service: r.svc}
	if err := r.svc.Start(ctx); err != nil {
		return res, errors.Join(rerr, fmt.Errorf("cannot start the service after the restore: %w", err))
	}
	if err := h.waitHealthy(ctx, version); err != nil {
		return res, errors.Join(rerr, fmt.Errorf("the service is not healthy after the restore: %w", err))
	}
	if rerr != nil {
		return backup.Restored{}, fmt.Errorf("cannot restore backup %s: %w", id, rerr)
	}
	return res, nil
}

// RestoreSummary says, for a human, what restoring backup id into the
// install c describes did (res, as RestoreBackup returns it) and where
// everything it replaced is kept.
func RestoreSummary(c *config.Config, id string, res backup.Restored) string {
	var b strings.Builder
	fmt.Fprintf(&b, "restored backup %s into %s; the replaced data is kept in %s", id, c.DataDir, res.Data)
	for _, p := range res.Paths {
		switch {
		case p.Missing && p.Replaced == "":
			fmt.Fprintf(&b, "; %s was missing in the backup and is missing now", p.Path)
		case p.Missing:
			fmt.Fprintf(&b, "; %s was missing in the backup: the current one was moved to %s", p.Path, p.Replaced)
		case p.Replaced == "":
			fmt.Fprintf(&b, "; restored %s (there was none)", p.Path)
		default:
			fmt.Fprintf(&b, "; restored %s, the replaced one is kept in %s", p.Path, p.Replaced)
		}
	}
	if len(res.NotInBackup) > 0 {
		fmt.Fprintf(&b, "; left %s as they are: the backup does not hold them", strings.Join(res.NotInBackup, ", "))
	}
	return b.String()
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
