package reconciler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/strictyaml"
	"github.com/better-paas/updater/status"
)

// RestoreRequestKind identifies a restore request file.
const RestoreRequestKind = "RestoreRequest"

// maxRequestSize bounds what is read of a restore request.
const maxRequestSize = 4 << 10

// RestoreRequest is what `backups restore` writes when a daemon holds the
// state folder's lock: the daemon, which owns the host, carries the restore
// out between two operations and answers in status.yaml (status.restore).
type RestoreRequest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// ID tells this request's answer from an older one.
	ID     string `json:"id"`
	Backup string `json:"backup"`
	// Force allows a backup that has only its hot pass (taken while the
	// app ran, so possibly inconsistent).
	Force       bool      `json:"force,omitempty"`
	RequestedAt time.Time `json:"requestedAt"`
}

// RestoreRequestFile is where a restore request waits for the daemon.
func RestoreRequestFile(c *config.Config) string {
	return layout.New(c).RestoreRequest
}

// NewRestoreRequest returns a request for backup with a fresh random ID.
func NewRestoreRequest(backupID string, force bool, now time.Time) (*RestoreRequest, error) {
	if err := backup.ValidateID(backupID); err != nil {
		return nil, err
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("cannot make a request id: %w", err)
	}
	return &RestoreRequest{APIVersion: status.APIVersion, Kind: RestoreRequestKind, ID: hex.EncodeToString(b[:]),
		Backup: backupID, Force: force, RequestedAt: now.UTC()}, nil
}

// WriteRestoreRequest writes req for the daemon, atomically; a request
// already waiting is replaced.
func WriteRestoreRequest(c *config.Config, req *RestoreRequest) error {
	b, err := yaml.Marshal(req)
	if err != nil {
		return fmt.Errorf("cannot encode restore request: %w", err)
	}
	return atomicfile.WriteFile(RestoreRequestFile(c), b, 0o600)
}

// readRestoreRequest reads the waiting request; (nil, nil) when none.
// The file crosses a trust boundary (anyone who can write the state folder
// can ask), so it is read strictly, size-bounded, and its backup ID is
// validated before use.
func readRestoreRequest(path string) (*RestoreRequest, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read restore request %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRequestSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read restore request %s: %w", path, err)
	}
	if len(data) > maxRequestSize {
		return nil, fmt.Errorf("cannot read restore request %s: %d bytes or more, limit %d", path, len(data), maxRequestSize)
	}
	var req RestoreRequest
	if err := strictyaml.Unmarshal(data, &req, 4*maxRequestSize); err != nil {
		return nil, fmt.Errorf("cannot read restore request %s: %w", path, err)
	}
	if req.APIVersion != status.APIVersion || req.Kind != RestoreRequestKind {
		return nil, fmt.Errorf("cannot read restore request %s: apiVersion %q kind %q, want %q %q", path, req.APIVersion, req.Kind, status.APIVersion, RestoreRequestKind)
	}
	if err := backup.ValidateID(req.Backup); err != nil {
		return &req, fmt.Errorf("cannot read restore request %s: backup: %w", path, err)
	}
	return &req, nil
}

// serveRestoreRequest carries out req, the restore request observe read
// from the state folder (err: why it could not be read, which is answered
// as a failed restore), records the outcome in st.Restore and removes the
// request. It runs only between operations.
func (r *Reconciler) serveRestoreRequest(ctx context.Context, st *status.VersionStatus, req *RestoreRequest, err error) {
	path := RestoreRequestFile(r.cfg)
	log := logr.FromContextOrDiscard(ctx)
	now := r.now().UTC()
	rec := &status.RestoreRecord{Phase: status.RestoreRunning, StartedAt: now}
	if req != nil {
		rec.RequestID, rec.Backup = req.ID, req.Backup
	}
	if err == nil {
		log.Info("Restoring backup on request", "backup", req.Backup, "request", req.ID)
		st.Restore = rec
		if serr := r.saveStatus(st); serr != nil {
			log.Error(serr, "Cannot record the restore in status")
		}
		var res backup.Restored
		res, err = r.RestoreBackup(ctx, req.Backup, req.Force)
		rec.ReplacedKeptAt = res.Data
		if err == nil {
			rec.Message = RestoreSummary(r.cfg, req.Backup, res)
		}
	}
	finished := r.now().UTC()
	rec.FinishedAt = &finished
	if err != nil {
		rec.Phase, rec.Message = status.RestoreFailed, err.Error()
		log.Error(err, "Restore failed", "request", rec.RequestID)
	} else {
		rec.Phase = status.RestoreSucceeded
		log.Info("Restored backup on request", "backup", rec.Backup, "replacedKeptAt", rec.ReplacedKeptAt)
	}
	st.Restore = rec
	if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		log.Error(rerr, "Cannot remove the restore request; it would run again", "path", path)
	}
}
