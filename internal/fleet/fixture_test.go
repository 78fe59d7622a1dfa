package fleet

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/status"
)

// fleetRepo is a fleet repo made with the git CLI: a bare repo (what the
// hosts fetch) and a work clone that commits and pushes to it.
type fleetRepo struct {
	t    *testing.T
	Bare string
	Work string
	n    int
}

func newFleetRepo(t *testing.T) *fleetRepo {
	t.Helper()
	dir := t.TempDir()
	r := &fleetRepo{t: t, Bare: filepath.Join(dir, "fleet.git"), Work: filepath.Join(dir, "work")}
	r.git(dir, "init", "--bare", "-b", "main", r.Bare)
	r.git(dir, "init", "-b", "main", r.Work)
	r.git(r.Work, "remote", "add", "origin", r.Bare)
	return r
}

// git runs the git CLI in dir, without the caller's configuration.
func (r *fleetRepo) git(dir string, args ...string) string {
	r.t.Helper()
	return runGit(r.t, dir, nil, args...)
}

func runGit(t *testing.T, dir string, extra []string, args ...string) string {
	t.Helper()
	full := append([]string{"-c", "init.defaultBranch=main", "-c", "commit.gpgSign=false"}, args...)
	cmd := exec.Command("git", full...)
	cmd.Dir = dir
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=Fleet Ops", "GIT_AUTHOR_EMAIL=ops@fleet.example",
		"GIT_COMMITTER_NAME=Fleet Ops", "GIT_COMMITTER_EMAIL=ops@fleet.example")
	cmd.Env = append(cmd.Env, extra...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(out.String())
}

// write sets files (path → content; "" removes the file) in the work tree.
func (r *fleetRepo) write(files map[string]string) {
	r.t.Helper()
	for p, content := range files {
		full := filepath.Join(r.Work, filepath.FromSlash(p))
		if content == "" {
			if err := os.Remove(full); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	r.git(r.Work, "add", "-A")
}

// commit commits files and pushes; extra are git -c settings (signing).
// It returns the commit's hash.
func (r *fleetRepo) commit(files map[string]string, extra ...string) string {
	r.t.Helper()
	r.write(files)
	r.n++
	args := append(extra, "commit", "-q", "--allow-empty", "-m", "fleet change "+strconv.Itoa(r.n))
	r.git(r.Work, args...)
	r.git(r.Work, "push", "-q", "origin", "HEAD:main")
	return r.git(r.Work, "rev-parse", "HEAD")
}

// host is one host's view: its updater.yaml source and its state folder.
type host struct {
	Source  config.GitSource
	State   string
	Desired string
	Status  string
}

func newHost(t *testing.T, url, hostname, group string) host {
	t.Helper()
	state := t.TempDir()
	return host{
		Source: config.GitSource{
			URL: url, Branch: "main", Paths: append([]string(nil), config.DefaultFleetPaths...),
			Interval: config.Duration{Duration: time.Minute}, Timeout: config.Duration{Duration: 30 * time.Second},
			Hostname: hostname, HostID: hostname, Group: group,
		},
		State: state, Desired: filepath.Join(state, "desired.yaml"), Status: filepath.Join(state, "status.yaml"),
	}
}

func (h host) syncer(t *testing.T) *Syncer {
	t.Helper()
	s, err := New(Options{Source: h.Source, DesiredFile: h.Desired, StatusPath: h.Status, CloneDir: CloneDir(h.State),
		Now: func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func syncOK(t *testing.T, s *Syncer) status.FleetStatus {
	t.Helper()
	res, err := s.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync: %v", err)
	}
	return res
}

// fleetFile is a FleetDesiredVersion document.
func fleetFile(version string, percent int, canaries ...string) string {
	s := "apiVersion: updates.better-paas.io/v1\nkind: FleetDesiredVersion\nspec:\n  version: " + version + "\nrollout:\n  percent: " + strconv.Itoa(percent) + "\n"
	if len(canaries) > 0 {
		s += "  canaries: [" + strings.Join(canaries, ", ") + "]\n"
	}
	return s
}

// plainFile is a desired.yaml document.
func plainFile(version string) string {
	return "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: " + version + "\n"
}
