package reconciler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/fault"
	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/internal/service"
)

// Host is what the steps act on: the install described by the config, its
// git checkout and the service that runs it.
type Host struct {
	Config  *config.Config
	Repo    *gitrepo.Repo
	Service service.Manager
}

// gate returns the health gate that accepts version; a crashed service
// fails it at once instead of at the deadline.
func (h *Host) gate(version string) health.Gate {
	c := h.Config.Health
	return health.Gate{
		URL:              c.URL,
		ExpectVersion:    version,
		ProbeTimeout:     c.ProbeTimeout.Duration,
		Interval:         c.Interval.Duration,
		Deadline:         c.Deadline.Duration,
		SuccessThreshold: c.SuccessThreshold,
		Alive: func(ctx context.Context) (bool, error) {
			// Called between probes: the point where a gate is half done.
			if err := fault.Inject(ctx, "mid"); err != nil {
				return false, err
			}
			st, err := h.Service.Status(ctx)
			return st.Running, err
		},
	}
}

// fileSHA256 returns the hex sha256 of path, "" when it does not exist.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("cannot hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func exists(path string) (bool, error) {
	_, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot stat %s: %w", path, err)
	}
	return true, nil
}
