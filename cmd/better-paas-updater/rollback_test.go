package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// TestRollbackCommand: refused with the reason while no good version came
// before the running one, nothing written; then pins the previous good one.
func TestRollbackCommand(t *testing.T) {
	cfg, desiredFile := writeConfig(t)
	statusPath := filepath.Join(filepath.Dir(cfg), "state", "status.yaml")
	if out, code := runCLI(t, "set", "v1.1.0", "--config", cfg); code != 0 {
		t.Fatalf("set: %d %s", code, out)
	}
	before, _ := os.ReadFile(desiredFile)
	st := status.New()
	st.CurrentVersion = "v1.1.0"
	st.SetLastKnownGood(status.Revision{Version: "v1.1.0"})
	if err := status.Save(statusPath, st); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "rollback", "--config", cfg)
	if after, _ := os.ReadFile(desiredFile); code != 1 || !strings.Contains(out, "nothing to roll back to") || string(after) != string(before) {
		t.Errorf("without a previous good version: code %d, %s\ndesired.yaml now:\n%s", code, out, after)
	}

	st.SetLastKnownGood(status.Revision{Version: "v1.2.0"})
	st.CurrentVersion = "v1.2.0"
	if err := status.Save(statusPath, st); err != nil {
		t.Fatal(err)
	}
	out, code = runCLI(t, "rollback", "--config", cfg)
	if code != 0 || !strings.Contains(out, "spec.version = v1.1.0") {
		t.Fatalf("rollback: code %d, %s", code, out)
	}
	d, err := spec.Load(desiredFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Version != "v1.1.0" || !d.Spec.AllowDowngrade || d.Metadata.Annotations[spec.RollbackAnnotation] == "" {
		t.Errorf("desired.yaml after rollback: %+v", d)
	}
}
