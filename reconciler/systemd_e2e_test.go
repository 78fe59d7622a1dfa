package reconciler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// These tests run the daemon against a real systemd 252, PID 1 of a private
// PID and mount namespace started by ../shared/tools/systemd-sandbox (its
// own /tmp and /run, so every folder lives under /var/tmp). The daemon runs
// inside the namespace (`systemd-sandbox exec`), so its systemctl talks to
// that systemd; the app's port is on the shared network.

// systemdSandbox is a running sandboxed systemd.
type systemdSandbox struct {
	t *testing.T
	*sandbox.Systemd
}

// startSystemd starts a sandboxed systemd with the unit files in units, or
// skips the test saying why it cannot.
func startSystemd(t *testing.T, units string) *systemdSandbox {
	t.Helper()
	sd, err := sandbox.StartSystemd(units)
	if errors.Is(err, sandbox.ErrNoSystemd) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sd.Stop)
	return &systemdSandbox{t: t, Systemd: sd}
}

// run runs argv inside the sandbox with env (added to this process's,
// without UPDATE_REPO) and returns its combined output and exit code.
func (s *systemdSandbox) run(env []string, argv ...string) (string, int) {
	s.t.Helper()
	cmd := s.Command(argv...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "UPDATE_REPO=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("%v: %v", argv, err)
	}
	return string(out), 0
}

// show returns a unit property.
func (s *systemdSandbox) show(unit, prop string) string {
	s.t.Helper()
	out, _ := s.run(nil, "systemctl", "show", "-p", prop, "--value", unit)
	return strings.TrimSpace(out)
}

// systemdHost is an install of the example app whose backend is a unit.
type systemdHost struct {
	t       *testing.T
	sd      *systemdSandbox
	bin     string // the daemon, copied where the sandbox sees it
	cfgPath string
	cfg     *config.Config
	unit    string
	port    int
}

// newSystemdHost makes an origin with rels, a clone at rels[0] under
// /var/tmp, a config with service.manager: systemd, and a unit running the
// install's ./server with the exec config's environment plus unitEnv.
func newSystemdHost(t *testing.T, rels []sandbox.Release, deadline time.Duration, unitEnv ...string) *systemdHost {
	t.Helper()
	return newSystemdHostOfType(t, "notify", rels, deadline, unitEnv...)
}

