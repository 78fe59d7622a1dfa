package main

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/spec"
)

// notifySandbox is a real systemd (sandbox.StartSystemd).
type notifySandbox struct {
	t *testing.T
	*sandbox.Systemd
}

// startNotifySandbox starts systemd with the unit files in units, or skips
// the test saying why it cannot.
func startNotifySandbox(t *testing.T, units string) *notifySandbox {
	t.Helper()
	sd, err := sandbox.StartSystemd(units)
	if errors.Is(err, sandbox.ErrNoSystemd) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sd.Stop)
	return &notifySandbox{t: t, Systemd: sd}
}

// systemctl runs systemctl inside the sandbox.
func (s *notifySandbox) systemctl(args ...string) (string, error) {
	out, err := s.Command(append([]string{"systemctl"}, args...)...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// show returns unit properties as NAME=value lines.
func (s *notifySandbox) show(unit string, props ...string) map[string]string {
	s.t.Helper()
	out, err := s.systemctl("show", "-p", strings.Join(props, ","), unit)
	if err != nil {
		s.t.Fatalf("systemctl show %s: %v: %s", unit, err, out)
	}
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// updaterUnitForTest is examples/systemd/better-paas-updater.service made
// to run in the sandbox: this build and config, WatchdogSec=2s, writable
// paths under root (a folder of the test), no StateDirectory= (it would be made in the real
// /var/lib), no network-online.target (nothing brings the network up in
// the sandbox), DefaultDependencies=no (no boot units), output to a file
// (no journald), and the test's PATH (go, node, pnpm). All the hardening
// stays, so the test also shows it lets the daemon work.
func updaterUnitForTest(t *testing.T, example, bin, cfg, root, logPath string) string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(example, "\n") {
		key, _, _ := strings.Cut(l, "=")
		switch key {
		case "After", "Wants", "StateDirectory", "StateDirectoryMode":
			continue
		case "ExecStart":
			l = "ExecStart=" + bin + " run --config " + cfg
		case "WatchdogSec":
			l = "WatchdogSec=2s"
		case "TimeoutStartSec", "TimeoutStopSec":
			l = key + "=20s"
		case "ReadWritePaths":
			l = "ReadWritePaths=" + root
		}
		out = append(out, l)
		if l == "[Unit]" {
			out = append(out, "DefaultDependencies=no")
		}
		if l == "[Service]" {
			out = append(out, "StandardOutput=append:"+logPath, "StandardError=append:"+logPath,
				`Environment="PATH=`+os.Getenv("PATH")+`"`)
		}
	}
	return strings.Join(out, "\n")
}

// TestUpdaterAsNotifyUnit runs the updater itself as the example Type=notify
// unit with a watchdog under a real systemd: `systemctl start` returns
// once READY=1 came (after the first reconcile observed the host and, here,
// started the app again), the unit is then active (running) with the
// daemon's STATUS=; it stays up past several WatchdogSec= (the loop
// pings); `systemctl stop` ends it cleanly after STOPPING=1, and leaves
// the app running (KillMode=process).
func TestUpdaterAsNotifyUnit(t *testing.T) {
	switch {
	case testing.Short():
		t.Skip("end-to-end: a real systemd, a real daemon; run make test")
	case os.Geteuid() != 0:
		t.Skip("systemd sandbox: needs root")
	case fileAbsent("/lib/systemd/systemd"):
		t.Skip("systemd sandbox: /lib/systemd/systemd is missing (apt-get install systemd)")
	}
	// Inside the sandbox /tmp is private, and the unit's PrivateTmp=
	// hides /var/tmp as well: the host, the binary and the units live
	// under /var/lib, removed at the end.
	root, err := os.MkdirTemp("/var/lib", "better-paas-notify-test-")
	if err != nil {
		t.Skipf("systemd sandbox: cannot make a folder under /var/lib: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	t.Setenv("TMPDIR", root) // t.TempDir, so the sandbox host, lands there too
	h := newSandboxHost(t)
	// Installed and built outside, then stopped: the daemon in the unit
	// observes v1.0.0 with its app down and starts it.
	h.runOnce(t, "v1.0.0")
	if err := h.svc.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The app the daemon starts in the sandbox has a PID of that
	// namespace: the pidfile must not reach the host's supervisor.
	t.Cleanup(func() { _ = os.Remove(filepath.Join(h.cfg.StateDir, "service.pid")) })
	if err := spec.Write(h.cfg.DesiredFile, spec.New("v1.0.0")); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "better-paas-updater")
	copyExecutable(t, binary, bin)
	example, err := os.ReadFile("../../examples/systemd/better-paas-updater.service")
	if err != nil {
		t.Fatal(err)
	}
	units, logPath := filepath.Join(root, "units"), filepath.Join(root, "daemon.log")
	const unit = "better-paas-updater.service"
	if err := os.MkdirAll(units, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(units, unit), updaterUnitForTest(t, string(example), bin, h.cfgPath, root, logPath))
	sd := startNotifySandbox(t, units)
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("daemon log:\n%s", b)
		}
	})

	began := time.Now()
	if out, err := sd.systemctl("start", unit); err != nil {
		st, _ := sd.systemctl("status", unit)
		t.Fatalf("systemctl start: %v: %s\n%s", err, out, st)
	}
	props := []string{"ActiveState", "SubState", "StatusText", "MainPID", "NRestarts", "Result", "WatchdogUSec",
		"ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic"}
	p := sd.show(unit, props...)
	t.Logf("started in %v: %v", time.Since(began).Round(time.Millisecond), p)
	if p["ActiveState"] != "active" || p["SubState"] != "running" {
		t.Fatalf("after start: %v, want active (running)", p)
	}
	if !regexp.MustCompile(`^(Ready: |Updating |Running step )`).MatchString(p["StatusText"]) {
		t.Errorf("StatusText %q: the daemon's STATUS= did not reach systemd", p["StatusText"])
	}
	// Active only once READY=1 came, not when the process started.
	started, _ := strconv.ParseInt(p["ExecMainStartTimestampMonotonic"], 10, 64)
	active, _ := strconv.ParseInt(p["ActiveEnterTimestampMonotonic"], 10, 64)
	if started == 0 || active <= started {
		t.Errorf("active at %dµs, process started at %dµs: want active after the start, at READY=1", active, started)
	}
	t.Logf("activating for %v until READY=1", time.Duration(active-started)*time.Microsecond)
	// READY=1 came after the first reconcile observed the host: by then
	// the daemon had taken its lock and read status.yaml.
	if b, _ := os.ReadFile(filepath.Join(h.cfg.StateDir, "lock")); !strings.Contains(string(b), "purpose: daemon") {
		t.Errorf("active before the daemon held its lock: %q", b)
	}
	waitFor(t, "STATUS=Ready", func() bool {
		return strings.HasPrefix(sd.show(unit, "StatusText")["StatusText"], "Ready: running v1.0.0")
	})

	// Three watchdog timeouts later (by systemd's own record of the last
	// ping), the same process still runs: the loop pings.
	first := sd.show(unit, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"]
	waitFor(t, "systemd to record pings over three WatchdogSec=2s", func() bool {
		now := sd.show(unit, "WatchdogTimestampMonotonic")["WatchdogTimestampMonotonic"]
		a, errA := strconv.ParseUint(first, 10, 64)
		b, errB := strconv.ParseUint(now, 10, 64)
		return errA == nil && errB == nil && b >= a+6_000_000
	})
	q := sd.show(unit, props...)
	if q["ActiveState"] != "active" || q["MainPID"] != p["MainPID"] || q["NRestarts"] != "0" {
		t.Fatalf("after 3 WatchdogSec=2s: %v, want the same process active (the watchdog was not fed)", q)
	}

	if out, err := sd.systemctl("stop", unit); err != nil {
		t.Fatalf("systemctl stop: %v: %s", err, out)
	}
	r := sd.show(unit, "ActiveState", "Result", "ExecMainStatus", "ExecMainCode")
	t.Logf("stopped: %v", r)
	if r["ActiveState"] != "inactive" || r["Result"] != "success" {
		t.Errorf("after stop: %v, want inactive with Result=success", r)
	}
	if b, _ := os.ReadFile(logPath); !strings.Contains(string(b), "Stopped") {
		t.Errorf("the daemon did not say it stopped:\n%s", b)
	}
	// KillMode=process: stopping the updater left the app it started.
	if obs, err := health.Probe(t.Context(), http.DefaultClient, h.cfg.Health.URL); err != nil || obs.Version != "v1.0.0" {
		t.Errorf("the app after the updater stopped: %+v, %v; want it still serving v1.0.0", obs, err)
	}
}

func fileAbsent(p string) bool {
	_, err := os.Stat(p)
	return err != nil
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
