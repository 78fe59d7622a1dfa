package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/backup"
)

// backupStep takes the hot pass of the backup of data/ before anything
// else changes, while the app still runs: incremental (files unchanged
// since the previous backup are hard-linked to that backup's copy) and
// verified (complete only with its manifest). coldBackupStep finishes it
// while the service is stopped. Backups are kept (and pruned by
// retention), never undone.
type backupStep struct{ h *Host }

var _ Timeouter = backupStep{}

func (backupStep) Name() string             { return "backup" }
func (s backupStep) Timeout() time.Duration { return s.h.Config.Timeouts.Backup.Duration }

func (s backupStep) Do(ctx context.Context, req *Request) error {
	c := s.h.Config
	b, err := backup.Create(ctx, c.DataDir, c.BackupDir, req.ID)
	if err != nil {
		return failure(ReasonBackupFailed, fmt.Errorf("cannot back up %s: %w", c.DataDir, err))
	}
	log := logr.FromContextOrDiscard(ctx)
	log.Info("Backed up data", "backup", b.Path, "files", b.Files, "bytes", b.Bytes, "copied", b.Copied, "linked", b.Linked)
	removed, err := backup.Prune(c.BackupDir, c.BackupsToKeep, append([]string{req.ID}, req.ProtectBackups...)...)
	if err != nil {
		// Retention is housekeeping: a backup that is complete is what
		// the update needs, so a failed prune is logged, not fatal.
		log.Error(err, "Cannot prune old backups", "backupDir", c.BackupDir)
	} else if len(removed) > 0 {
		log.Info("Pruned old backups", "removed", removed)
	}
	return nil
}
