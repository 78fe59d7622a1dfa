package events

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// retryMs is the reconnection delay the stream asks browsers for: a
// dropped client is back within a second.
const retryMs = 1000

// writeTimeout bounds each batch of writes to a client. A client that
// stops reading (a laptop put to sleep) is dropped by Publish once its
// buffer is full, but the stream's goroutine would wait in its write
// until the connection dies; the deadline ends it.
const writeTimeout = 30 * time.Second

// Handler serves the events as Server-Sent Events (text/event-stream) to
// GET requests:
//
//	id: 42
//	event: step
//	data: {"id":42,"time":"...","type":"step",...}
//
// A client that sends Last-Event-ID: N (the header an EventSource sends
// when it reconnects) or ?lastEventId=N first gets every kept event with
// an ID above N, then the live ones; when some of those are no longer kept
// (or N is from before the daemon restarted) it first gets a "gap" event,
// without an id, and should read the status afresh. A client that sends
// neither gets the events of the operation in flight or of the last one
// (SubscribeCurrent), so a page opened mid-update draws it from its first
// step. An idle stream carries a ": keepalive" comment every Keepalive;
// each event is flushed as it is written. The stream ends when the client
// goes away, when it falls behind (Subscription.Dropped: it reconnects and
// is served from the ring), or when the Broker is closed.
//
// Refusals are JSON errors, {"error":{"code":...,"message":...}}: 405
// method_not_allowed for a method other than GET, 400 bad_request for a
// Last-Event-ID that is not a whole number, 500 internal when the
// ResponseWriter cannot flush. Authentication is the caller's: wrap the
// handler; a wrapping ResponseWriter must implement Flush or Unwrap.
func (b *Broker) Handler() http.Handler {
	return http.HandlerFunc(b.serve)
}

func (b *Broker) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
			fmt.Sprintf("%s %s streams events; use GET", r.Method, r.URL.Path))
		return
	}
	lastID, resume, err := lastEventID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	if !canFlush(w) {
		writeError(w, http.StatusInternalServerError, "internal",
			"events cannot stream: the server's response writer cannot flush (a middleware's writer must implement Flush or Unwrap)")
		return
	}
	ctx := r.Context()
	var sub *Subscription
	if resume {
		sub = b.Subscribe(ctx, lastID)
	} else {
		sub = b.SubscribeCurrent(ctx)
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: pass each event on as it comes
	w.WriteHeader(http.StatusOK)

	out := bufio.NewWriter(w)
	// Each batch (written, then flushed with send) gets writeTimeout: the
	// buffer passes a long backlog on to w before send.
	arm := func() { _ = rc.SetWriteDeadline(time.Now().Add(writeTimeout)) }
	send := func() bool { return out.Flush() == nil && rc.Flush() == nil }
	arm()
	fmt.Fprintf(out, "retry: %d\n\n", retryMs)
	if sub.Gap {
		writeEvent(out, b.gap(lastID))
	}
	for _, e := range sub.Backlog {
		writeEvent(out, e)
	}
	if !send() {
		return
	}
	keepalive := b.Keepalive
	if keepalive <= 0 {
		keepalive = 15 * time.Second
	}
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-sub.Events:
			if !ok {
				return
			}
			arm()
			writeEvent(out, e)
		case <-tick.C:
			arm()
			out.WriteString(": keepalive\n\n")
		case <-ctx.Done():
			return
		}
		if !send() {
			return
		}
	}
}

// canFlush reports whether w, or a writer it wraps (Unwrap, as
// http.ResponseController follows), can flush: without it no event would
// reach the client until a buffer filled.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case http.Flusher, interface{ FlushError() error }:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// gap is the event that tells a client the events after lastID it asked
// for are not all there.
func (b *Broker) gap(lastID uint64) Event {
	b.mu.Lock()
	last, oldest := b.last, b.oldestLocked()
	b.mu.Unlock()
	msg := fmt.Sprintf("events after %d are no longer kept (the oldest kept is %d); read the status afresh", lastID, oldest)
	if lastID > last {
		msg = fmt.Sprintf("event %d is not from this run of the daemon (it restarted since); read the status afresh", lastID)
	}
	return Event{Time: b.now(), Type: TypeGap, Message: msg}
}

// writeEvent writes e in the stream's framing. encoding/json escapes
// newlines, so the data is one line.
func writeEvent(out *bufio.Writer, e Event) {
	data, err := json.Marshal(e)
	if err != nil {
		// Every field is a plain value; this cannot happen.
		data = []byte(`{"type":"error"}`)
	}
	if e.ID != 0 {
		fmt.Fprintf(out, "id: %d\n", e.ID)
	}
	fmt.Fprintf(out, "event: %s\ndata: %s\n\n", e.Type, data)
}

// lastEventID reads the id the client resumes after: the Last-Event-ID
// header, else the lastEventId query parameter. resume is false when the
// client gave neither.
func lastEventID(r *http.Request) (id uint64, resume bool, err error) {
	field, v := "Last-Event-ID header", r.Header.Get("Last-Event-ID")
	if v == "" {
		field, v = "lastEventId parameter", r.URL.Query().Get("lastEventId")
	}
	if v == "" {
		return 0, false, nil
	}
	id, err = strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("%s %q is not an event id: give the id of the last event received (a whole number), or leave it out", field, v)
	}
	return id, true, nil
}

func writeError(w http.ResponseWriter, code int, errCode, message string) {
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	body.Error.Code, body.Error.Message = errCode, message
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
