package main

import (
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
