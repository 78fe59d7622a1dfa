package reconciler

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/backup"
)

// backupStep takes the hot pass of the backup of data/, and of the extra
// paths of backup.paths (each its own part of the same backup), before
// anything else changes, while the app still runs: incremental (files
// unchanged since the previous backup are hard-linked to that backup's
// copy), read-only and verified (complete only with its manifest),
// labelled with whose data it holds (req.From) and what the update
// installs (req.To).
// coldBackupStep finishes it while the service is stopped. Backups are
// kept (and pruned by retention), never undone.
//
// Retention then keeps BackupsToKeep backups in total, never the one just
// taken nor the last known good version's (req.ProtectBackups), and prunes
// failed attempts' backups (and those without a cold pass) before the
// oldest of successful updates; it also keeps only the newest
// BackupsToKeep copies of data/ (and of each extra path) that restores set
// aside beside it. A
// failed prune is logged, not fatal: the backup the update needs is
// complete.
type backupStep struct{ h *Host }

var _ Timeouter = backupStep{}

func (backupStep) Name() string             { return "backup" }
func (s backupStep) Timeout() time.Duration { return s.h.Config.Timeouts.Backup.Duration }

func (s backupStep) Do(ctx context.Context, req *Request) error {
	c := s.h.Config
	b, err := backup.Create(ctx, c.DataDir, c.BackupDir, req.ID,
		backup.DataOf(req.From.Version), backup.TakenBefore(req.To.Version), backup.Paths(c.InstallDir, c.Backup.Paths...))
	if err != nil {
		return failure(ReasonBackupFailed, fmt.Errorf("cannot back up %s: %w", c.DataDir, err))
	}
	log := logr.FromContextOrDiscard(ctx)
	log.Info("Backed up data", "backup", b.Path, "files", b.Files, "bytes", b.Bytes, "copied", b.Copied, "linked", b.Linked,
		"dataOf", b.DataOf, "takenBefore", b.TakenBefore, "paths", b.Paths)
	// A backup whose update is not in the history (it was pruned from
	// status.yaml) counts as a success with its cold pass and as a failed
	// attempt without.
	removed, err := backup.Prune(c.BackupDir, backup.Retention{
		Keep:      c.BackupsToKeep,
		Protect:   append([]string{req.ID}, req.ProtectBackups...),
		Succeeded: req.SucceededBackups,
		Failed:    req.FailedBackups,
	})
	// Retention is housekeeping: a backup that is complete is what the
	// update needs, so a failed prune is logged, not fatal.
	if err != nil {
		log.Error(err, "Cannot prune old backups", "backupDir", c.BackupDir)
	}
	if len(removed) > 0 {
		log.Info("Pruned old backups", "removed", removed)
	}
	replaced, err := backup.PruneReplaced(c.DataDir, c.BackupsToKeep)
	if err != nil {
		log.Error(err, "Cannot prune data replaced by restores", "dataDir", c.DataDir)
	}
	for _, p := range c.Backup.Paths {
		removed, err := backup.PruneReplacedPath(c.InstallDir, p, c.BackupsToKeep)
		if err != nil {
			log.Error(err, "Cannot prune copies of an extra path replaced by restores", "path", p)
		}
		replaced = append(replaced, removed...)
	}
	if len(replaced) > 0 {
		log.Info("Pruned data replaced by restores", "removed", replaced)
	}
	return nil
}