// newSystemdHostOfType is newSystemdHost with the unit's Type= (notify: the
// example app sends READY=1 once it listens, so systemctl start returns
// when it takes requests; exec: systemctl start returns once the program
// runs, and the health gate watches the unit).
func newSystemdHostOfType(t *testing.T, unitType string, rels []sandbox.Release, deadline time.Duration, unitEnv ...string) *systemdHost {
	t.Helper()
	ctx := context.Background()
	root, err := os.MkdirTemp("/var/tmp", "bpu-systemd-")
	if err != nil {
		t.Skipf("systemd sandbox: cannot make a folder under /var/tmp: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	install := filepath.Join(root, "install")
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(root, "origin.git"), rels)
	if err != nil {
		t.Fatal(err)
	}
	if err := sandbox.Clone(ctx, origin, install, rels[0].Tag); err != nil {
		t.Fatal(err)
	}
	h := &systemdHost{t: t, cfgPath: filepath.Join(root, "updater.yaml"), unit: "bp-backend-test.service", port: freePort(t)}
	raw, err := sandbox.ConfigWith(root, install, h.port, sandbox.Options{
		Timings:     sandbox.Timings{Interval: 100 * time.Millisecond, Deadline: deadline, SuccessThreshold: 2},
		ShareBuilds: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	svc := doc["service"].(map[string]any)
	svc["manager"] = config.ManagerSystemd
	svc["systemd"] = map[string]any{"unit": h.unit}
	if raw, err = yaml.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, h.cfgPath, string(raw))
	if h.cfg, err = config.Load(h.cfgPath); err != nil {
		t.Fatal(err)
	}

	units := filepath.Join(root, "units")
	env := append(append([]string{}, h.cfg.Service.Exec.Env...), unitEnv...)
	for i, kv := range env {
		env[i] = fmt.Sprintf("%q", kv)
	}
	mustWrite(t, filepath.Join(units, h.unit), fmt.Sprintf(`[Unit]
Description=Better-PaaS backend (test)
DefaultDependencies=no

[Service]
Type=%s
ExecStart=%s
WorkingDirectory=%s
Environment=%s
Restart=on-failure
RestartSec=200ms
`, unitType, h.cfg.BackendBinary(), install, strings.Join(env, " ")))

	bin, err := sandbox.UpdaterBinary()
	if err != nil {
		t.Fatal(err)
	}
	h.bin = filepath.Join(root, "better-paas-updater") // /tmp is private in the sandbox
	if err := copyExecutable(bin, h.bin); err != nil {
		t.Fatal(err)
	}
	h.sd = startSystemd(t, units)
	t.Cleanup(func() { h.sd.run(nil, "systemctl", "stop", h.unit) })
	return h
}

func copyExecutable(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// reconcile pins version and runs `run --once` in the sandbox; it returns
// the exit code, the output and how long it took.
func (h *systemdHost) reconcile(version string) (int, string, time.Duration) {
	h.t.Helper()
	if err := spec.Write(h.cfg.DesiredFile, spec.New(version)); err != nil {
		h.t.Fatal(err)
	}
	start := time.Now()
	out, code := h.sd.run(nil, h.bin, "run", "--once", "--config", h.cfgPath)
	return code, out, time.Since(start)
}

func (h *systemdHost) status() *status.VersionStatus {
	h.t.Helper()
	st, err := status.Load(reconciler.StatusPath(h.cfg))
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// serving returns the version the app's health endpoint reports.
func (h *systemdHost) serving() string {
	h.t.Helper()
	resp, err := http.Get(h.cfg.Health.URL)
	if err != nil {
		h.t.Fatalf("the app does not answer: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Version string `json:"version"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Version
}

// mustRun asserts a unit that runs the install's binary at want.
func (h *systemdHost) mustRun(want string) {
	h.t.Helper()
	if got := h.sd.show(h.unit, "ActiveState"); got != "active" {
		h.t.Fatalf("%s is %s, want active", h.unit, got)
	}
	if got := h.status().CurrentVersion; got != want {
		h.t.Errorf("status.currentVersion = %q, want %q", got, want)
	}
	if got := h.serving(); got != want {
		h.t.Errorf("the unit serves %q, want %q", got, want)
	}
}

func TestSystemdUnitUpdateAndRollback(t *testing.T) {
	h := newSystemdHost(t, sandbox.DefaultReleases(), 10*time.Second)

	if code, out, _ := h.reconcile("v1.0.0"); code != 0 {
		t.Fatalf("install v1.0.0: exit %d\n%s", code, out)
	}
	h.mustRun("v1.0.0")
	pid := h.sd.show(h.unit, "MainPID")

	if code, out, _ := h.reconcile("v1.1.0"); code != 0 {
		t.Fatalf("update to v1.1.0: exit %d\n%s", code, out)
	}
	h.mustRun("v1.1.0")
	if got := h.sd.show(h.unit, "MainPID"); got == pid {
		t.Errorf("MainPID is still %s: the unit was not restarted", got)
	}

	code, out, _ := h.reconcile("v1.2.0")
	if code == 1 {
		t.Fatalf("update to v1.2.0: exit %d\n%s", code, out)
	}
	h.mustRun("v1.1.0")
	if f := h.status().FailedVersions; len(f) != 1 || f[0].Version != "v1.2.0" || f[0].Step != "health" {
		t.Errorf("failedVersions = %+v, want v1.2.0 failing its health", f)
	}
}

// crashingRelease installs v1.0.0 in a unit of unitType, asks for a
// release that exits on start, and returns its failure record once the
// update was rolled back, failing the test unless that happened well
// before the health deadline and v1.0.0 runs again.
func crashingRelease(t *testing.T, unitType string) (*systemdHost, status.FailedVersion) {
	t.Helper()
	const deadline = 40 * time.Second
	rels := append(sandbox.DefaultReleases()[:1], sandbox.CrashOnStart("v1.1.0"))
	h := newSystemdHostOfType(t, unitType, rels, deadline)
	if code, out, _ := h.reconcile("v1.0.0"); code != 0 {
		t.Fatalf("install v1.0.0: exit %d\n%s", code, out)
	}
	h.mustRun("v1.0.0")
	code, out, took := h.reconcile("v1.1.0")
	if code == 1 {
		t.Fatalf("update to v1.1.0: exit %d\n%s", code, out)
	}
	if took > deadline/2 {
		t.Errorf("the update took %s: the crash was not noticed before the %s deadline", took, deadline)
	}
	h.mustRun("v1.0.0")
	f := h.status().FailedVersions
	if len(f) != 1 || f[0].Version != "v1.1.0" {
		t.Fatalf("failedVersions = %+v, want v1.1.0", f)
	}
	t.Logf("v1.1.0 rolled back after %s: %s", took, f[0].Message)
	return h, f[0]
}

// TestSystemdCrashingReleaseIsRolledBackAtOnce: the example app's unit is
// Type=notify (it sends READY=1 once it listens), so a release that exits
// on start makes systemctl start fail; the updater blames the release
// (CrashedOnStart, as a failed health check would) instead of retrying the
// host, and rolls back well before the health deadline.
func TestSystemdCrashingReleaseIsRolledBackAtOnce(t *testing.T) {
	h, f := crashingRelease(t, "notify")
	if f.Step != "start" || f.Reason != reconciler.ReasonCrashedOnStart || !strings.Contains(f.Message, h.unit) {
		t.Errorf("failure %+v, want v1.1.0 crashed on start, naming what systemd saw", f)
	}
}

// TestSystemdCrashLoopFailsTheGateAtOnce: under a Type=exec unit,
// systemctl start succeeds as soon as the program runs; a release that
// then exits is restarted by Restart=on-failure, and the health gate, which
// watches the unit (NRestarts, auto-restart), fails at once instead of at
// its deadline. On a loaded machine systemd may already have seen the
// program exit when systemctl start returns (the start job then fails):
// the start step blames the release at once (CrashedOnStart), which is
// as right and as quick, so either step passes.
func TestSystemdCrashLoopFailsTheGateAtOnce(t *testing.T) {
	h, f := crashingRelease(t, "exec")
	atStart := f.Step == "start" && f.Reason == reconciler.ReasonCrashedOnStart
	if f.Step != "health" && !atStart || !strings.Contains(f.Message, h.unit) {
		t.Errorf("failure %+v, want v1.1.0 failing its health (or crashing on start), naming what systemd saw", f)
	}
}

func TestSystemdUnitEnvironmentGivesUpdateRepo(t *testing.T) {
	h := newSystemdHost(t, sandbox.DefaultReleases()[:1], 10*time.Second, "UPDATE_REPO=acme-corp/better-paas")
	out, code := h.sd.run(nil, h.bin, "repo", "show", "--config", h.cfgPath)
	want := "acme-corp/better-paas (from the environment variable UPDATE_REPO in Environment= of the systemd unit " + h.unit + ")"
	if code != 0 || strings.TrimSpace(out) != want {
		t.Errorf("repo show: exit %d, %q; want %q", code, out, want)
	}
	// The updater's own environment still wins.
	out, _ = h.sd.run([]string{"UPDATE_REPO=own/repo"}, h.bin, "repo", "show", "--config", h.cfgPath)
	if !strings.HasPrefix(out, "own/repo (from the environment variable UPDATE_REPO)") {
		t.Errorf("repo show with UPDATE_REPO set: %q", out)
	}
}
