package sandbox

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/config"
)

// TestConfigShareBuilds: builds get the user's Go caches either way, and
// -trimpath after the user's own GOFLAGS only when asked, so that installs
// in different folders share compiled packages.
func TestConfigShareBuilds(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not installed")
	}
	out, err := exec.Command("go", "env", "GOCACHE", "GOFLAGS").Output()
	if err != nil {
		t.Fatal(err)
	}
	goenv := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	root := t.TempDir()
	timings := Timings{Interval: 100 * time.Millisecond, Deadline: 2 * time.Second, SuccessThreshold: 2}
	buildEnv := func(raw []byte, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse(filepath.Join(root, "updater.yaml"), raw)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Build.Env
	}
	flags := func(env []string) (string, bool) {
		i := slices.IndexFunc(env, func(e string) bool { return strings.HasPrefix(e, "GOFLAGS=") })
		if i < 0 {
			return "", false
		}
		return strings.TrimPrefix(env[i], "GOFLAGS="), true
	}

	plain := buildEnv(Config(root, filepath.Join(root, "install"), 8080, timings))
	if !slices.Contains(plain, "GOCACHE="+goenv[0]) {
		t.Errorf("build.env %q does not share GOCACHE=%s", plain, goenv[0])
	}
	if f, ok := flags(plain); ok {
		t.Errorf("Config sets GOFLAGS=%s; only ShareBuilds should", f)
	}

	shared := buildEnv(ConfigWith(root, filepath.Join(root, "install"), 8080, Options{Timings: timings, ShareBuilds: true}))
	f, ok := flags(shared)
	if !ok || !strings.HasSuffix(f, "-trimpath") || !strings.HasPrefix(f, strings.TrimSpace(goenv[1])) {
		t.Errorf("GOFLAGS=%q (set %v), want the user's %q then -trimpath", f, ok, goenv[1])
	}
	if !slices.Contains(shared, "GOCACHE="+goenv[0]) {
		t.Errorf("build.env %q does not share GOCACHE=%s", shared, goenv[0])
	}
}

// TestConfigAPIOffUnlessAsked: a sandbox does not serve the API on the
// shipped 127.0.0.1:8079 (two sandboxes, or a sandbox beside a real
// daemon, would collide) unless Options.APIListen names an address.
func TestConfigAPIOffUnlessAsked(t *testing.T) {
	root := t.TempDir()
	timings := Timings{Interval: 100 * time.Millisecond, Deadline: 2 * time.Second, SuccessThreshold: 2}
	for _, listen := range []string{"", "127.0.0.1:0", "unix:" + filepath.Join(root, "api.sock")} {
		raw, err := ConfigWith(root, filepath.Join(root, "install"), 8080, Options{Timings: timings, APIListen: listen})
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Parse(filepath.Join(root, "updater.yaml"), raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.API.Address(); got != listen {
			t.Errorf("APIListen %q: api.listen = %q", listen, got)
		}
	}
}
