package sandbox

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/examples"
	"github.com/better-paas/updater/internal/config"
)

// Timings shortens the shipped health gate for a sandbox, where a broken
// release should be rolled back in seconds rather than a minute.
type Timings struct {
	Interval, Deadline time.Duration
	SuccessThreshold   int
}

// Config returns the shipped example updater.yaml (examples/config) adapted
// to a sandbox under root: the install at install, state, backups, hooks and
// desired.yaml under root, the app on 127.0.0.1:port, and the health gate
// timings t. The result is what a daemon is started with, so the demo and
// the tests run the configuration users are shown.
func Config(root, install string, port int, t Timings) ([]byte, error) {
	raw, err := fs.ReadFile(examples.Config, "updater.yaml")
	if err != nil {
		return nil, fmt.Errorf("cannot read the example updater.yaml: %w", err)
	}
	cfg, err := config.Parse(filepath.Join(root, "updater.yaml"), raw)
	if err != nil {
		return nil, err
	}
	cfg.InstallDir = install
	cfg.DataDir = filepath.Join(install, "data")
	cfg.StateDir = filepath.Join(root, "state")
	cfg.BackupDir = filepath.Join(root, "state", "backups")
	cfg.HooksDir = filepath.Join(root, "hooks")
	cfg.DesiredFile = filepath.Join(root, "desired.yaml")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i, e := range cfg.Service.Exec.Env {
		if len(e) > 5 && e[:5] == "ADDR=" {
			cfg.Service.Exec.Env[i] = "ADDR=" + addr
		}
	}
	cfg.Health.URL = "http://" + addr + "/api/health"
	cfg.Health.Interval.Duration = t.Interval
	cfg.Health.Deadline.Duration = t.Deadline
	cfg.Health.SuccessThreshold = t.SuccessThreshold
	cfg.Service.StopTimeout.Duration = 5 * time.Second
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot encode sandbox config: %w", err)
	}
	if _, err := config.Parse(filepath.Join(root, "updater.yaml"), out); err != nil {
		return nil, fmt.Errorf("sandbox config does not load: %w", err)
	}
	return out, nil
}
