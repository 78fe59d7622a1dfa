package reconciler_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/better-paas/updater/hooks"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// newHookHost is newHost whose reconciler runs the hooks of its hooksDir,
// installed at v1.0.0 (before any hook exists). It returns the host and
// its precious files as they were before the install.
func newHookHost(t *testing.T) (*host, map[string]string) {
	t.Helper()
	h := newHost(t)
	r, err := reconciler.New(reconciler.Options{Config: h.cfg, Service: h.svc, Hooks: hooks.Runner{Dir: h.cfg.HooksDir},
		OnEvent: func(step string, ev reconciler.Event) { h.events = append(h.events, step+":"+string(ev)) }})
	if err != nil {
		t.Fatal(err)
	}
	h.r = r
	before := h.precious()
	h.set("v1.0.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("first install: Ready = %s", condition(st, status.TypeReady))
	}
	return h, before
}

// TestRefusedHookStopsTheUpdateBeforeAnyStep: a hook that is writable by
// others is refused before the update starts (Stalled/HookRefused naming
// the file and the fix), no step runs and the old version keeps serving;
// once the administrator fixes the mode, the update goes ahead.
func TestRefusedHookStopsTheUpdateBeforeAnyStep(t *testing.T) {
	t.Parallel()
	h, before := newHookHost(t)
	script := filepath.Join(h.cfg.HooksDir, "Backup_Enter_10_dump")
	mustWrite(t, script, "#!/bin/sh\nexit 0\n")
	if err := os.Chmod(script, 0o777); err != nil {
		t.Fatal(err)
	}

	h.set("v1.1.0")
	st := h.converge()
	stalled := st.Get(status.TypeStalled)
	if stalled == nil || stalled.Reason != reconciler.ReasonHookRefused || !strings.Contains(stalled.Message, script) ||
		!strings.Contains(stalled.Message, "chmod go-w") {
		t.Fatalf("Stalled = %+v, want HookRefused naming %s and chmod go-w", stalled, script)
	}
	if len(h.events) != 0 || st.Operation != nil {
		t.Errorf("steps ran (%v) or an operation was journaled (%+v) with a refused hook", h.events, st.Operation)
	}
	h.serving("v1.0.0")

	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}
	if st := h.converge(); !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" {
		t.Fatalf("after chmod: Ready = %s, current %s", condition(st, status.TypeReady), st.CurrentVersion)
	}
	h.serving("v1.1.0")
	preserved(t, "after a refused hook", before, h.precious())
}

// TestHookRetryLaterHoldsWithoutUndo: a real BuildBackend_Enter hook that
// exits 21 on its first run holds a real update of the sandbox at
// build-backend: the operation stays journaled there with its completed
// steps, nothing is undone, status says HookRetryLater naming the script,
// and the old version keeps serving. The next reconcile resumes at
// build-backend (the script now exits 0) and finishes with no undo.
func TestHookRetryLaterHoldsWithoutUndo(t *testing.T) {
	t.Parallel()
	h, before := newHookHost(t)
	pid := h.pid()

	// Exits 21 the first time it runs, 0 after: a maintenance window that
	// opens between two reconciles.
	const name = "BuildBackend_Enter_10_wait-for-window"
	count := filepath.Join(t.TempDir(), "count")
	script := filepath.Join(h.cfg.HooksDir, name)
	mustWrite(t, script, `#!/bin/sh
n=$(cat "`+count+`" 2>/dev/null || echo 0)
echo $((n + 1)) > "`+count+`"
if [ "$n" -ge 1 ]; then exit 0; fi
echo "users are online; try again later" >&2
exit 21
`)
	if err := os.Chmod(script, 0o755); err != nil {
		t.Fatal(err)
	}

	h.set("v1.1.0")
	h.events = nil
	_, err := h.r.Reconcile(h.ctx)
	var held *reconciler.HeldError
	if !errors.As(err, &held) || held.Script != name || held.Step != "build-backend" {
		t.Fatalf("Reconcile = %v, want the update held at build-backend by %s", err, name)
	}
	st, err := h.r.Status()
	if err != nil {
		t.Fatal(err)
	}
	op := st.Operation
	if op == nil || op.Step != "build-backend" || op.Phase != status.PhaseDo || op.HookRetries != 1 || !slices.Contains(op.Done, "checkout") {
		t.Fatalf("operation = %+v, want it journaled at build-backend (Do) with checkout done and one hold", op)
	}
	ready := st.Get(status.TypeReady)
	if ready == nil || ready.Status != status.False || ready.Reason != reconciler.ReasonHookRetryLater || !strings.Contains(ready.Message, name) {
		t.Errorf("Ready = %+v, want False/HookRetryLater naming %s", ready, name)
	}
	for _, ev := range h.events {
		if strings.HasSuffix(ev, ":undo") || strings.HasSuffix(ev, ":error") {
			t.Errorf("held reconcile undid or failed a step: %v", h.events)
		}
	}
	if !slices.Contains(h.events, "build-backend:held") || slices.Contains(h.events, "build-backend:do") {
		t.Errorf("events %v, want build-backend held before its Do", h.events)
	}
	h.serving("v1.0.0")
	if got := h.pid(); got != pid {
		t.Errorf("the running app was restarted while held: pid %d -> %d", pid, got)
	}

	st = h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" || st.Operation != nil {
		t.Fatalf("after the hold: Ready = %s, current %s, operation %+v", condition(st, status.TypeReady), st.CurrentVersion, st.Operation)
	}
	for _, ev := range h.events {
		if strings.HasSuffix(ev, ":undo") || strings.HasSuffix(ev, ":error") || strings.HasSuffix(ev, ":held") {
			t.Errorf("resumed update undid, failed or held a step: %v", h.events)
		}
	}
	if h.events[0] != "build-backend:do" {
		t.Errorf("resumed at %v, want build-backend first (the completed steps are not run again)", h.events)
	}
	h.serving("v1.1.0")
	if b, _ := os.ReadFile(count); strings.TrimSpace(string(b)) != "2" {
		t.Errorf("hook ran %q times, want 2", b)
	}
	preserved(t, "after a held update", before, h.precious())
}
