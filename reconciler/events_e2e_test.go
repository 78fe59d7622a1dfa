package reconciler_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/events/eventstest"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// streamTimeout bounds how long a client waits for an update's outcome:
// a deadline, never a synchronisation.
const streamTimeout = 3 * time.Minute

// outcomeTo stops a client at the outcome of the operation to version.
func outcomeTo(version string) func(events.Event) bool {
	return func(e events.Event) bool { return e.Type == events.TypeOutcome && e.To == version }
}

// followInBackground follows url from lastID until stop, in a goroutine.
func followInBackground(t *testing.T, url string, lastID uint64, stop func(events.Event) bool) <-chan eventstest.Followed {
	t.Helper()
	done := make(chan eventstest.Followed, 1)
	go func() {
		f, err := eventstest.Follow(context.Background(), url, strconv.FormatUint(lastID, 10), streamTimeout, stop)
		if err != nil {
			t.Error(err)
		}
		done <- f
	}()
	return done
}

// stepTrail renders the step events of operation op as
// "name:phase:state", in order.
func stepTrail(es []events.Event, op string) []string {
	var out []string
	for _, e := range es {
		if e.Type == events.TypeStep && e.Operation == op {
			out = append(out, e.Step+":"+e.Phase+":"+e.State)
		}
	}
	return out
}

