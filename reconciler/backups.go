package reconciler

import (
	"context"
	"time"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/preflight"
)

// BackupList is the backups of an install and the data restores set
// aside: what `backups list` shows (as a table, or as this JSON with
// -o json) and what GET /api/v1/backups answers.
type BackupList struct {
	// Backups are the complete backups, oldest first.
	Backups []BackupInfo `json:"backups"`
	// Replaced are the copies of dataDir (and of backup.paths) that
	// restores moved aside, oldest first.
	Replaced []ReplacedInfo `json:"replaced"`
}

// BackupInfo is one complete backup.
type BackupInfo struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"createdAt"`
	// FinishedAt is when the cold pass (the app stopped) made it a
	// consistent snapshot; absent when it has only its hot pass.
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	Consistent bool      `json:"consistent"`
	// DataOf is the version whose data it holds, TakenBefore the version
	// its update was about to install; absent when unknown.
	DataOf      string `json:"dataOf,omitempty"`
	TakenBefore string `json:"takenBefore,omitempty"`
	// Files and Bytes count the regular files of its copy of dataDir.
	Files int   `json:"files"`
	Bytes int64 `json:"bytes"`
	// Paths are the backup.paths it holds besides dataDir.
	Paths []string `json:"paths,omitempty"`
}

// ReplacedInfo is one copy of data that a restore moved aside.
type ReplacedInfo struct {
	Path       string    `json:"path"`
	ReplacedAt time.Time `json:"replacedAt"`
	// Bytes is its size; absent when it cannot be measured.
	Bytes *int64 `json:"bytes,omitempty"`
}

// ListBackups lists the backups of the install c describes and the data
// restores set aside beside dataDir and each of backup.paths. It changes
// nothing. Errors: the backup folder or a parent of the data cannot be
// read.
func ListBackups(ctx context.Context, c *config.Config) (BackupList, error) {
	list, err := backup.List(c.BackupDir)
	if err != nil {
		return BackupList{}, err
	}
	replaced, err := backup.ListReplaced(c.DataDir)
	if err != nil {
		return BackupList{}, err
	}
	for _, p := range c.Backup.Paths {
		more, err := backup.ListReplacedPath(c.InstallDir, p)
		if err != nil {
			return BackupList{}, err
		}
		replaced = append(replaced, more...)
	}
	out := BackupList{Backups: make([]BackupInfo, 0, len(list)), Replaced: make([]ReplacedInfo, 0, len(replaced))}
	for _, b := range list {
		out.Backups = append(out.Backups, BackupInfo{
			ID: b.ID, CreatedAt: b.CreatedAt.UTC(), FinishedAt: b.FinishedAt.UTC(), Consistent: !b.FinishedAt.IsZero(),
			DataOf: b.DataOf, TakenBefore: b.TakenBefore, Files: b.Files, Bytes: b.Bytes, Paths: b.Paths,
		})
	}
	for _, r := range replaced {
		info := ReplacedInfo{Path: r.Path, ReplacedAt: r.ReplacedAt.UTC()}
		if n, err := preflight.DirSize(ctx, r.Path); err == nil {
			info.Bytes = &n
		}
		out.Replaced = append(out.Replaced, info)
	}
	return out, nil
}
