package examples

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// systemdUnits are the example units, verified as an operator installs them.
var systemdUnits = []string{"better-paas-updater.service", "better-paas-backend.service", "better-paas-backend.socket"}

// TestSystemdUnitsVerify runs `systemd-analyze verify` on the example units
// in a root of their own: the units in its /etc/systemd/system, the
// binaries they name as stand-ins (verify checks ExecStart= is executable),
// and stubs of the targets they and the default dependencies name. Any
// complaint fails the test, warnings (an unknown key) included; a unit
// with a bad setting shows the check would see one.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze missing (Debian's systemd package; scripts/ensure-deps.sh installs it)")
	}
	verify := func(t *testing.T, edit func(unit, content string) string) string {
		root := t.TempDir()
		write := func(name, content string, mode os.FileMode) {
			t.Helper()
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), mode); err != nil {
				t.Fatal(err)
			}
		}
		for _, target := range []string{"sysinit", "basic", "shutdown", "network-online", "multi-user", "sockets"} {
			write("etc/systemd/system/"+target+".target", "[Unit]\nDescription=stub "+target+"\n", 0o644)
		}
		for _, u := range systemdUnits {
			b, err := os.ReadFile(filepath.Join("systemd", u))
			if err != nil {
				t.Fatal(err)
			}
			write(filepath.Join("etc/systemd/system", u), edit(u, string(b)), 0o644)
			for _, line := range strings.Split(string(b), "\n") {
				if cmd, ok := strings.CutPrefix(line, "ExecStart="); ok {
					write(strings.Fields(cmd)[0], "#!/bin/sh\n", 0o755)
				}
			}
		}
		out, err := exec.Command(analyze, append([]string{"verify", "--root=" + root}, systemdUnits...)...).CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if out := verify(t, func(_, c string) string { return c }); out != "" {
		t.Errorf("systemd-analyze verify:\n%s", out)
	}
	bad := verify(t, func(_, c string) string { return strings.Replace(c, "KillMode=process", "KillMode=sometimes", 1) })
	if !strings.Contains(bad, "kill mode") {
		t.Errorf("a bad KillMode= went unnoticed: %q", bad)
	}
}

// TestSystemdUnitsSay checks what the issue asks of the units, so an edit
// that drops one of them fails here and not on a host.
func TestSystemdUnitsSay(t *testing.T) {
	want := map[string][]string{
		"better-paas-updater.service": {"Type=notify", "WatchdogSec=", "After=network-online.target", "Wants=network-online.target",
			"StateDirectory=better-paas-updater", "KillMode=process", "ProtectSystem=strict", "ReadWritePaths=/opt/better-paas /var/backups/better-paas /etc/better-paas",
			"NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes", "ExecStart=/usr/local/bin/better-paas-updater run --config /etc/better-paas/updater.yaml"},
		"better-paas-backend.service": {"Environment=UPDATE_REPO=your-org/better-paas", "Restart=on-failure", "ExecStart=/opt/better-paas/server"},
		"better-paas-backend.socket":  {"ListenStream=127.0.0.1:8080", "FileDescriptorName=http", "WantedBy=sockets.target"},
	}
	for u, lines := range want {
		b, err := os.ReadFile(filepath.Join("systemd", u))
		if err != nil {
			t.Fatal(err)
		}
		have := "\n" + string(b)
		for _, l := range lines {
			if !strings.Contains(have, "\n"+l) {
				t.Errorf("%s: no line %q", u, l)
			}
		}
	}
}
