package sandbox

import (
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

// Options adapts a sandbox's config beyond its folders and port.
type Options struct {
	Timings
	// ShareBuilds adds -trimpath to the builds' GOFLAGS (after the user's
	// own), so that one release built in many sandboxes compiles once: the
	// Go cache keys the app's packages by their folder unless the path is
	// trimmed, and every sandbox has its own. Tests that build the same
	// releases in dozens of installs set it; the demo does not, as it
	// builds each release once and a first -trimpath build compiles the
	// standard library again.
	ShareBuilds bool
	// APIListen is the sandbox's api.listen. "" (the default) turns the
	// API off, so sandboxes never collide on the shipped 127.0.0.1:8079;
	// a test or demo that serves the API names a free port or a socket.
	APIListen string
	// Listen turns service.exec.listen on at the app's address: the
	// daemon owns the app's socket and passes it to every version it
	// starts (the example app accepts it), so no connection is refused
	// during an update or a rollback.
	Listen bool
	// Prebuilt, when set, makes the sandbox download signed release
	// assets (artifact: prebuilt) from the GitHub API at Prebuilt.APIURL
	// instead of building: no build commands, the asset names
	// PrebuiltBackend and PrebuiltFrontend, the key Prebuilt.PublicKey.
	Prebuilt *PrebuiltSource
}

// PrebuiltSource is where a prebuilt sandbox gets its releases.
type PrebuiltSource struct {
	// APIURL is the GitHub API (a githubtest.Server's APIURL).
	APIURL string
	// PublicKey is the minisign public key line ("RW...").
	PublicKey string
	// MaxSize is prebuilt.maxSize; 0 keeps the default.
	MaxSize config.Size
	// CacheTTL is releases.cacheTTL; 0 keeps the default (30m). A test
	// that publishes releases as it goes sets it short.
	CacheTTL time.Duration
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
// the standard library for every test. The API is off (see
// Options.APIListen).
func Config(root, install string, port int, t Timings) ([]byte, error) {
	return ConfigWith(root, install, port, Options{Timings: t})
}

// ConfigWith is Config with Options beyond the health gate timings.
func ConfigWith(root, install string, port int, o Options) ([]byte, error) {
	t := o.Timings
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
	cfg.Build.Env = append(cfg.Build.Env, goEnv(o.ShareBuilds)...)
	cfg.Health.Interval.Duration = t.Interval
	cfg.Health.Deadline.Duration = t.Deadline
	cfg.Health.SuccessThreshold = t.SuccessThreshold
	cfg.Service.StopTimeout.Duration = 5 * time.Second
	cfg.API.Listen = &o.APIListen
	if o.Listen {
		cfg.Service.Exec.Listen = addr
	}
	if p := o.Prebuilt; p != nil {
		cfg.Artifact = config.ArtifactPrebuilt
		cfg.Prebuilt = config.Prebuilt{PublicKey: p.PublicKey, Backend: PrebuiltBackend, Frontend: PrebuiltFrontend, MaxSize: p.MaxSize}
		cfg.Build.Backend.Command, cfg.Build.Frontend.Command, cfg.Build.Env = nil, nil, nil
		cfg.Releases.Source = config.SourceGitHub
		cfg.Releases.GitHub.APIURL = p.APIURL
		cfg.Releases.CacheTTL.Duration = p.CacheTTL
	}
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

// goEnv returns GOCACHE= and GOMODCACHE= entries naming the Go caches of
// the user running the sandbox, and with trimPath a GOFLAGS= entry that adds
// -trimpath to the user's GOFLAGS; none when go cannot say.
func goEnv(trimPath bool) []string {
	u := userGoEnv()
	if u.caches == nil {
		return nil
	}
	env := slices.Clone(u.caches)
	if trimPath {
		env = append(env, "GOFLAGS="+strings.TrimSpace(u.flags+" -trimpath"))
	}
	return env
}

// goSettings is what `go env` says of the user running the sandbox.
type goSettings struct {
	caches []string // GOCACHE= and GOMODCACHE=, nil when go cannot say
	flags  string   // GOFLAGS
}

// userGoEnv asks `go env` once per process: a test that prepares a
// hundred sandboxes would otherwise start go a hundred times for the same
// answer.
var userGoEnv = sync.OnceValue(func() goSettings {
	out, err := exec.Command("go", "env", "GOCACHE", "GOMODCACHE", "GOFLAGS").Output()
	if err != nil {
		return goSettings{}
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != 3 || !filepath.IsAbs(lines[0]) || !filepath.IsAbs(lines[1]) {
		return goSettings{}
	}
	return goSettings{caches: []string{"GOCACHE=" + lines[0], "GOMODCACHE=" + lines[1]}, flags: lines[2]}
})
