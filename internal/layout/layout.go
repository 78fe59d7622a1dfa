// Package layout is where the updater keeps its state: every file and
// folder under the state folder, derived from updater.yaml in one place,
// so no command builds a path of its own and none finds a folder missing.
package layout

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/better-paas/updater/internal/config"
)

// Layout names the updater's files for one updater.yaml. The zero value is
// not useful; use New.
type Layout struct {
	// StateDir holds everything below; created 0750 (status and logs may
	// name paths and versions, not secrets).
	StateDir string
	// Status is status.yaml, what the daemon observed and did.
	Status string
	// Lock is the lock file; the state folder itself is locked too.
	Lock string
	// PIDFile records the backend the exec supervisor runs.
	PIDFile string
	// Logs holds the build logs and ServiceLog; created 0750.
	Logs       string
	ServiceLog string
	// Backups is backupDir (by default inside StateDir); created 0700,
	// since it holds copies of the app's data.
	Backups string
	// ReleaseCache is the GitHub Releases answers, kept 30 minutes.
	ReleaseCache string
	// UpdateRepo is the value `repo set` stores for UPDATE_REPO.
	UpdateRepo string
	// RestoreRequest is where `backups restore` asks a running daemon.
	RestoreRequest string
	// Artifacts holds downloaded release assets (artifact: prebuilt), one
	// folder per version; the update's step keeps only the versions of
	// the update it runs.
	Artifacts string
	// APIToken holds the SHA-256 of the API's bearer token, never the
	// token itself (mode 0600); see internal/apitoken.
	APIToken string
}

// New returns the layout of the install c describes. It touches nothing.
func New(c *config.Config) Layout {
	s := c.StateDir
	return Layout{
		StateDir:       s,
		Status:         filepath.Join(s, "status.yaml"),
		Lock:           filepath.Join(s, "lock"),
		PIDFile:        filepath.Join(s, "service.pid"),
		Logs:           filepath.Join(s, "logs"),
		ServiceLog:     filepath.Join(s, "logs", "service.log"),
		Backups:        c.BackupDir,
		ReleaseCache:   filepath.Join(s, "github-releases.json"),
		UpdateRepo:     filepath.Join(s, "update-repo.yaml"),
		RestoreRequest: filepath.Join(s, "restore-request.yaml"),
		APIToken:       filepath.Join(s, "api-token"),
		Artifacts:      filepath.Join(s, "artifacts"),
	}
}

// BuildLog is the log of build step name.
func (l Layout) BuildLog(name string) string { return filepath.Join(l.Logs, name+".log") }

// Create makes the folders that are missing, with their modes: StateDir
// and Logs 0750, Backups 0700. Folders that exist are left as they are
// (an administrator may have chosen other modes). It is idempotent and
// runs once when a command starts.
func (l Layout) Create() error {
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{l.StateDir, 0o750}, {l.Logs, 0o750}, {l.Backups, 0o700}} {
		if _, err := os.Stat(d.path); err == nil {
			continue
		}
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return fmt.Errorf("cannot create %s: %w", d.path, err)
		}
		// MkdirAll applies the umask; the mode is what this folder needs.
		if err := os.Chmod(d.path, d.mode); err != nil {
			return fmt.Errorf("cannot set the mode of %s: %w", d.path, err)
		}
	}
	return nil
}