// waitUntil polls cond until it holds, failing the test after a deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestEventsOfARealUpdateAndRollback streams a real update of the example
// app and a real rollback over HTTP, as the page sees them: every step's
// start and end in order, the build's output, the conditions and the
// outcome; then a client that drops mid-rollback and comes back with
// Last-Event-ID gets everything it missed, once.
func TestEventsOfARealUpdateAndRollback(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	broker := events.NewBroker(0)
	var err error
	h.r, err = reconciler.New(reconciler.Options{Config: h.cfg, Service: h.svc, Events: broker,
		OnEvent: func(step string, ev reconciler.Event) { h.events = append(h.events, step+":"+string(ev)) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(broker.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(broker.Close)
	h.set("v1.0.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}

	// v1.0.0 -> v1.1.0, followed live from its first event.
	done := followInBackground(t, srv.URL, broker.LastID(), outcomeTo("v1.1.0"))
	waitUntil(t, "the client to subscribe", func() bool { return broker.Subscribers() == 1 })
	h.set("v1.1.0")
	st := h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" {
		t.Fatalf("update: %s %s", condition(st, status.TypeReady), st.CurrentVersion)
	}
	got := <-done
	if got.Connections != 1 || got.Gaps != 0 {
		t.Errorf("%d connections, %d gaps: an update at a build's pace drops no client", got.Connections, got.Gaps)
	}
	op := st.History[0].ID
	var want []string
	for _, name := range reconciler.StepNames(h.cfg) {
		want = append(want, name+":do:started", name+":do:succeeded")
	}
	trail := stepTrail(got.Events, op)
	// fetch is skipped when the tag is already in the clone.
	if i := slices.Index(trail, "fetch:do:skipped"); i >= 0 {
		trail[i] = "fetch:do:succeeded"
	}
	if strings.Join(trail, " ") != strings.Join(want, " ") {
		t.Errorf("step events\n got: %v\nwant: %v", stepTrail(got.Events, op), want)
	}
	var builtUI bool
	running := map[string]bool{}
	for _, e := range got.Events {
		switch e.Type {
		case events.TypeStep:
			running[e.Step] = e.State == events.StateStarted
			if e.State != events.StateStarted && e.DurationMs == nil {
				t.Errorf("%s ended without its duration", e.Step)
			}
		case events.TypeLog:
			if !running[e.Step] || e.Operation != op {
				t.Errorf("log line %q of %s (operation %s) outside its step", e.Line, e.Step, e.Operation)
			}
			builtUI = builtUI || (e.Step == "build-frontend" && strings.Contains(e.Line, "built web UI v1.1.0"))
		}
	}
	if !builtUI {
		t.Errorf("no build-frontend log line says it built the web UI: %v", got.Events)
	}
	last := got.Events[len(got.Events)-1]
	if last.Operation != op || last.Result != events.ResultSucceeded || last.From != "v1.0.0" || last.Failure != nil {
		t.Errorf("outcome %+v", last)
	}
	// The outcome follows the save that records it: Ready=True came first.
	readyAt := slices.IndexFunc(got.Events, func(e events.Event) bool {
		return e.Type == events.TypeCondition && e.Condition.Type == status.TypeReady && e.Condition.Status == string(status.True)
	})
	if readyAt < 0 {
		t.Error("no Ready=True condition event before the outcome")
	}

	// A page opened now, without Last-Event-ID, draws that update from
	// its first step.
	s, err := eventstest.Open(t.Context(), srv.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	if f, err := s.Next(30 * time.Second); err != nil {
		t.Fatal(err)
	} else if e, _ := f.Decode(); e.Operation != op || e.Step != "recover" || e.State != events.StateStarted {
		t.Errorf("first replayed event %+v, want %s's recover started", e, op)
	}
	s.Close()

	// v1.2.0 answers 503 and is rolled back. The client drops when the
	// new version has been swapped in and comes back with Last-Event-ID
	// after it missed at least ten events.
	from := broker.LastID()
	type session struct {
		first, second eventstest.Followed
		err           error
	}
	sessions := make(chan session, 1)
	go func() {
		var ss session
		ss.first, ss.err = eventstest.Follow(context.Background(), srv.URL, strconv.FormatUint(from, 10), streamTimeout, func(e events.Event) bool {
			return e.Type == events.TypeStep && e.Step == "swap" && e.Phase == events.PhaseDo && e.State == events.StateSucceeded
		})
		if ss.err == nil {
			// Follow closed the connection: the page went away. It comes
			// back with the id of the last event it handled, once the
			// rollback has published at least ten events it missed.
			seen := ss.first.Events[len(ss.first.Events)-1].ID
			deadline := time.Now().Add(streamTimeout)
			for broker.LastID() < seen+10 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			ss.second, ss.err = eventstest.Follow(context.Background(), srv.URL,
				strconv.FormatUint(seen, 10), streamTimeout, outcomeTo("v1.2.0"))
		}
		sessions <- ss
	}()
	waitUntil(t, "the client to subscribe", func() bool { return broker.Subscribers() == 1 })
	h.set("v1.2.0")
	st = h.converge()
	if c := st.Get(status.TypeStalled); c == nil || c.Reason != reconciler.ReasonVersionFailed {
		t.Fatalf("after the bad release: Stalled = %+v", c)
	}
	ss := <-sessions
	if ss.err != nil {
		t.Fatal(ss.err)
	}
	both := append(slices.Clone(ss.first.Events), ss.second.Events...)
	outcome := both[len(both)-1]
	var kept []uint64
	for _, e := range broker.Subscribe(t.Context(), from).Backlog {
		if e.ID <= outcome.ID {
			kept = append(kept, e.ID)
		}
	}
	var seen []uint64
	for _, e := range both {
		seen = append(seen, e.ID)
	}
	if !slices.Equal(seen, kept) || ss.first.Gaps+ss.second.Gaps != 0 {
		t.Errorf("the two sessions got %v (%d gaps), the broker published %v: missed or repeated", seen, ss.first.Gaps+ss.second.Gaps, kept)
	}
	t.Logf("first session %d events, second %d", len(ss.first.Events), len(ss.second.Events))

	op = st.History[0].ID
	trail = stepTrail(both, op)
	wantTail := []string{"health:do:started", "health:do:failed"}
	for _, name := range []string{"start", "swap", "build-frontend", "build-backend", "checkout", "recover"} {
		wantTail = append(wantTail, name+":undo:started", name+":undo:succeeded")
	}
	if len(trail) < len(wantTail) || !slices.Equal(trail[len(trail)-len(wantTail):], wantTail) {
		t.Errorf("step events of the rollback\n got: %v\nwant them to end with: %v", trail, wantTail)
	}
	if outcome.Result != events.ResultRolledBack || outcome.Operation != op || outcome.From != "v1.1.0" || outcome.To != "v1.2.0" ||
		outcome.Failure == nil || outcome.Failure.Step != "health" || outcome.Failure.Reason != reconciler.ReasonHealthCheckFailed ||
		!strings.Contains(outcome.Failure.Message, "503") {
		t.Errorf("outcome %+v (failure %+v)", outcome, outcome.Failure)
	}
	// The tail is v1.2.0's own output, read before the rollback started
	// v1.1.0 again.
	if len(outcome.LogTail) == 0 || len(outcome.LogTail) > 20 || !strings.Contains(strings.Join(outcome.LogTail, "\n"), "v1.2.0") {
		t.Errorf("log tail %q, want the end of v1.2.0's output", outcome.LogTail)
	}
	h.serving("v1.1.0")
}
