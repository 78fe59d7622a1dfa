package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/backup"
)

// coldBackupStep runs while the service is stopped: the cold pass copies
// what changed in data/ and in the extra paths since the hot pass
// (backupStep), so the backup is a consistent snapshot of them at the
// moment the old version stopped, for the price of the delta. It has no Undo: a backup is kept either way.
type coldBackupStep struct{ h *Host }

var _ Timeouter = coldBackupStep{}

func (coldBackupStep) Name() string             { return "cold-backup" }
func (s coldBackupStep) Timeout() time.Duration { return s.h.Config.Timeouts.Backup.Duration }

func (s coldBackupStep) Do(ctx context.Context, req *Request) error {
	c := s.h.Config
	began := time.Now()
	// The extra paths are those the hot pass recorded; Finish is told
	// where the install is.
	b, err := backup.Finish(ctx, c.DataDir, c.BackupDir, req.ID, backup.Paths(c.InstallDir))
	if err != nil {
		return failure(ReasonBackupFailed, fmt.Errorf("cannot finish the backup of %s: %w", c.DataDir, err))
	}
	logr.FromContextOrDiscard(ctx).Info("Finished backup while stopped", "backup", b.Path,
		"copied", b.Copied, "removed", b.Removed, "downtimeMs", time.Since(began).Milliseconds())
	return nil
}
