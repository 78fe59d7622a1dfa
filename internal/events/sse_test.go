package events_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/events/eventstest"
)

const wait = 20 * time.Second // a deadline, never a synchronisation

func serve(t *testing.T, b *events.Broker) string {
	t.Helper()
	srv := httptest.NewServer(b.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(b.Close) // before srv.Close: open streams end
	return srv.URL
}

func publish(b *events.Broker, n int) {
	for i := range n {
		b.Publish(events.Event{Type: events.TypeLog, Operation: "op", Step: "build-backend", Line: fmt.Sprintf("line %d", i)})
	}
}

func eventIDs(es []events.Event) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func upTo(n uint64) func(events.Event) bool { return func(e events.Event) bool { return e.ID >= n } }

// exactlyOnce fails unless got is 1..n, in order, each once.
func exactlyOnce(t *testing.T, what string, got []uint64, n uint64) {
	t.Helper()
	if uint64(len(got)) != n {
		t.Errorf("%s: %d events, want %d (%v)", what, len(got), n, got)
		return
	}
	for i, id := range got {
		if id != uint64(i+1) {
			t.Errorf("%s: event %d has id %d: missed or repeated (%v)", what, i, id, got)
			return
		}
	}
}

func TestStreamFramingAndOrder(t *testing.T) {
	b := events.NewBroker(0)
	url := serve(t, b)
	s, err := eventstest.Open(t.Context(), url, "0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ct := s.Response.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := s.Response.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q", cc)
	}
	sent := []events.Event{
		{Type: events.TypeStep, Operation: "op1", Step: "build-backend", Phase: events.PhaseDo, State: events.StateStarted},
		{Type: events.TypeLog, Operation: "op1", Step: "build-backend", Line: "line with \"quotes\"\tand a\nnewline"},
		{Type: events.TypeStep, Operation: "op1", Step: "build-backend", Phase: events.PhaseDo, State: events.StateSucceeded, DurationMs: events.Millis(0)},
		{Type: events.TypeCondition, Condition: &events.Condition{Type: "Ready", Status: "False", Reason: "Progressing", Message: "updating"}},
		{Type: events.TypeOutcome, Operation: "op1", From: "v1.0.0", To: "v1.1.0", Result: events.ResultRolledBack,
			Failure: &events.Failure{Step: "health", Reason: "HealthCheckFailed", Message: "503"}, LogTail: []string{"a", "b"}},
	}
	for _, e := range sent {
		b.Publish(e)
	}
	for i, want := range sent {
		f, err := s.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		if f.ID != strconv.Itoa(i+1) || f.Event != want.Type {
			t.Errorf("frame %d: id %q event %q, want id %d event %q", i, f.ID, f.Event, i+1, want.Type)
		}
		got, err := f.Decode()
		if err != nil {
			t.Fatal(err)
		}
		want.ID, want.Time = got.ID, got.Time
		if a, b := mustJSON(t, got), mustJSON(t, want); a != b {
			t.Errorf("frame %d:\n got %s\nwant %s", i, a, b)
		}
	}
	// The contract's shape, field by field.
	if got := rawEvent(t, url, "3"); !strings.HasPrefix(got, `{"id":4,"time":"`) {
		t.Errorf("data starts %q", got)
	}
	raw := rawEvent(t, url, "2")
	for _, want := range []string{`"type":"step"`, `"operation":"op1"`, `"step":"build-backend"`, `"phase":"do"`, `"state":"succeeded"`, `"durationMs":0`} {
		if !strings.Contains(raw, want) {
			t.Errorf("step end %s lacks %s", raw, want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rawEvent returns the data of the first event after lastID.
func rawEvent(t *testing.T, url, lastID string) string {
	t.Helper()
	s, err := eventstest.Open(t.Context(), url, lastID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, err := s.Next(wait)
	if err != nil {
		t.Fatal(err)
	}
	return f.Data
}

func TestReconnectWithLastEventIDMissesNothingAndRepeatsNothing(t *testing.T) {
	for _, how := range []string{"header", "query"} {
		t.Run(how, func(t *testing.T) {
			b := events.NewBroker(0)
			url := serve(t, b)
			publish(b, 50)
			first, err := eventstest.Open(t.Context(), url, "0")
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for range 20 {
				f, err := first.Next(wait)
				if err != nil {
					t.Fatal(err)
				}
				id, _ := strconv.ParseUint(f.ID, 10, 64)
				got = append(got, id)
			}
			first.Close()  // the page goes away mid-stream
			publish(b, 30) // missed while away
			last := strconv.FormatUint(got[len(got)-1], 10)
			u, header := url, last
			if how == "query" {
				u, header = url+"?lastEventId="+last, ""
			}
			done := make(chan eventstest.Followed)
			go func() {
				f, err := eventstest.Follow(t.Context(), u, header, wait, upTo(100))
				if err != nil {
					t.Error(err)
				}
				done <- f
			}()
			publish(b, 20) // live, whether or not it has connected yet
			second := <-done
			exactlyOnce(t, "both sessions", append(got, eventIDs(second.Events)...), 100)
			if second.Gaps != 0 {
				t.Errorf("%d gap events", second.Gaps)
			}
		})
	}
}

func TestGapWhenTheRingHasMovedOn(t *testing.T) {
	b := events.NewBroker(8)
	url := serve(t, b)
	publish(b, 20) // keeps 13..20
	for _, tc := range []struct{ lastID, message string }{
		{"3", "events after 3 are no longer kept (the oldest kept is 13)"},
		{"99", "event 99 is not from this run of the daemon"},
	} {
		s, err := eventstest.Open(t.Context(), url, tc.lastID)
		if err != nil {
			t.Fatal(err)
		}
		f, err := s.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		gap, _ := f.Decode()
		if f.Event != events.TypeGap || f.HasID || gap.ID != 0 || !strings.Contains(gap.Message, tc.message) {
			t.Errorf("Last-Event-ID %s: first frame %+v, want a gap without an id saying %q", tc.lastID, f, tc.message)
		}
		for want := 13; want <= 20; want++ {
			f, err := s.Next(wait)
			if err != nil {
				t.Fatal(err)
			}
			if f.ID != strconv.Itoa(want) {
				t.Errorf("after the gap: id %s, want %d", f.ID, want)
			}
		}
		s.Close()
	}
}

func TestWithoutLastEventIDTheNewestOperationIsReplayed(t *testing.T) {
	b := events.NewBroker(0)
	url := serve(t, b)
	b.Publish(events.Event{Type: events.TypeOutcome, Operation: "old", Result: events.ResultSucceeded})
	b.Publish(events.Event{Type: events.TypeStep, Operation: "new", Step: "recover", State: events.StateStarted})
	b.Publish(events.Event{Type: events.TypeCondition, Condition: &events.Condition{Type: "Ready", Status: "False"}})
	s, err := eventstest.Open(t.Context(), url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b.Publish(events.Event{Type: events.TypeStep, Operation: "new", Step: "recover", State: events.StateSucceeded})
	for _, want := range []string{"2", "3", "4"} {
		f, err := s.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		if f.ID != want {
			t.Errorf("id %s, want %s", f.ID, want)
		}
	}
}

func TestKeepaliveComments(t *testing.T) {
	b := events.NewBroker(0)
	b.Keepalive = 10 * time.Millisecond
	url := serve(t, b)
	s, err := eventstest.Open(t.Context(), url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	timeout := time.After(wait)
	for seen := 0; seen < 2; {
		select {
		case f, ok := <-s.Frames():
			if !ok {
				t.Fatalf("stream ended: %v", s.Err())
			}
			if f.Comment == "keepalive" {
				seen++
			} else if f.Retry != "1000" {
				t.Errorf("unexpected frame %+v", f)
			}
		case <-timeout:
			t.Fatal("no keepalive comment")
		}
	}
}

func TestRefusals(t *testing.T) {
	url := serve(t, events.NewBroker(0))
	for _, tc := range []struct {
		method, query, header string
		code                  int
		errCode, message      string
	}{
		{http.MethodPost, "", "", 405, "method_not_allowed", "use GET"},
		{http.MethodGet, "", "abc", 400, "bad_request", `Last-Event-ID header "abc" is not an event id`},
		{http.MethodGet, "?lastEventId=-1", "", 400, "bad_request", `lastEventId parameter "-1" is not an event id`},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), tc.method, url+tc.query, nil)
		if tc.header != "" {
			req.Header.Set("Last-Event-ID", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Error struct{ Code, Message string }
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.code || body.Error.Code != tc.errCode || !strings.Contains(body.Error.Message, tc.message) {
			t.Errorf("%s %s %s: %d %+v %v, want %d %s %q", tc.method, tc.query, tc.header, resp.StatusCode, body, err, tc.code, tc.errCode, tc.message)
		}
	}
}

// plainWriter hides the Flusher of the writer it wraps, as a careless
// middleware does.
type plainWriter struct{ w http.ResponseWriter }

func (p plainWriter) Header() http.Header         { return p.w.Header() }
func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p plainWriter) WriteHeader(code int)        { p.w.WriteHeader(code) }

// unwrapWriter hides it too, but says what it wraps.
type unwrapWriter struct{ plainWriter }

func (u unwrapWriter) Unwrap() http.ResponseWriter { return u.w }

func TestAWriterThatCannotFlushIsRefused(t *testing.T) {
	b := events.NewBroker(0)
	t.Cleanup(b.Close)
	h := b.Handler()
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(plainWriter{w}, r) }))
	defer plain.Close()
	resp, err := http.Get(plain.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || !strings.Contains(string(body), "must implement Flush or Unwrap") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	unwrapping := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(unwrapWriter{plainWriter{w}}, r) }))
	defer unwrapping.Close()
	b.Publish(events.Event{Type: events.TypeStep, Operation: "op"})
	s, err := eventstest.Open(t.Context(), unwrapping.URL, "0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if f, err := s.Next(wait); err != nil || f.ID != "1" {
		t.Errorf("through Unwrap: %+v %v", f, err)
	}
}

// TestSlowClientDoesNotBlockPublish: a client that stops reading (its
// socket buffers full, the stream's write blocked) is dropped; Publish
// never waits for it, and a client reading meanwhile gets everything.
func TestSlowClientDoesNotBlockPublish(t *testing.T) {
	b := events.NewBroker(0)
	url := serve(t, b)
	addr := strings.TrimPrefix(url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nLast-Event-ID: 0\r\n\r\n", addr); err != nil {
		t.Fatal(err)
	}
	// Its headers arrive once it is subscribed; after that it reads nothing.
	r := bufio.NewReader(conn)
	if status, err := r.ReadString('\n'); err != nil || !strings.Contains(status, "200") {
		t.Fatalf("status %q %v", status, err)
	}
	waitFor(t, "the slow client to subscribe", func() bool { return b.Subscribers() == 1 })

	line := strings.Repeat("x", 1024)
	const n = 20000 // 20 MiB: more than any socket buffers hold
	published := make(chan time.Duration)
	go func() {
		var longest time.Duration
		for i := range n {
			began := time.Now()
			b.Publish(events.Event{Type: events.TypeLog, Operation: "op", Step: "build-backend", Line: fmt.Sprintf("%d %s", i, line)})
			longest = max(longest, time.Since(began))
		}
		published <- longest
	}()
	select {
	case longest := <-published:
		t.Logf("%d events published; the longest Publish took %s", n, longest)
	case <-time.After(wait):
		t.Fatal("Publish is blocked by a client that does not read")
	}
	waitFor(t, "the slow client to be dropped", func() bool { return b.Subscribers() == 0 })

	// A client that reads gets the ring's events, in order.
	got, err := eventstest.Follow(t.Context(), url, strconv.Itoa(n-100), wait, upTo(n))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Events) != 100 || got.Events[0].ID != n-99 {
		t.Errorf("after the slow client: %d events from %d", len(got.Events), got.Events[0].ID)
	}
	// The slow client's stream ended: what it can still read stops.
	conn.Close()
	_, _ = io.Copy(io.Discard, r)
}

