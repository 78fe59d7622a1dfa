package config

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/better-paas/updater/internal/command"
)

// unsetenv removes name from the environment for the rest of the test.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // restores the old value after the test
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

// TestBuildWithoutHomeSucceeds: under a bare systemd unit the daemon has no
// HOME, and `go build` used to fail ("build cache is required, but could
// not be located"), blaming the release. With the build environment's
// defaults the same build succeeds, its caches in the state folder.
//
// It compiles the standard library into an empty cache (about 20 s).
func TestBuildWithoutHomeSucceeds(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the standard library from scratch")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go not installed")
	}
	for _, name := range []string{"HOME", "GOCACHE", "GOMODCACHE", "GOPATH", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "GOENV"} {
		unsetenv(t, name)
	}
	root := t.TempDir()
	install := filepath.Join(root, "app")
	if err := os.MkdirAll(install, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"go.mod":  "module example.com/tiny\n\ngo 1.21\n",
		"main.go": "package main\n\nfunc main() {}\n",
	} {
		if err := os.WriteFile(filepath.Join(install, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Parse(filepath.Join(root, "updater.yaml"), []byte(`apiVersion: updates.better-paas.io/v1
kind: UpdaterConfig
installDir: app
stateDir: state
build:
  backend:
    command: ["go", "build", "-o", "$(OUTPUT)", "."]
service:
  exec:
    env: ["ADDR=127.0.0.1:8080"]
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	out := filepath.Join(install, "server.new")
	var log bytes.Buffer
	err = command.Run(context.Background(), command.Cmd{
		Argv: command.Expand(c.Build.Backend.Command, map[string]string{"OUTPUT": out}),
		Dir:  c.InstallDir,
		Env:  c.BuildEnv(os.Environ()),
		// Output is only read after Run returned.
		Output: &log,
	})
	if err != nil {
		t.Fatalf("build without HOME: %v\n%s", err, log.String())
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the build wrote no binary: %v", err)
	}
	if _, err := os.Stat(filepath.Join(c.StateDir, "cache", "go-build")); err != nil {
		t.Errorf("the Go build cache is not in the state folder: %v", err)
	}
}

// TestBuildEnvDefaults: the defaults fill only what neither the daemon's
// environment nor build.env sets; build.env wins over both.
func TestBuildEnvDefaults(t *testing.T) {
	c, err := Parse("/etc/bp/updater.yaml", []byte(withBuildEnv(base, `["GOFLAGS=-mod=vendor", "GOCACHE=$(STATE_DIR)/gocache"]`)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	lookup := func(env []string, name string) string {
		v := ""
		for _, kv := range env {
			if n, val, _ := strings.Cut(kv, "="); n == name {
				v = val // the last one wins, as in exec
			}
		}
		return v
	}
	tests := []struct {
		name    string
		environ []string
		want    map[string]string
	}{
		{"bare systemd unit", nil, map[string]string{
			"HOME":             "/etc/bp/state/home",
			"PATH":             "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"GOCACHE":          "/etc/bp/state/gocache",
			"GOMODCACHE":       "/etc/bp/state/cache/go-mod",
			"npm_config_cache": "/etc/bp/state/cache/npm",
			"GOFLAGS":          "-mod=vendor",
		}},
		{"daemon with HOME and PATH", []string{"HOME=/home/bp", "PATH=/opt/go/bin:/usr/bin", "GOMODCACHE=/srv/gomod", "GOFLAGS=-x"}, map[string]string{
			"HOME":       "/home/bp",
			"PATH":       "/opt/go/bin:/usr/bin",
			"GOCACHE":    "/etc/bp/state/gocache",
			"GOMODCACHE": "/srv/gomod",
			"GOFLAGS":    "-mod=vendor",
		}},
		{"empty HOME counts as unset", []string{"HOME=", "PATH="}, map[string]string{
			"HOME": "/etc/bp/state/home",
			"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := append(append([]string(nil), tt.environ...), c.BuildEnv(tt.environ)...)
			for name, want := range tt.want {
				if got := lookup(env, name); got != want {
					t.Errorf("%s = %q, want %q (env %q)", name, got, want, env)
				}
			}
		})
	}
}
