package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/sandbox"
)

var binary string

// TestMain builds the real binary once; the tests run it as a user would.
func TestMain(m *testing.M) {
	var err error
	if binary, err = sandbox.VersionedUpdaterBinary("v0.0.0-test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(sandbox.RunTests(m))
}

// runCLI runs the binary under test with args and returns its combined
// output and exit code.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return runExe(t, binary, args...)
}

func writeConfig(t *testing.T) (cfgPath, desired string) {
	t.Helper()
	dir := t.TempDir()
	cfgPath = filepath.Join(dir, "updater.yaml")
	cfg := `apiVersion: updates.better-paas.io/v1
kind: UpdaterConfig
installDir: install
stateDir: state
desiredFile: desired.yaml
build:
  backend:
    command: ["go", "build", "-o", "$(OUTPUT)", "./backend"]
health:
  url: http://127.0.0.1:8080/api/health
api:
  listen: "" # tests that start a daemon must not collide on 127.0.0.1:8079
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfgPath, filepath.Join(dir, "desired.yaml")
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: v1.4.2\n"), 0o644)
	os.WriteFile(bad, []byte("apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: 1.4.2\n"), 0o644)

	out, code := runCLI(t, "validate", "-f", good)
	if code != 0 || !strings.Contains(out, "spec.version = v1.4.2") {
		t.Errorf("good: code %d, %s", code, out)
	}
	out, code = runCLI(t, "validate", "-f", bad)
	if code != 1 || !strings.Contains(out, bad) || !strings.Contains(out, `did you mean "v1.4.2"`) {
		t.Errorf("bad: code %d, %s", code, out)
	}
	out, code = runCLI(t, "validate", "-f", filepath.Join(dir, "missing.yaml"))
	if code != 1 || !strings.Contains(out, "no such file") {
		t.Errorf("missing: code %d, %s", code, out)
	}
}

func TestSetWritesDesiredAndKeepsMetadata(t *testing.T) {
	cfg, desired := writeConfig(t)
	out, code := runCLI(t, "set", "v1.2.3", "--config", cfg)
	if code != 0 {
		t.Fatalf("set: code %d, %s", code, out)
	}
	b, _ := os.ReadFile(desired)
	if !strings.Contains(string(b), "version: v1.2.3") || !strings.Contains(string(b), "kind: DesiredVersion") {
		t.Errorf("desired.yaml = %s", b)
	}
	os.WriteFile(desired, []byte("apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nmetadata:\n  name: web-1\nspec:\n  version: v1.2.3\n"), 0o644)
	if out, code := runCLI(t, "set", "latest", "--config", cfg); code != 0 {
		t.Fatalf("set latest: %d %s", code, out)
	}
	b, _ = os.ReadFile(desired)
	if !strings.Contains(string(b), "name: web-1") || !strings.Contains(string(b), "version: latest") {
		t.Errorf("metadata lost or version not set: %s", b)
	}

	// retry stamps the annotation and keeps the rest.
	if out, code := runCLI(t, "retry", "--config", cfg); code != 0 || !strings.Contains(out, "asked to retry the newest release that failed (latest)") {
		t.Fatalf("retry: %d %s", code, out)
	}
	b, _ = os.ReadFile(desired)
	if !strings.Contains(string(b), "updates.better-paas.io/retry-at:") || !strings.Contains(string(b), "name: web-1") {
		t.Errorf("retry did not stamp the annotation: %s", b)
	}

	// An invalid version is refused and the file is left as it was.
	out, code = runCLI(t, "set", "v1.2", "--config", cfg)
	after, _ := os.ReadFile(desired)
	if code != 1 || !strings.Contains(out, `write the full tag "v1.2.0"`) || string(after) != string(b) {
		t.Errorf("invalid set: code %d, %s, file %s", code, out, after)
	}
}

func TestStatusAndConfigErrors(t *testing.T) {
	cfg, _ := writeConfig(t)
	out, code := runCLI(t, "status", "--config", cfg)
	if code != 1 || !strings.Contains(out, "no status yet") {
		t.Errorf("status without a daemon: code %d, %s", code, out)
	}
	out, code = runCLI(t, "status", "--config", filepath.Join(t.TempDir(), "none.yaml"))
	if code != 1 || !strings.Contains(out, "none.yaml") {
		t.Errorf("missing config: code %d, %s", code, out)
	}
	out, code = runCLI(t, "run", "--once", "--config", cfg, "--log-encoding", "xml")
	if code != 1 || !strings.Contains(out, "--log-encoding") {
		t.Errorf("bad flag value: code %d, %s", code, out)
	}
	// A stall exits 2 and says why; status then shows the same reason.
	os.WriteFile(filepath.Join(filepath.Dir(cfg), "desired.yaml"), []byte("apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: v1.0.0\n"), 0o644)
	out, code = runCLI(t, "run", "--once", "--config", cfg)
	if code != exitStalled || !strings.Contains(out, "NotGitCheckout") {
		t.Errorf("run --once on a missing install: code %d, %s", code, out)
	}
	out, code = runCLI(t, "status", "-o", "json", "--config", cfg)
	if code != 0 || !strings.Contains(out, `"reason": "NotGitCheckout"`) {
		t.Errorf("status -o json: code %d, %s", code, out)
	}
	out, code = runCLI(t, "--version")
	if code != 0 || !strings.Contains(out, "v0.0.0-test") {
		t.Errorf("--version: code %d, %s", code, out)
	}
}

// A second process on the same state folder fails fast and names the holder.
func TestSecondDaemonFailsFast(t *testing.T) {
	cfg, _ := writeConfig(t)
	daemon := exec.Command(binary, "run", "--config", cfg)
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = daemon.Process.Kill()
		_ = daemon.Wait()
	}()
	lockFile := filepath.Join(filepath.Dir(cfg), "state", "lock")
	want := fmt.Sprintf("pid: %d", daemon.Process.Pid)
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for b, _ := os.ReadFile(lockFile); !strings.Contains(string(b), want); b, _ = os.ReadFile(lockFile) {
		select {
		case <-deadline:
			t.Fatalf("the daemon never took the lock: %q", b)
		case <-tick.C: // poll the lock file until the daemon writes its pid
		}
	}
	out, code := runCLI(t, "run", "--once", "--config", cfg)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("held by pid %d (daemon)", daemon.Process.Pid)) {
		t.Errorf("second run: code %d, %s", code, out)
	}
}

func TestRepoCommands(t *testing.T) {
	cfg, _ := writeConfig(t)
	if out, code := runCLI(t, "repo", "set", "https://github.com/acme/app.git", "--config", cfg); code != 0 || !strings.Contains(out, "stored acme/app") {
		t.Fatalf("repo set: %d %s", code, out)
	}
	out, code := runCLI(t, "repo", "show", "--config", cfg)
	if code != 0 || !strings.Contains(out, "acme/app (from the stored value") {
		t.Errorf("repo show: %d %s", code, out)
	}
	cmd := exec.Command(binary, "repo", "show", "--config", cfg)
	cmd.Env = append(os.Environ(), "UPDATE_REPO=other/fork")
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "other/fork (from the environment variable UPDATE_REPO)") {
		t.Errorf("UPDATE_REPO does not win: %v %s", err, b)
	}
	if out, code := runCLI(t, "repo", "set", "-bad-/x", "--config", cfg); code != 1 || !strings.Contains(out, "-bad-") {
		t.Errorf("invalid repo: %d %s", code, out)
	}
	if out, code := runCLI(t, "repo", "clear", "--config", cfg); code != 0 {
		t.Fatalf("repo clear: %d %s", code, out)
	}
	if out, code := runCLI(t, "repo", "show", "--config", cfg); code != 1 || !strings.Contains(out, "UPDATE_REPO") {
		t.Errorf("repo show with nothing set: %d %s", code, out)
	}
}

// check answers from the git tags of a real origin: exit 100 while a newer
// release exists, with the same answer as JSON for scripts.
func TestCheckExitCodes(t *testing.T) {
	cfg, _ := writeConfig(t)
	dir := filepath.Dir(cfg)
	ctx := context.Background()
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(dir, "origin.git"), sandbox.DefaultReleases())
	if err != nil {
		t.Fatal(err)
	}
	if err := sandbox.Clone(ctx, origin, filepath.Join(dir, "install"), "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "check", "--config", cfg)
	if code != exitUpdateAvailable || !strings.Contains(out, "newest:    v1.2.0") || !strings.Contains(out, "git tags of "+origin) {
		t.Errorf("check: code %d, %s", code, out)
	}
	// JSON is an answer for scripts: exit 100 says "update available", and
	// nothing is printed on stderr.
	jsonCmd := exec.Command(binary, "check", "-o", "json", "--config", cfg)
	var stderr strings.Builder
	jsonCmd.Stderr = &stderr
	if err := jsonCmd.Run(); stderr.Len() != 0 {
		t.Errorf("check -o json (%v) printed on stderr: %q", err, stderr.String())
	}
	out, code = runCLI(t, "check", "-o", "json", "--config", cfg)
	var res struct {
		LatestVersion   string `json:"latestVersion"`
		UpdateAvailable bool   `json:"updateAvailable"`
	}
	if i := strings.Index(out, "{"); code != 100 || i < 0 || json.Unmarshal([]byte(out[i:strings.LastIndex(out, "}")+1]), &res) != nil || !res.UpdateAvailable || res.LatestVersion != "v1.2.0" {
		t.Errorf("check -o json: code %d, %s", code, out)
	}
	os.RemoveAll(origin)
	if out, code := runCLI(t, "check", "--config", cfg); code != 1 || !strings.Contains(out, "cannot check for updates") {
		t.Errorf("check without the origin: code %d, %s", code, out)
	}
}

// TestRunRefusesAStatusFileFromANewerUpdater: after a downgrade of the
// updater, the status.yaml a newer one wrote is kept as it is (with its
// failure records and known tags) and the daemon says why it will not run.
func TestRunRefusesAStatusFileFromANewerUpdater(t *testing.T) {
	cfgPath, _ := writeConfig(t)
	state := filepath.Join(filepath.Dir(cfgPath), "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	statusPath := filepath.Join(state, "status.yaml")
	newer := "apiVersion: updates.better-paas.io/v2\nkind: VersionStatus\ncurrentVersion: v1.4.2\nfailedVersions:\n- version: v1.5.0\n"
	if err := os.WriteFile(statusPath, []byte(newer), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"run", "--once"}, {"run"}} {
		out, code := runCLI(t, append(args, "--config", cfgPath)...)
		if code != 1 || !strings.Contains(out, "newer updater") || !strings.Contains(out, statusPath) {
			t.Errorf("%v: exit %d, want 1 with a message naming %s and the cause:\n%s", args, code, statusPath, out)
		}
		if b, _ := os.ReadFile(statusPath); string(b) != newer {
			t.Errorf("%v: status.yaml changed:\n%s", args, b)
		}
		if aside, _ := filepath.Glob(statusPath + ".corrupt-*"); len(aside) > 0 {
			t.Errorf("%v: status.yaml was set aside as corrupt: %v", args, aside)
		}
	}
}

// set writes the spec anew: a pin or a downgrade permission meant for one
// version does not carry over to the next, and a symlinked desired.yaml
// (a link into a config repo) is written through, the link kept.
func TestSetReplacesTheSpecAndWritesThroughASymlink(t *testing.T) {
	cfg, desired := writeConfig(t)
	repo := filepath.Join(t.TempDir(), "config-repo", "hosts", "web-1.yaml")
	if err := os.MkdirAll(filepath.Dir(repo), 0o755); err != nil {
		t.Fatal(err)
	}
	pinned := "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nmetadata:\n  name: web-1\nspec:\n  version: v1.2.3\n" +
		"  commit: 0123456789abcdef0123456789abcdef01234567\n  allowDowngrade: true\n  channel: prerelease\n"
	if err := os.WriteFile(repo, []byte(pinned), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(repo, desired); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, "set", "v1.3.0", "--config", cfg); code != 0 {
		t.Fatalf("set: %d %s", code, out)
	}
	if fi, err := os.Lstat(desired); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("desired.yaml is no longer a symlink: %v %v", fi, err)
	}
	b, _ := os.ReadFile(repo)
	got := string(b)
	for _, want := range []string{"version: v1.3.0", "name: web-1", "channel: prerelease"} {
		if !strings.Contains(got, want) {
			t.Errorf("the link's target lacks %q:\n%s", want, got)
		}
	}
	for _, stale := range []string{"commit:", "allowDowngrade"} {
		if strings.Contains(got, stale) {
			t.Errorf("%s carried over to the new version:\n%s", stale, got)
		}
	}
	if out, code := runCLI(t, "set", "v1.0.0", "--allow-downgrade", "--config", cfg); code != 0 {
		t.Fatalf("set --allow-downgrade: %d %s", code, out)
	}
	if b, _ := os.ReadFile(repo); !strings.Contains(string(b), "allowDowngrade: true") {
		t.Errorf("--allow-downgrade not written:\n%s", b)
	}
}

// TestCheckOnANewHostKeepsItsCache: on a host where the state folder does
// not exist yet, check creates it (with its layout) and keeps GitHub's
// answer for 30 minutes, so the next check asks nothing and a later outage
// has a cached answer to fall back to.
func TestCheckOnANewHostKeepsItsCache(t *testing.T) {
	var requests atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/repos/acme/app/releases" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"v1"`)
		fmt.Fprint(w, `[{"id":1,"tag_name":"v1.2.0","name":"v1.2.0","target_commitish":"main","draft":false,"prerelease":false,`+
			`"created_at":"2026-11-01T00:00:00Z","published_at":"2026-11-01T00:00:00Z","html_url":"https://github.com/acme/app/releases/tag/v1.2.0","body":"notes","assets":[]}]`)
	}))
	defer api.Close()
	dir := t.TempDir()
	ctx := context.Background()
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(dir, "origin.git"), sandbox.DefaultReleases())
	if err != nil {
		t.Fatal(err)
	}
	if err := sandbox.Clone(ctx, origin, filepath.Join(dir, "install"), "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "updater.yaml")
	state := filepath.Join(dir, "var", "lib", "better-paas-updater")
	writeFile(t, cfgPath, fmt.Sprintf(`apiVersion: updates.better-paas.io/v1
kind: UpdaterConfig
installDir: install
stateDir: %s
build:
  backend:
    command: ["go", "build", "-o", "$(OUTPUT)", "./backend"]
health:
  url: http://127.0.0.1:8080/api/health
releases:
  source: github
  github:
    apiURL: %s
`, state, api.URL))
	for i := range 2 {
		cmd := exec.Command(binary, "check", "--config", cfgPath)
		cmd.Env = append(os.Environ(), "UPDATE_REPO=acme/app")
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 100 || !strings.Contains(string(out), "newest:    v1.2.0") {
			t.Fatalf("check #%d: %v\n%s", i+1, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "github-releases.json")); err != nil {
		t.Errorf("the answer was not cached: %v", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("GitHub was asked %d times for two checks within 30 minutes, want 1", n)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("state folder: %v %v, want mode 0750", fi, err)
	}
}
