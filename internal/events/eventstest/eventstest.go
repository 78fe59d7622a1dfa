// Package eventstest reads a Broker's stream over real HTTP the way a
// browser's EventSource does, for tests: it parses the text/event-stream
// framing, and Follow reconnects with Last-Event-ID when a stream ends.
package eventstest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/better-paas/updater/internal/events"
)

// Frame is one dispatched block of the stream: an event (Data set), a
// comment line (Comment set) or a retry-only block.
type Frame struct {
	ID, Event, Data, Retry string
	// HasID is true when the block carried an id: field.
	HasID   bool
	Comment string
}

// Decode returns the event in f's data.
func (f Frame) Decode() (events.Event, error) {
	var e events.Event
	if err := json.Unmarshal([]byte(f.Data), &e); err != nil {
		return e, fmt.Errorf("cannot decode event %q: %w", f.Data, err)
	}
	return e, nil
}

// Stream is one connection to a stream.
type Stream struct {
	// Response is the server's answer; its body is read by the Stream.
	Response *http.Response
	frames   chan Frame
	ctx      context.Context
	cancel   context.CancelFunc
	mu       sync.Mutex
	err      error
}

// Open connects to url. lastEventID, unless "", is sent as the
// Last-Event-ID header. A status other than 200 is an error naming it and
// the body.
func Open(ctx context.Context, url, lastEventID string) (*Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("cannot open %s: %w", url, err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("cannot open %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		var b strings.Builder
		_, _ = bufio.NewReader(resp.Body).WriteTo(&b)
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("cannot open %s: %s: %s", url, resp.Status, b.String())
	}
	s := &Stream{Response: resp, frames: make(chan Frame, 64), ctx: ctx, cancel: cancel}
	go s.read()
	return s, nil
}

func (s *Stream) read() {
	defer close(s.frames)
	defer s.Response.Body.Close()
	r := bufio.NewReader(s.Response.Body)
	var f Frame
	var data []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			s.mu.Lock()
			s.err = err
			s.mu.Unlock()
			return
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			if data != nil || f.Retry != "" || f.HasID {
				f.Data = strings.Join(data, "\n")
				if !s.deliver(f) {
					return
				}
			}
			f, data = Frame{}, nil
			continue
		}
		if c, ok := strings.CutPrefix(line, ":"); ok {
			if !s.deliver(Frame{Comment: strings.TrimPrefix(c, " ")}) {
				return
			}
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			f.ID, f.HasID = value, true
		case "event":
			f.Event = value
		case "data":
			data = append(data, value)
		case "retry":
			f.Retry = value
		}
	}
}

// deliver hands f on, unless the Stream was closed first.
func (s *Stream) deliver(f Frame) bool {
	select {
	case s.frames <- f:
		return true
	case <-s.ctx.Done():
		s.mu.Lock()
		s.err = s.ctx.Err()
		s.mu.Unlock()
		return false
	}
}

// Frames delivers the frames as they arrive; it is closed when the stream
// ends (Err then says why).
func (s *Stream) Frames() <-chan Frame { return s.frames }

// Err is the error that ended the stream (io.EOF when the server ended
// it), nil while it runs.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the connection, as a browser does when the page goes away.
func (s *Stream) Close() { s.cancel() }

// Next returns the next frame that is an event (comments and retry-only
// blocks are skipped), or an error when the stream ends or none comes
// within timeout.
func (s *Stream) Next(timeout time.Duration) (Frame, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case f, ok := <-s.frames:
			if !ok {
				return Frame{}, fmt.Errorf("stream ended: %w", s.Err())
			}
			if f.Event != "" {
				return f, nil
			}
		case <-deadline.C:
			return Frame{}, fmt.Errorf("no event within %s", timeout)
		}
	}
}

// Followed is what Follow received.
type Followed struct {
	// Events are the events received, in order, over every connection.
	Events []events.Event
	// Connections counts the connections made; Gaps the gap events.
	Connections, Gaps int
}

// ErrTimeout is returned by Follow when stop did not accept an event in
// time.
var ErrTimeout = errors.New("timed out")

// Follow reads url until stop accepts an event, reconnecting with the id
// of the last event received whenever a stream ends (a subscriber that
// fell behind is dropped by the server and must come back), as an
// EventSource does. lastEventID is sent on the first connection unless "".
// It gives up after timeout in all.
func Follow(ctx context.Context, url, lastEventID string, timeout time.Duration, stop func(events.Event) bool) (Followed, error) {
	var got Followed
	deadline := time.Now().Add(timeout)
	last := lastEventID
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return got, fmt.Errorf("following %s: %w after %s with %d events", url, ErrTimeout, timeout, len(got.Events))
		}
		s, err := Open(ctx, url, last)
		if err != nil {
			return got, err
		}
		got.Connections++
		for {
			f, err := s.Next(time.Until(deadline))
			if err != nil {
				s.Close()
				break // ended or timed out: the loop decides
			}
			e, err := f.Decode()
			if err != nil {
				s.Close()
				return got, err
			}
			if e.Type == events.TypeGap {
				got.Gaps++
				continue
			}
			got.Events = append(got.Events, e)
			last = f.ID
			if stop(e) {
				s.Close()
				return got, nil
			}
		}
	}
}
