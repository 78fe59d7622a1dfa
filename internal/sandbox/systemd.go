package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrNoSystemd means a real systemd cannot be started here; its message
// says why (not root, systemd not installed, the tool missing, or the
// tool's own error). Tests skip with it.
var ErrNoSystemd = errors.New("no systemd sandbox")

// Systemd is a real systemd running as PID 1 of a private PID and mount
// namespace, started by the workplace's systemd-sandbox tool (its own /tmp
// and /run, a minimal target; booting systemd any other way here would run
// its tmpfiles cleanup on the real /tmp). Units must say
// DefaultDependencies=no, and the folders they use must live outside /tmp
// and /run, which are private inside.
type Systemd struct {
	tool string
	// PID is systemd's pid as seen from outside.
	PID string
}

// StartSystemd starts a sandboxed systemd with the unit files in units.
// The tool is $SYSTEMD_SANDBOX, else shared/tools/systemd-sandbox in the
// nearest ancestor of the current folder that has one. Errors wrap
// ErrNoSystemd when this machine cannot run it.
func StartSystemd(units string) (*Systemd, error) {
	tool, err := systemdSandboxTool()
	if err != nil {
		return nil, err
	}
	switch {
	case os.Geteuid() != 0:
		return nil, fmt.Errorf("%w: needs root", ErrNoSystemd)
	case !exists("/lib/systemd/systemd"):
		return nil, fmt.Errorf("%w: /lib/systemd/systemd is missing (apt-get install systemd)", ErrNoSystemd)
	}
	out, err := exec.Command(tool, "start", units).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%w: %s start: %v: %s", ErrNoSystemd, tool, err, bytes.TrimSpace(out))
	}
	return &Systemd{tool: tool, PID: strings.TrimSpace(string(out))}, nil
}

// Command returns a command that runs argv inside the sandbox (its mount
// and PID namespace: systemctl there talks to the sandboxed systemd).
func (s *Systemd) Command(argv ...string) *exec.Cmd {
	return exec.Command(s.tool, append([]string{"exec", s.PID}, argv...)...)
}

// Stop ends systemd and everything it runs.
func (s *Systemd) Stop() { _ = exec.Command(s.tool, "stop", s.PID).Run() }

func systemdSandboxTool() (string, error) {
	if tool := os.Getenv("SYSTEMD_SANDBOX"); tool != "" {
		return tool, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if tool := filepath.Join(dir, "shared", "tools", "systemd-sandbox"); exists(tool) {
			return tool, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no shared/tools/systemd-sandbox above the current folder (set SYSTEMD_SANDBOX)", ErrNoSystemd)
		}
		dir = parent
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
