package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/status"
)

// recorder is a Publisher that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	events []events.Event
}

func (r *recorder) Publish(e events.Event) events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.ID = uint64(len(r.events) + 1)
	r.events = append(r.events, e)
	return e
}

// steps renders the step events as "name:phase:state", in order.
func (r *recorder) steps() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if e.Type == events.TypeStep {
			out = append(out, e.Step+":"+e.Phase+":"+e.State)
		}
	}
	return strings.Join(out, " ")
}

// tailingFake is a step with a log, as builds, start and health have.
type tailingFake struct{ *fakeStep }

func (tailingFake) logTail() []string { return []string{"compiling", "error: boom"} }

func TestRunnerPublishesStepEvents(t *testing.T) {
	boom := failure(ReasonHealthCheckFailed, errors.New("503"))
	pairs := func(phase string, names ...string) string {
		var out []string
		for _, n := range names {
			out = append(out, n+":"+phase+":started", n+":"+phase+":succeeded")
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name   string
		faults map[string]error
		skip   string // a step whose Checker finds it done
		tail   string // a step with a log of its own
		want   string
	}{
		{name: "success", skip: "fetch",
			want: pairs("do", "recover", "backup") + " fetch:do:started fetch:do:skipped " +
				pairs("do", "checkout", "build-backend", "build-frontend", "stop", "swap", "start", "health")},
		{name: "health fails and is rolled back", faults: map[string]error{"health:do": boom}, tail: "health",
			want: pairs("do", "recover", "backup", "fetch", "checkout", "build-backend", "build-frontend", "stop", "swap", "start") +
				" health:do:started health:do:failed " +
				pairs("undo", "start", "swap", "build-frontend", "build-backend", "checkout", "recover")},
		{name: "an undo fails", faults: map[string]error{"health:do": boom, "swap:undo": errors.New("disk gone")},
			want: pairs("do", "recover", "backup", "fetch", "checkout", "build-backend", "build-frontend", "stop", "swap", "start") +
				" health:do:started health:do:failed " + pairs("undo", "start") + " swap:undo:started swap:undo:failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var trace, onEvent []string
			s := steps(&trace, tt.faults)
			for i, st := range s {
				switch st.Name() {
				case tt.skip:
					s[i] = checkFake{&fakeStep{name: st.Name(), trace: &trace, done: true}}
				case tt.tail:
					s[i] = tailingFake{&fakeStep{name: st.Name(), trace: &trace, failDo: tt.faults[st.Name()+":do"]}}
				}
			}
			rec := &recorder{}
			r := &Runner{Steps: s, Events: rec,
				Journal: func(context.Context, *status.Operation) error { return nil },
				OnEvent: func(step string, ev Event) { onEvent = append(onEvent, step+":"+string(ev)) }}
			_ = r.Run(context.Background(), &status.Operation{ID: "op-1", Phase: status.PhaseDo})
			if got := rec.steps(); got != tt.want {
				t.Errorf("step events\n got: %s\nwant: %s", got, tt.want)
			}
			for _, e := range rec.events {
				ends := e.State != events.StateStarted
				if e.Operation != "op-1" || (e.DurationMs != nil) != ends || (e.Error != "") != (e.State == events.StateFailed) {
					t.Errorf("event %+v: want operation op-1, durationMs exactly on ends, error exactly on failures", e)
				}
			}
			if tt.tail != "" && strings.Join(r.failureLog, "|") != "compiling|error: boom" {
				t.Errorf("failure log = %q, want the failing step's log tail", r.failureLog)
			}
			// OnEvent still tells its own story, untouched.
			if tt.name == "success" && !strings.Contains(strings.Join(onEvent, " "), "fetch:skip checkout:do") {
				t.Errorf("OnEvent = %v", onEvent)
			}
		})
	}
}

func TestRunnerDoesNotEndAStepCutShortByAStop(t *testing.T) {
	var trace []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := steps(&trace, nil)
	s[4] = signalledStep{fakeStep: &fakeStep{name: "build-backend", trace: &trace}, stop: cancel, undoSeen: new(error)}
	rec := &recorder{}
	r := &Runner{Steps: s, Events: rec, Journal: func(context.Context, *status.Operation) error { return nil }}
	if err := r.Run(ctx, &status.Operation{ID: "op", Phase: status.PhaseDo}); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err = %v", err)
	}
	if got := rec.steps(); !strings.HasSuffix(got, "checkout:do:succeeded build-backend:do:started") {
		t.Errorf("step events end %q: a stop is neither a failure nor a success", got)
	}
}

func TestLogLinesPublishesABoundedView(t *testing.T) {
	rec := &recorder{}
	l := newLogLines(rec, "op", "build-backend", "/state/logs/build-backend.log")
	long := strings.Repeat("é", 700) // 1400 bytes
	// Written in odd pieces, as a pipe delivers them.
	out := "first\r\nsecond\n" + long + "\n"
	for i := range 250 {
		out += fmt.Sprintf("line %d\n", i)
	}
	out += "no newline at the end"
	for len(out) > 0 {
		n := min(len(out), 97)
		if _, err := l.Write([]byte(out[:n])); err != nil {
			t.Fatal(err)
		}
		out = out[n:]
	}
	l.Close()
	var lines []string
	for _, e := range rec.events {
		if e.Type != events.TypeLog || e.Operation != "op" || e.Step != "build-backend" {
			t.Fatalf("event %+v", e)
		}
		if len(e.Line) > maxLogLineSize || !utf8.ValidString(e.Line) {
			t.Errorf("line of %d bytes (valid UTF-8 %v)", len(e.Line), utf8.ValidString(e.Line))
		}
		lines = append(lines, e.Line)
	}
	if len(lines) != maxLogLines+1 {
		t.Fatalf("%d lines published, want %d and the summary", len(lines), maxLogLines)
	}
	if lines[0] != "first" || lines[1] != "second" || !strings.HasSuffix(lines[2], "é…") || lines[199] != "line 196" {
		t.Errorf("lines %q %q %.10q... %q", lines[0], lines[1], lines[2], lines[199])
	}
	// 253 lines and a last one without newline: 54 left out.
	if want := "... 54 more lines not shown here; the whole log is in /state/logs/build-backend.log"; lines[200] != want {
		t.Errorf("summary %q, want %q", lines[200], want)
	}
}

func TestConditionEvents(t *testing.T) {
	now := time.Now()
	before := []status.Condition{
		{Type: status.TypeReady, Status: status.True, Reason: ReasonUpToDate, Message: "running v1.0.0"},
		{Type: status.TypeStalled, Status: status.True, Reason: ReasonVersionFailed},
		{Type: status.TypeReleasesStale, Status: status.True, Reason: ReasonSourceUnavailable, Message: "offline"},
	}
	after := []status.Condition{
		{Type: status.TypeReady, Status: status.False, Reason: ReasonProgressing, Message: "updating", LastTransitionTime: now},
		{Type: status.TypeReconciling, Status: status.True, Reason: ReasonProgressing, Message: "updating"},
		{Type: status.TypeReleasesStale, Status: status.True, Reason: ReasonSourceUnavailable, Message: "offline", LastTransitionTime: now},
	}
	var got []string
	for _, e := range conditionEvents(before, after) {
		c := e.Condition
		got = append(got, fmt.Sprintf("%s=%s/%s/%s", c.Type, c.Status, c.Reason, c.Message))
	}
	want := "Ready=False/Progressing/updating Reconciling=True/Progressing/updating Stalled=False//"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
	if len(conditionEvents(after, after)) != 0 {
		t.Error("events without a change")
	}
}
