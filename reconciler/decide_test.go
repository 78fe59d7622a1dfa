package reconciler

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// t0 is a fixed clock reading; decide never reads a clock.
var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

const (
	commitA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	commitB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	binA    = "sha-of-the-v1.1.0-binary"
)

// running is an observation of a host that runs v1.1.0 at commitA,
// healthy, asked to stay there; each case changes what it is about.
func running() Observation {
	st := status.New()
	st.ObservedGeneration = 2
	st.LastKnownGood = &status.Revision{Version: "v1.1.0", Commit: commitA, BinarySHA256: binA}
	return Observation{
		Status:         st,
		InstallDir:     "/opt/app",
		DesiredFile:    "/etc/app/desired.yaml",
		ConfigDigest:   "cfg-1",
		Desired:        spec.New("v1.1.0"),
		Generation:     2,
		Host:           observation{head: commitA, headTag: func() string { return "v1.1.0" }, binarySHA: binA, running: true, healthy: true, version: "v1.1.0"},
		CurrentVersion: "v1.1.0",
		Target:         status.Revision{Version: "v1.1.0", Commit: commitA},
		Now:            t0,
	}
}

// TestDecide covers every state with the inputs that lead to it, and the
// inputs that must not.
func TestDecide(t *testing.T) {
	wantB := func(o *Observation) {
		o.Desired = spec.New("v1.2.0")
		o.Target = status.Revision{Version: "v1.2.0", Commit: commitB}
	}
	failedB := func(generation int64, digest string) func(*Observation) {
		return func(o *Observation) {
			wantB(o)
			o.Status.RecordFailure(status.FailedVersion{Version: "v1.2.0", Step: "health", Reason: ReasonHealthCheckFailed, Generation: generation, ConfigDigest: digest})
		}
	}
	hold := func(until time.Time) func(*Observation) {
		return func(o *Observation) { o.Desired.Spec.Hold = &spec.Hold{Until: until, Reason: "freeze"} }
	}
	windows := func(ws ...spec.Window) func(*Observation) {
		return func(o *Observation) { o.Desired.Spec.Windows = ws }
	}
	// t0 is a Monday at 12:00 UTC.
	saturdays := spec.Window{Schedule: "0 2 * * 6", Duration: spec.Duration{Duration: 4 * time.Hour}}
	noon := spec.Window{Schedule: "0 12 * * *", Duration: spec.Duration{Duration: time.Hour}}
	soak := func(o *Observation) {
		o.Desired = spec.New(spec.Latest)
		o.Soak = &WaitError{Reason: ReasonSoakPending, Version: "v1.2.0", Until: t0.Add(time.Hour), Msg: "v1.2.0 is too young"}
	}
	// An update failed since the host read a fleet file with
	// rollout.pauseOnFailure.
	pausedFleet := func(o *Observation) {
		o.Status.Fleet = &status.FleetStatus{Document: &status.FleetDocument{Path: "fleet/desired.yaml", PauseOnFailure: true, ReadAt: t0.Add(-time.Hour)}}
		o.Status.RecordFailure(status.FailedVersion{Version: "v1.1.5", Step: "health", Reason: ReasonHealthCheckFailed, FailedAt: t0.Add(-time.Minute)})
	}
	all := func(changes ...func(*Observation)) func(*Observation) {
		return func(o *Observation) {
			for _, c := range changes {
				c(o)
			}
		}
	}
	tests := []struct {
		name   string
		change func(*Observation)
		state  State
		action action
		reason string // of Decision.Err, "" when none
	}{
		// The policy of desired.yaml gates the start of an update only.
		{"held: another version wanted", all(wantB, hold(t0.Add(time.Hour))), StateHeld, actWait, ReasonHeld},
		{"held: nothing installed yet", all(wantB, hold(t0.Add(time.Hour)), func(o *Observation) {
			o.Host = observation{head: commitA}
			o.Status.LastKnownGood = nil
		}), StateHeld, actWait, ReasonHeld},
		{"hold ended: the update starts", all(wantB, hold(t0)), StateUpdatePending, actUpdate, ""},
		{"held, in sync: nothing held back", hold(t0.Add(time.Hour)), StateInSync, actMarkReady, ""},
		{"held, service down: a repair is not held", all(hold(t0.Add(time.Hour)), func(o *Observation) { o.Host.running, o.Host.healthy = false, false }), StateServiceDown, actRepair, ""},
		{"held, unhealthy: a repair is not held", all(hold(t0.Add(time.Hour)), func(o *Observation) { o.Host.healthy = false }), StateUnhealthy, actRepair, ""},
		{"held, an operation in flight finishes", all(wantB, hold(t0.Add(time.Hour)), func(o *Observation) {
			o.Status.Operation = &status.Operation{ID: "op", Step: "health", Phase: status.PhaseUndo}
		}), StateUpdateInFlight, actResume, ""},
		{"held, a rollback asked for is not held", all(wantB, hold(t0.Add(time.Hour)), func(o *Observation) {
			o.Desired.Metadata.Annotations = map[string]string{spec.RollbackAnnotation: t0.Format(time.RFC3339)}
		}), StateUpdatePending, actUpdate, ""},
		{"held, a failed version still says so", all(failedB(2, "cfg-1"), hold(t0.Add(time.Hour))), StateVersionFailed, actSettle, ReasonVersionFailed},
		{"window closed", all(wantB, windows(saturdays)), StateWindowClosed, actWait, ReasonWindowClosed},
		{"one window of two open", all(wantB, windows(saturdays, noon)), StateUpdatePending, actUpdate, ""},
		{"window closed, in sync: nothing held back", windows(saturdays), StateInSync, actMarkReady, ""},
		{"held and window closed: the hold first", all(wantB, windows(saturdays), hold(t0.Add(time.Hour))), StateHeld, actWait, ReasonHeld},
		{"hold ended, window closed", all(wantB, windows(saturdays), hold(t0.Add(-time.Hour))), StateWindowClosed, actWait, ReasonWindowClosed},
		{"rollout paused: another version wanted", all(wantB, pausedFleet), StateRolloutPaused, actWait, ReasonRolloutPaused},
		{"rollout paused before a hold", all(wantB, pausedFleet, hold(t0.Add(time.Hour))), StateRolloutPaused, actWait, ReasonRolloutPaused},
		{"rollout paused, in sync: nothing held back", pausedFleet, StateInSync, actMarkReady, ""},
		{"rollout paused, unhealthy: a repair is not held", all(pausedFleet, func(o *Observation) { o.Host.healthy = false }), StateUnhealthy, actRepair, ""},
		{"soaking: serving the newest release old enough", soak, StateSoakPending, actWait, ReasonSoakPending},
		{"soaking, no release old enough and none runs", func(o *Observation) {
			soak(o)
			o.TargetErr, o.Soak, o.Target = o.Soak, nil, status.Revision{}
		}, StateSoakPending, actWait, ReasonSoakPending},
		{"soaking, an older release old enough is installed", all(soak, wantB, func(o *Observation) { o.Desired = spec.New(spec.Latest) }), StateUpdatePending, actUpdate, ""},
		{"soaking, service down: repaired", all(soak, func(o *Observation) { o.Host.running, o.Host.healthy = false, false }), StateServiceDown, actRepair, ""},
		{"healthy at the target", func(*Observation) {}, StateInSync, actMarkReady, ""},
		{"health reports no version, right commit", func(o *Observation) { o.Host.version = "" }, StateInSync, actMarkReady, ""},
		{"not a git checkout", func(o *Observation) { o.RepoErr = errors.New("repository does not exist") }, StateNotGitCheckout, actSettle, ReasonNotGitCheckout},
		{"an operation in flight comes before everything else", func(o *Observation) {
			o.Status.Operation = &status.Operation{ID: "op", Step: "build-backend", Phase: status.PhaseDo}
			o.DesiredErr, o.HostErr = errors.New("unreadable"), errors.New("unreadable")
		}, StateUpdateInFlight, actResume, ""},
		{"a restore request before desired.yaml", func(o *Observation) {
			o.Restore, o.DesiredErr = &RestoreRequest{Backup: "b1"}, fmt.Errorf("cannot load: %w", fs.ErrNotExist)
		}, StateRestoreRequested, actRestore, ""},
		{"an unreadable restore request is answered too", func(o *Observation) {
			o.RestoreErr = errors.New("cannot read restore request: invalid YAML")
		}, StateRestoreRequested, actRestore, ""},
		{"desired.yaml missing", func(o *Observation) { o.Desired, o.DesiredErr = nil, fmt.Errorf("cannot load: %w", fs.ErrNotExist) }, StateDesiredMissing, actSettle, ReasonDesiredMissing},
		{"desired.yaml invalid", func(o *Observation) { o.Desired, o.DesiredErr = nil, errors.New("invalid YAML") }, StateInvalidSpec, actSettle, ReasonInvalidSpec},
		{"host unreadable", func(o *Observation) { o.HostErr = errors.New("cannot hash server") }, StateHostUnreadable, actSettle, reasonUnknown},
		{"source unreachable", func(o *Observation) {
			o.TargetErr = failure(ReasonSourceUnavailable, errors.New("cannot list releases"))
		}, StateTargetUnresolved, actSettle, ReasonSourceUnavailable},
		{"downgrade refused", func(o *Observation) {
			o.TargetErr = failure(ReasonDowngradeRefused, errors.New("older"))
		}, StateTargetUnresolved, actSettle, ReasonDowngradeRefused},
		{"another version wanted", wantB, StateUpdatePending, actUpdate, ""},
		{"running the old version under the new commit is not in sync", func(o *Observation) {
			wantB(o)
			o.Host.head = commitB
		}, StateUpdatePending, actUpdate, ""},
		{"nothing installed", func(o *Observation) {
			o.Host = observation{head: commitA}
			o.Status.LastKnownGood = nil
		}, StateNothingInstalled, actUpdate, ""},
		{"target installed, service down", func(o *Observation) { o.Host.running, o.Host.healthy = false, false }, StateServiceDown, actRepair, ""},
		{"target installed, unhealthy", func(o *Observation) { o.Host.healthy = false }, StateUnhealthy, actRepair, ""},
		{"target installed but another binary: an update", func(o *Observation) {
			o.Host.running, o.Host.healthy, o.Host.binarySHA = false, false, "something else"
		}, StateUpdatePending, actUpdate, ""},
		{"failed under this generation and config", failedB(2, "cfg-1"), StateVersionFailed, actSettle, ReasonVersionFailed},
		{"failed, record from an older updater without a digest", failedB(2, ""), StateVersionFailed, actSettle, ReasonVersionFailed},
		{"failed under an older generation: desired.yaml changed", failedB(1, "cfg-1"), StateUpdatePending, actUpdate, ""},
		{"failed under another updater.yaml: the admin fixed the host", failedB(2, "cfg-0"), StateUpdatePending, actUpdate, ""},
		{"rollback failed under this generation", func(o *Observation) {
			wantB(o)
			o.Status.Set(status.Condition{Type: status.TypeStalled, Status: status.True, Reason: ReasonRollbackFailed}, t0)
		}, StateRollbackFailed, actHold, ""},
		{"rollback failed, then desired.yaml changed", func(o *Observation) {
			wantB(o)
			o.Status.Set(status.Condition{Type: status.TypeStalled, Status: status.True, Reason: ReasonRollbackFailed}, t0)
			o.Generation = 3
		}, StateUpdatePending, actUpdate, ""},
		{"in sync wins over an old rollback failure", func(o *Observation) {
			o.Status.Set(status.Condition{Type: status.TypeStalled, Status: status.True, Reason: ReasonRollbackFailed}, t0)
		}, StateInSync, actMarkReady, ""},
	}
	seen := map[State]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := running()
			tt.change(&o)
			before := fmt.Sprintf("%+v %+v", *o.Status, o)
			d := decide(o)
			if d.State != tt.state || d.Action != tt.action {
				t.Errorf("decide = %s/%s, want %s/%s", d.State, d.Action, tt.state, tt.action)
			}
			if got := ""; d.Err != nil {
				got = reasonOf(d.Err)
				if got != tt.reason {
					t.Errorf("reason = %s (%v), want %s", got, d.Err, tt.reason)
				}
			} else if tt.reason != "" {
				t.Errorf("no error, want reason %s", tt.reason)
			}
			if after := fmt.Sprintf("%+v %+v", *o.Status, o); after != before {
				t.Errorf("decide changed its input:\n%s\n%s", before, after)
			}
			seen[d.State] = true
		})
	}
	for state := range actions {
		if !seen[state] {
			t.Errorf("no case reaches state %s", state)
		}
	}
}

