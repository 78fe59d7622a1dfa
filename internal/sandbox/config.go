package sandbox

import (
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/examples"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/strictyaml"
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
//
// The example is adapted before it is loaded, so $(DATA_DIR) and the other
// folder names in it expand to the sandbox's folders, and health.url is
// derived from the sandbox's ADDR as it would be on a host. Builds share
// the Go caches of the user running the sandbox (`go env GOCACHE
// GOMODCACHE`) through build.env: a fresh cache per sandbox would compile
// the standard library for every test.
func Config(root, install string, port int, t Timings) ([]byte, error) {
	raw, err := fs.ReadFile(examples.Config, "updater.yaml")
	if err != nil {
		return nil, fmt.Errorf("cannot read the example updater.yaml: %w", err)
	}
	var cfg config.Config
	if err := strictyaml.Unmarshal(raw, &cfg, 4<<20); err != nil {
		return nil, fmt.Errorf("cannot read the example updater.yaml: %w", err)
	}
	cfg.InstallDir = install
	cfg.DataDir = filepath.Join(install, "data")
	cfg.StateDir = filepath.Join(root, "state")
	cfg.BackupDir = filepath.Join(root, "state", "backups")
	cfg.HooksDir = filepath.Join(root, "hooks")
	cfg.DesiredFile = filepath.Join(root, "desired.yaml")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for i, e := range cfg.Service.Exec.Env {
		if strings.HasPrefix(e, "ADDR=") {
			cfg.Service.Exec.Env[i] = "ADDR=" + addr
		}
	}
	cfg.Build.Env = append(cfg.Build.Env, goCaches()...)
	cfg.Health.Interval.Duration = t.Interval
	cfg.Health.Deadline.Duration = t.Deadline
	cfg.Health.SuccessThreshold = t.SuccessThreshold
	cfg.Service.StopTimeout.Duration = 5 * time.Second
	out, err := yaml.Marshal(&cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot encode sandbox config: %w", err)
	}
	loaded, err := config.Parse(filepath.Join(root, "updater.yaml"), out)
	if err != nil {
		return nil, fmt.Errorf("sandbox config does not load: %w", err)
	}
	if want := "http://" + addr + "/api/health"; loaded.Health.URL != want {
		return nil, fmt.Errorf("sandbox config probes %s, want %s: the example's health.url does not follow ADDR", loaded.Health.URL, want)
	}
	return out, nil
}

// goCaches returns GOCACHE= and GOMODCACHE= entries naming the Go caches of
// the user running the sandbox, or none when go cannot say.
func goCaches() []string {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE").Output()
	if err != nil {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 || !filepath.IsAbs(lines[0]) || !filepath.IsAbs(lines[1]) {
		return nil
	}
	return []string{"GOCACHE=" + lines[0], "GOMODCACHE=" + lines[1]}
}
