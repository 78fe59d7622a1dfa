package reconciler

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/better-paas/updater/hooks"
	"github.com/better-paas/updater/status"
)

// fakeStep records what the runner asks of it in a shared trace and fails
// where the test says.
type fakeStep struct {
	name   string
	trace  *[]string
	failDo error
	failUn error
	done   bool
}

func (f *fakeStep) Name() string { return f.name }
func (f *fakeStep) Do(context.Context, *Request) error {
	*f.trace = append(*f.trace, f.name+":do")
	return f.failDo
}

// undoFake and checkFake add the optional interfaces, as real steps do.
type undoFake struct{ *fakeStep }

func (f undoFake) Undo(context.Context, *Request) error {
	*f.trace = append(*f.trace, f.name+":undo")
	return f.failUn
}

type checkFake struct{ *fakeStep }

func (f checkFake) Done(context.Context, *Request) (bool, error) { return f.done, nil }

// steps mirrors the shape of the real table: which steps can be undone.
func steps(trace *[]string, faults map[string]error) []Step {
	undoable := map[string]bool{"recover": true, "checkout": true, "build-backend": true, "build-frontend": true, "swap": true, "start": true}
	var out []Step
	for _, n := range []string{"recover", "backup", "fetch", "checkout", "build-backend", "build-frontend", "stop", "swap", "start", "health"} {
		f := &fakeStep{name: n, trace: trace, failDo: faults[n+":do"], failUn: faults[n+":undo"]}
		if undoable[n] {
			out = append(out, undoFake{f})
		} else {
			out = append(out, f)
		}
	}
	return out
}

func TestRunnerSequences(t *testing.T) {
	boom := failure(ReasonBuildFailed, errors.New("boom"))
	tests := []struct {
		name       string
		faults     map[string]error
		want       string
		rolledBack bool
		failed     string
	}{
		{
			name: "success",
			want: "recover:do backup:do fetch:do checkout:do build-backend:do build-frontend:do stop:do swap:do start:do health:do",
		},
		{
			name:       "backup:do-error",
			faults:     map[string]error{"backup:do": boom},
			want:       "recover:do backup:do backup:error recover:undo",
			rolledBack: true, failed: "backup",
		},
		{
			name:       "build-backend:do-error",
			faults:     map[string]error{"build-backend:do": boom},
			want:       "recover:do backup:do fetch:do checkout:do build-backend:do build-backend:error checkout:undo recover:undo",
			rolledBack: true, failed: "build-backend",
		},
		{
			name:   "health:do-error",
			faults: map[string]error{"health:do": boom},
			want: "recover:do backup:do fetch:do checkout:do build-backend:do build-frontend:do stop:do swap:do start:do health:do health:error " +
				"start:undo swap:undo build-frontend:undo build-backend:undo checkout:undo recover:undo",
			rolledBack: true, failed: "health",
		},
		{
			name:   "health:do-error swap:undo-error",
			faults: map[string]error{"health:do": boom, "swap:undo": errors.New("disk gone")},
			want: "recover:do backup:do fetch:do checkout:do build-backend:do build-frontend:do stop:do swap:do start:do health:do health:error " +
				"start:undo swap:undo swap:undo-error",
			rolledBack: false, failed: "health",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trace, journal []string
			r := &Runner{
				Steps: steps(&trace, tt.faults),
				Journal: func(_ context.Context, op *status.Operation) error {
					journal = append(journal, fmt.Sprintf("%s:%s", op.Step, op.Phase))
					return nil
				},
				OnEvent: func(step string, ev Event) {
					if ev == EventError || ev == EventUndoError {
						trace = append(trace, step+":"+string(ev))
					}
				},
			}
			op := &status.Operation{ID: "op", Phase: status.PhaseDo}
			err := r.Run(context.Background(), op)
			if got := strings.Join(trace, " "); got != tt.want {
				t.Errorf("sequence\n got: %s\nwant: %s", got, tt.want)
			}
			if tt.failed == "" {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				if len(op.Done) != 10 {
					t.Errorf("done = %v", op.Done)
				}
				return
			}
			var se *StepError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *StepError", err)
			}
			if se.Step != tt.failed || se.RolledBack != tt.rolledBack {
				t.Errorf("StepError = %+v", se)
			}
			if reasonOf(se) != ReasonBuildFailed {
				t.Errorf("reason = %q, want the failing step's reason", reasonOf(se))
			}
			if op.Failure == nil || op.Failure.Step != tt.failed || op.Phase != status.PhaseUndo {
				t.Errorf("journal did not record the failure: %+v", op)
			}
			// Every step that ran was journaled before it ran.
			for _, e := range trace {
				name, ev, _ := strings.Cut(e, ":")
				phase := "Do"
				if strings.HasPrefix(ev, "undo") {
					phase = "Undo"
				}
				if ev != "error" && ev != "undo-error" && !slices.Contains(journal, name+":"+phase) {
					t.Errorf("%s ran without a journal entry %s:%s (journal %v)", e, name, phase, journal)
				}
			}
		})
	}
}