// TestManyConcurrentSubscribers: every subscriber gets every event once,
// in order, while events are published as fast as they come; a client
// that falls behind reconnects from the ring (the run publishes less than
// the ring holds, so none ever finds a gap).
func TestManyConcurrentSubscribers(t *testing.T) {
	b := events.NewBroker(0)
	url := serve(t, b)
	const clients, n = 20, 1000
	var wg sync.WaitGroup
	results := make([]eventstest.Followed, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := eventstest.Follow(t.Context(), url, "0", wait, upTo(n))
			if err != nil {
				t.Error(err)
			}
			results[i] = f
		}()
	}
	waitFor(t, "every client to subscribe", func() bool { return b.Subscribers() == clients })
	var pub sync.WaitGroup
	for w := range 4 { // four publishers at once, as a build's output and the runner's steps
		pub.Add(1)
		go func() {
			defer pub.Done()
			for i := range n / 4 {
				b.Publish(events.Event{Type: events.TypeLog, Step: fmt.Sprint(w), Line: fmt.Sprint(i)})
			}
		}()
	}
	pub.Wait()
	wg.Wait()
	reconnects := 0
	for i, r := range results {
		exactlyOnce(t, fmt.Sprintf("client %d", i), eventIDs(r.Events), n)
		if r.Gaps != 0 {
			t.Errorf("client %d: %d gaps", i, r.Gaps)
		}
		reconnects += r.Connections - 1
	}
	t.Logf("%d clients, %d events each, %d reconnects after being dropped", clients, n, reconnects)
}

func TestCloseEndsStreams(t *testing.T) {
	b := events.NewBroker(0)
	url := serve(t, b)
	s, err := eventstest.Open(t.Context(), url, "0")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the client to subscribe", func() bool { return b.Subscribers() == 1 })
	b.Close()
	if _, err := s.Next(wait); err == nil || !strings.Contains(err.Error(), "EOF") {
		t.Errorf("after Close: %v, want the stream ended", err)
	}
}

// waitFor polls cond until it holds, failing the test after wait.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
