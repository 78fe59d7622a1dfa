package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/spec"
)

// TestRunOnceEndsOnAPolicyHold: `run --once` on a host whose update is
// held (spec.hold) installs nothing and exits 0 with a line saying until
// when; `plan` says the same. Wall clock, no waiting: the hold ends a day
// from now.
func TestRunOnceEndsOnAPolicyHold(t *testing.T) {
	h := newSandboxHost(t)
	h.runOnce(t, "v1.0.0")
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	d := spec.New("v1.1.0")
	d.Spec.Hold = &spec.Hold{Until: until, Reason: "change freeze"}
	if err := spec.Write(h.cfg.DesiredFile, d); err != nil {
		t.Fatal(err)
	}
	stamp := until.Format(time.RFC3339)
	out, code := runCLI(t, "run", "--once", "--config", h.cfgPath)
	if code != 0 || !strings.Contains(out, "Held until "+stamp) || !strings.Contains(out, "change freeze") {
		t.Fatalf("run --once: exit %d\n%s", code, out)
	}
	out, code = runCLI(t, "plan", "--config", h.cfgPath)
	if code != 0 || !strings.Contains(out, "Held back:") || !strings.Contains(out, "Held until "+stamp) || !strings.Contains(out, "Wait:") {
		t.Errorf("plan: exit %d\n%s", code, out)
	}
	out, code = runCLI(t, "status", "--config", h.cfgPath, "-o", "json")
	if code != 0 || !strings.Contains(out, `"policy"`) || !strings.Contains(out, `"currentVersion": "v1.0.0"`) {
		t.Errorf("status: exit %d\n%s", code, out)
	}
}

// TestRunOnceEndsOnAHookHold: a hook that asks to wait (exit 21) is an
// answer for `run --once`, not a failure to retry: it exits 4 at once,
// the hook having run once, naming the script; the next run, once the
// hook lets it through, finishes the update.
func TestRunOnceEndsOnAHookHold(t *testing.T) {
	h := newSandboxHost(t)
	h.runOnce(t, "v1.0.0")
	ran := filepath.Join(t.TempDir(), "ran")
	gate := filepath.Join(t.TempDir(), "open")
	hook := filepath.Join(h.cfg.HooksDir, "Backup_Enter_10_maintenance-window")
	writeFile(t, hook, "#!/bin/sh\necho x >> "+ran+"\n[ -e "+gate+" ] && exit 0\necho 'users online' >&2\nexit 21\n")
	if err := os.Chmod(hook, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := spec.Write(h.cfg.DesiredFile, spec.New("v1.1.0")); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "run", "--once", "--config", h.cfgPath)
	if code != exitHeld || !strings.Contains(out, "Backup_Enter_10_maintenance-window") || !strings.Contains(out, "resumes at the next run") {
		t.Fatalf("run --once: exit %d, want %d naming the hook\n%s", code, exitHeld, out)
	}
	if b, _ := os.ReadFile(ran); strings.Count(string(b), "x") != 1 {
		t.Errorf("the hook ran %d times, want once", strings.Count(string(b), "x"))
	}
	writeFile(t, gate, "")
	if out, code := runCLI(t, "run", "--once", "--config", h.cfgPath); code != 0 || !strings.Contains(out, "v1.1.0") {
		t.Fatalf("run --once after the hook let it through: exit %d\n%s", code, out)
	}
}