func TestRunnerResumesFromJournal(t *testing.T) {
	var trace []string
	r := &Runner{Steps: steps(&trace, nil), Journal: func(context.Context, *status.Operation) error { return nil }}
	// A daemon died during build-backend: it runs again, the earlier steps do not.
	op := &status.Operation{ID: "op", Phase: status.PhaseDo, Step: "build-backend", Attempt: 1,
		Done: []string{"recover", "backup", "fetch", "checkout"}}
	if err := r.Run(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	want := "build-backend:do build-frontend:do stop:do swap:do start:do health:do"
	if got := strings.Join(trace, " "); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}

	// A daemon died while undoing swap: the undo continues from swap.
	trace = nil
	op = &status.Operation{ID: "op", Phase: status.PhaseUndo, Step: "swap", Attempt: 1,
		Done:    []string{"recover", "backup", "fetch", "checkout", "build-backend", "stop", "swap"},
		Failure: &status.StepFailure{Step: "health", Reason: ReasonHealthCheckFailed, Message: "503"}}
	err := r.Run(context.Background(), op)
	var se *StepError
	if !errors.As(err, &se) || !se.RolledBack || reasonOf(se) != ReasonHealthCheckFailed {
		t.Fatalf("err = %v", err)
	}
	want = "swap:undo build-backend:undo checkout:undo recover:undo"
	if got := strings.Join(trace, " "); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

func TestRunnerGivesUpAfterMaxAttempts(t *testing.T) {
	var trace []string
	r := &Runner{Steps: steps(&trace, nil), Journal: func(context.Context, *status.Operation) error { return nil }}
	// build-backend has been started MaxAttempts times already (each try killed the daemon).
	op := &status.Operation{ID: "op", Phase: status.PhaseDo, Step: "build-backend", Attempt: MaxAttempts,
		Done: []string{"recover", "backup", "fetch", "checkout"}}
	err := r.Run(context.Background(), op)
	var se *StepError
	if !errors.As(err, &se) || reasonOf(se) != ReasonTooManyAttempts || se.Step != "build-backend" {
		t.Fatalf("err = %v", err)
	}
	if got := strings.Join(trace, " "); got != "checkout:undo recover:undo" {
		t.Errorf("trace = %s", got)
	}
}

func TestRunnerSkipsDoneStepsAndStopsOnJournalError(t *testing.T) {
	var trace []string
	s := steps(&trace, nil)
	s[2] = checkFake{&fakeStep{name: "fetch", trace: &trace, done: true}}
	var events []string
	r := &Runner{Steps: s, Journal: func(context.Context, *status.Operation) error { return nil },
		OnEvent: func(step string, ev Event) { events = append(events, step+":"+string(ev)) }}
	if err := r.Run(context.Background(), &status.Operation{ID: "op", Phase: status.PhaseDo}); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(trace, "fetch:do") || !slices.Contains(events, "fetch:skip") {
		t.Errorf("fetch was not skipped: trace %v events %v", trace, events)
	}

	trace = nil
	full := errors.New("disk full")
	r = &Runner{Steps: steps(&trace, nil), Journal: func(context.Context, *status.Operation) error { return full }}
	if err := r.Run(context.Background(), &status.Operation{ID: "op", Phase: status.PhaseDo}); !errors.Is(err, full) {
		t.Fatalf("err = %v", err)
	}
	if len(trace) != 0 {
		t.Errorf("steps ran without a journal: %v", trace)
	}
}

// recordingHooks records hook calls and can fail one.
type recordingHooks struct {
	calls []string
	fail  string
}

func (h *recordingHooks) Run(_ context.Context, step string, a hooks.Action, env map[string]string) error {
	h.calls = append(h.calls, step+":"+string(a))
	if h.fail == step+":"+string(a) {
		return fmt.Errorf("hook exited 3: %w", errors.New("disk almost full"))
	}
	return nil
}

func TestRunnerRunsHooksAroundSteps(t *testing.T) {
	var trace []string
	h := &recordingHooks{fail: "stop:Enter"}
	r := &Runner{Steps: steps(&trace, nil), Journal: func(context.Context, *status.Operation) error { return nil }, Hooks: h}
	err := r.Run(context.Background(), &status.Operation{ID: "op", Phase: status.PhaseDo})
	var se *StepError
	if !errors.As(err, &se) || !se.RolledBack || reasonOf(err) != ReasonHookFailed || KindOf(reasonOf(err)) != Transient {
		t.Fatalf("err = %v, want a transient HookFailed, rolled back", err)
	}
	if slices.Contains(trace, "stop:do") {
		t.Error("stop ran although its Enter hook failed")
	}
	for _, want := range []string{"backup:Enter", "backup:Leave", "stop:Enter", "stop:Error"} {
		if !slices.Contains(h.calls, want) {
			t.Errorf("hook %s not run; calls %v", want, h.calls)
		}
	}
}

// TestRunnerHoldsOnRetryLater runs a real script that exits 21 at the Enter
// of stop: the operation is held there with its completed steps (no undo,
// no attempt counted), resumes at stop, and the exit 21 past
// MaxHookRetries fails the step like any other hook, with a rollback.
func TestRunnerHoldsOnRetryLater(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "Stop_Enter_10_maintenance-window")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 'users online' >&2\nexit 21\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Rollback scripts record that they ran and what they were told.
	logf := filepath.Join(t.TempDir(), "rollback.log")
	for _, name := range []string{"Rollback_Enter_10", "Rollback_Leave_10_notify", "Rollback_Error_10"} {
		body := "#!/bin/sh\necho \"$BETTER_PAAS_STATE $BETTER_PAAS_ACTION $BETTER_PAAS_FAILED_STEP $BETTER_PAAS_FAILURE_REASON $BETTER_PAAS_TO_VERSION\" >> " + logf + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var trace, evs []string
	var journaled []status.Operation
	rec := &recorder{}
	r := &Runner{Steps: steps(&trace, nil), Hooks: hooks.Runner{Dir: dir}, MaxHookRetries: 2, Events: rec,
		Journal: func(_ context.Context, op *status.Operation) error {
			journaled = append(journaled, *op)
			return nil
		},
		OnEvent: func(step string, ev Event) { evs = append(evs, step+":"+string(ev)) }}
	op := &status.Operation{ID: "op", Phase: status.PhaseDo, To: status.Revision{Version: "v1.1.0"}}
	ctx := context.Background()

	want := "recover:do backup:do fetch:do checkout:do build-backend:do build-frontend:do"
	for hold := 1; hold <= 2; hold++ {
		trace, evs = nil, nil
		err := r.Run(ctx, op)
		var held *HeldError
		if !errors.As(err, &held) || !errors.Is(err, hooks.ErrRetryLater) || reasonOf(err) != ReasonHookRetryLater {
			t.Fatalf("hold %d: err = %v, want a HeldError", hold, err)
		}
		if held.Step != "stop" || held.Script != "Stop_Enter_10_maintenance-window" || held.Holds != hold || held.Max != 2 {
			t.Errorf("hold %d: HeldError = %+v", hold, held)
		}
		if msg := err.Error(); !strings.Contains(msg, "Stop_Enter_10_maintenance-window") || !strings.Contains(msg, "hooks.maxRetries") {
			t.Errorf("message %q should name the script and the setting", msg)
		}
		if hold == 2 {
			want = "" // the completed steps are not run again
		}
		if got := strings.Join(trace, " "); got != want {
			t.Errorf("hold %d: trace %q, want %q", hold, got, want)
		}
		if evs[len(evs)-1] != "stop:held" {
			t.Errorf("hold %d: events %v, want stop:held last", hold, evs)
		}
		// The page hears the step end: held, not started forever.
		if s := rec.steps(); !strings.HasSuffix(s, "stop:do:started stop:do:held") {
			t.Errorf("hold %d: step events %q, want stop started then held", hold, s)
		}
		last := journaled[len(journaled)-1]
		if last.Step != "stop" || last.Phase != status.PhaseDo || last.HookRetries != hold || last.Attempt != 0 ||
			!slices.Equal(last.Done, []string{"recover", "backup", "fetch", "checkout", "build-backend", "build-frontend"}) {
			t.Errorf("hold %d: journaled %+v, want held at stop with the completed steps kept", hold, last)
		}
	}
	trace, evs = nil, nil
	err := r.Run(ctx, op)
	var se *StepError
	if !errors.As(err, &se) || !se.RolledBack || se.Step != "stop" || reasonOf(err) != ReasonHookFailed {
		t.Fatalf("third exit 21: err = %v, want HookFailed at stop, rolled back", err)
	}
	if !strings.Contains(err.Error(), "held 2 times already") {
		t.Errorf("message %q should say the limit was reached", err)
	}
	if got, want := strings.Join(trace, " "), "build-frontend:undo build-backend:undo checkout:undo recover:undo"; got != want {
		t.Errorf("trace %q, want %q", got, want)
	}
	if slices.Contains(evs, "stop:held") || !slices.Contains(evs, "stop:error") {
		t.Errorf("events %v, want stop:error and no hold", evs)
	}
	// The holds ran no rollback script; the rollback ran Enter, then Leave.
	log, _ := os.ReadFile(logf)
	if got, want := string(log), "Rollback Enter stop HookFailed v1.1.0\nRollback Leave stop HookFailed v1.1.0\n"; got != want {
		t.Errorf("rollback scripts wrote %q, want %q", got, want)
	}
}

// signalledStep is a fake whose Do or Undo cancels the daemon's context while
// it runs, as SIGTERM from `systemctl stop` does, and reports whether its
// own context was still usable.
type signalledStep struct {
	*fakeStep
	stop     context.CancelFunc
	onUndo   bool
	undoSeen *error
}

func (s signalledStep) Do(ctx context.Context, req *Request) error {
	if s.onUndo {
		return s.fakeStep.Do(ctx, req)
	}
	*s.trace = append(*s.trace, s.name+":do")
	s.stop()
	<-ctx.Done() // a build killed by the cancellation
	return fmt.Errorf("cannot build: %w", ctx.Err())
}

func (s signalledStep) Undo(ctx context.Context, _ *Request) error {
	*s.trace = append(*s.trace, s.name+":undo")
	if s.onUndo {
		s.stop()
	}
	*s.undoSeen = ctx.Err() // an undo that has begun must be able to finish
	return ctx.Err()
}

func TestRunnerLeavesTheJournalWhenTheDaemonStops(t *testing.T) {
	t.Run("stopped during a step", func(t *testing.T) {
		var trace []string
		var undoCtxErr error
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := steps(&trace, nil)
		s[4] = signalledStep{fakeStep: &fakeStep{name: "build-backend", trace: &trace}, stop: cancel, undoSeen: &undoCtxErr}
		var journaled []status.Operation
		r := &Runner{Steps: s, Journal: func(_ context.Context, op *status.Operation) error {
			journaled = append(journaled, *op)
			return nil
		}}
		op := &status.Operation{ID: "op", Phase: status.PhaseDo}
		err := r.Run(ctx, op)
		if !errors.Is(err, ErrInterrupted) {
			t.Fatalf("err = %v, want ErrInterrupted", err)
		}
		var se *StepError
		if errors.As(err, &se) {
			t.Fatalf("a stop was treated as a failed step: %v", se)
		}
		if got, want := strings.Join(trace, " "), "recover:do backup:do fetch:do checkout:do build-backend:do"; got != want {
			t.Errorf("sequence\n got: %s\nwant: %s (nothing undone: the next daemon resumes)", got, want)
		}
		if op.Phase != status.PhaseDo || op.Step != "build-backend" || op.Failure != nil || len(op.Done) != 4 {
			t.Errorf("operation = %+v, want it as journaled before build-backend", op)
		}
		last := journaled[len(journaled)-1]
		if last.Step != "build-backend" || last.Phase != status.PhaseDo {
			t.Errorf("last journal entry %+v", last)
		}
		// The next daemon resumes exactly there, as after SIGKILL.
		trace = nil
		s[4] = &fakeStep{name: "build-backend", trace: &trace}
		if err := r.Run(context.Background(), op); err != nil {
			t.Fatalf("resume: %v", err)
		}
		if got, want := strings.Join(trace, " "), "build-backend:do build-frontend:do stop:do swap:do start:do health:do"; got != want {
			t.Errorf("resume\n got: %s\nwant: %s", got, want)
		}
	})

	t.Run("stopped during a rollback", func(t *testing.T) {
		var trace []string
		undoCtxErr := errors.New("undo never ran")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := steps(&trace, map[string]error{"health:do": failure(ReasonHealthCheckFailed, errors.New("503"))})
		s[7] = signalledStep{fakeStep: &fakeStep{name: "swap", trace: &trace}, stop: cancel, onUndo: true, undoSeen: &undoCtxErr}
		r := &Runner{Steps: s, Journal: func(context.Context, *status.Operation) error { return nil }}
		op := &status.Operation{ID: "op", Phase: status.PhaseDo}
		err := r.Run(ctx, op)
		if !errors.Is(err, ErrInterrupted) {
			t.Fatalf("err = %v, want ErrInterrupted", err)
		}
		if undoCtxErr != nil {
			t.Errorf("the undo in progress saw a cancelled context: %v", undoCtxErr)
		}
		want := "recover:do backup:do fetch:do checkout:do build-backend:do build-frontend:do stop:do swap:do start:do health:do start:undo swap:undo"
		if got := strings.Join(trace, " "); got != want {
			t.Errorf("sequence\n got: %s\nwant: %s", got, want)
		}
		if op.Phase != status.PhaseUndo || op.Failure == nil || op.Failure.Step != "health" || slices.Contains(op.Done, "swap") {
			t.Errorf("operation = %+v, want undoing health's failure with swap undone", op)
		}
		// The next daemon finishes the rollback.
		trace = nil
		err = r.Run(context.Background(), op)
		var se *StepError
		if !errors.As(err, &se) || !se.RolledBack || reasonOf(se) != ReasonHealthCheckFailed {
			t.Fatalf("resume: %v", err)
		}
		if got, want := strings.Join(trace, " "), "build-frontend:undo build-backend:undo checkout:undo recover:undo"; got != want {
			t.Errorf("resume\n got: %s\nwant: %s", got, want)
		}
	})
}
