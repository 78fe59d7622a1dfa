package reconciler

import (
	"slices"
	"testing"

	"github.com/better-paas/updater/status"
)

// TestRemainingSteps: a journaled operation goes on from its step without
// the steps done; one rolling back undoes what was done, last first.
func TestRemainingSteps(t *testing.T) {
	undoable := func(s string) bool { return !slices.Contains([]string{"backup", "fetch", "stop"}, s) }
	all := []string{"recover", "backup", "fetch", "checkout", "build-backend", "stop", "swap", "start", "health"}
	for _, tc := range []struct {
		name string
		op   status.Operation
		want []string
	}{
		{"journaled before its first step", status.Operation{Phase: status.PhaseDo}, all},
		{"mid-build", status.Operation{Phase: status.PhaseDo, Step: "build-backend", Done: []string{"recover", "backup", "fetch", "checkout"}},
			[]string{"build-backend", "stop", "swap", "start", "health"}},
		{"a step done after the journaled one (resumed after a crash)", status.Operation{Phase: status.PhaseDo, Step: "stop", Done: []string{"recover", "backup", "fetch", "checkout", "build-backend", "stop"}},
			[]string{"swap", "start", "health"}},
		{"rolling back", status.Operation{Phase: status.PhaseUndo, Step: "swap", Done: []string{"recover", "backup", "fetch", "checkout", "build-backend", "stop", "swap"}},
			[]string{"undo swap", "undo build-backend", "undo checkout", "undo recover"}},
	} {
		if got := remainingSteps(all, undoable, &tc.op); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