// TestDecideMessagesSayWhatToDo: a refusal names the file and the way out.
func TestDecideMessagesSayWhatToDo(t *testing.T) {
	o := running()
	o.Desired, o.DesiredErr = nil, fmt.Errorf("cannot load: %w", fs.ErrNotExist)
	if d := decide(o); !strings.Contains(d.Err.Error(), "/etc/app/desired.yaml") || !strings.Contains(d.Err.Error(), "better-paas-updater set") {
		t.Errorf("desired missing: %v", d.Err)
	}
	o = running()
	o.Desired = spec.New("v1.2.0")
	o.Target = status.Revision{Version: "v1.2.0", Commit: commitB}
	o.Status.RecordFailure(status.FailedVersion{Version: "v1.2.0", Step: "health", Reason: ReasonHealthCheckFailed, Generation: 2, Message: "HTTP 503"})
	if d := decide(o); !strings.Contains(d.Err.Error(), "rolled back to v1.1.0") || !strings.Contains(d.Err.Error(), "better-paas-updater retry") || !strings.Contains(d.Err.Error(), "HTTP 503") {
		t.Errorf("version failed: %v", d.Err)
	}
}

// TestEveryStateHasAnAction: the table is complete, and README's diagram
// names every state.
func TestEveryStateHasAnAction(t *testing.T) {
	for _, s := range constants(t, "decide.go", "State") {
		if _, ok := actions[State(s)]; !ok {
			t.Errorf("state %s has no action in the table", s)
		}
	}
}

// TestEveryReasonHasAPolicy: no reason falls through silently; every
// constant of errors.go has a row in policies.
func TestEveryReasonHasAPolicy(t *testing.T) {
	reasons := constants(t, "errors.go", "Reason")
	if len(reasons) < 20 {
		t.Fatalf("found only %d reasons: %v", len(reasons), reasons)
	}
	for _, r := range append(reasons, reasonUnknown) {
		if _, ok := policies[r]; !ok {
			t.Errorf("reason %s has no policy", r)
		}
	}
	for r, p := range policies {
		if p.blamesRelease && p.kind == Transient {
			t.Errorf("reason %s blames the release but is retried", r)
		}
	}
}

// constants returns the string values of the constants in file whose
// names start with prefix (and are longer than it).
func constants(t *testing.T, file, prefix string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, prefix) || name.Name == prefix || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					v, _ := strconv.Unquote(lit.Value)
					out = append(out, v)
				}
			}
		}
	}
	return out
}
