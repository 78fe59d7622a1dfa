package events

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// clock is a fake Now that moves one second per call.
type clock struct{ t time.Time }

func (c *clock) now() time.Time {
	c.t = c.t.Add(time.Second)
	return c.t
}

func ids(es []Event) []uint64 {
	out := make([]uint64, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func seq(from, to uint64) []uint64 {
	var out []uint64
	for id := from; id <= to; id++ {
		out = append(out, id)
	}
	return out
}

func equalIDs(a, b []uint64) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func publishN(b *Broker, n int) {
	for i := range n {
		b.Publish(Event{Type: TypeLog, Operation: "op", Step: "build-backend", Line: fmt.Sprintf("line %d", i)})
	}
}

func TestPublishAssignsIDsAndTime(t *testing.T) {
	c := &clock{t: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	b := NewBroker(4)
	b.Now = c.now
	for i := uint64(1); i <= 6; i++ {
		e := b.Publish(Event{Type: TypeStep, ID: 99, Time: time.Unix(1, 0)})
		if e.ID != i || !e.Time.Equal(c.t) {
			t.Errorf("event %d: id %d time %s, want id %d time %s", i, e.ID, e.Time, i, c.t)
		}
	}
	if b.LastID() != 6 {
		t.Errorf("LastID = %d", b.LastID())
	}
}

func TestSubscribeBacklog(t *testing.T) {
	b := NewBroker(8)
	if s := b.Subscribe(t.Context(), 0); len(s.Backlog) != 0 || s.Gap {
		t.Errorf("empty broker: backlog %v gap %v", ids(s.Backlog), s.Gap)
	}
	publishN(b, 20) // keeps 13..20
	tests := []struct {
		name    string
		lastID  uint64
		want    []uint64
		wantGap bool
	}{
		{"within the ring", 15, seq(16, 20), false},
		{"just before the oldest kept", 12, seq(13, 20), false},
		{"up to date", 20, nil, false},
		{"fell out of the ring", 11, seq(13, 20), true},
		{"everything from the start", 0, seq(13, 20), true},
		{"from before a restart", 25, seq(13, 20), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := b.Subscribe(t.Context(), tt.lastID)
			if !equalIDs(ids(s.Backlog), tt.want) || s.Gap != tt.wantGap {
				t.Errorf("Subscribe(%d): backlog %v gap %v, want %v gap %v", tt.lastID, ids(s.Backlog), s.Gap, tt.want, tt.wantGap)
			}
		})
	}
}

// The ring grows as events come, never beyond its size, and keeps the
// newest events through every growth and once it wraps.
func TestRingGrowsToItsSizeOnly(t *testing.T) {
	const size = 100 // not a power of two: the last growth is capped
	b := NewBroker(size)
	if cap(b.ring) != 0 {
		t.Fatalf("a new broker holds room for %d events, want none", cap(b.ring))
	}
	for n := 1; n <= 3*size; n++ {
		publishN(b, 1)
		if cap(b.ring) > size {
			t.Fatalf("after %d events the ring has room for %d, more than its size %d", n, cap(b.ring), size)
		}
		oldest := uint64(max(1, n-size+1))
		if s := b.Subscribe(t.Context(), 0); !equalIDs(ids(s.Backlog), seq(oldest, uint64(n))) {
			t.Fatalf("after %d events: backlog %v, want %d..%d", n, ids(s.Backlog), oldest, n)
		}
	}
}

func TestSubscribeCurrentStartsAtTheNewestOperation(t *testing.T) {
	b := NewBroker(32)
	if s := b.SubscribeCurrent(t.Context()); len(s.Backlog) != 0 {
		t.Errorf("no operation yet: backlog %v", ids(s.Backlog))
	}
	b.Publish(Event{Type: TypeCondition, Condition: &Condition{Type: "Ready", Status: "True"}}) // 1
	if s := b.SubscribeCurrent(t.Context()); len(s.Backlog) != 0 {
		t.Errorf("only conditions: backlog %v", ids(s.Backlog))
	}
	b.Publish(Event{Type: TypeStep, Operation: "a", Step: "recover", State: StateStarted}) // 2
	b.Publish(Event{Type: TypeOutcome, Operation: "a", Result: ResultSucceeded})           // 3
	b.Publish(Event{Type: TypeCondition, Condition: &Condition{Type: "Ready"}})            // 4
	b.Publish(Event{Type: TypeStep, Operation: "b", Step: "recover", State: StateStarted}) // 5
	b.Publish(Event{Type: TypeCondition, Condition: &Condition{Type: "Reconciling"}})      // 6
	b.Publish(Event{Type: TypeLog, Operation: "b", Step: "build-backend"})                 // 7
	b.Publish(Event{Type: TypeCondition, Condition: &Condition{Type: "Ready"}})            // 8
	s := b.SubscribeCurrent(t.Context())
	if want := seq(5, 8); !equalIDs(ids(s.Backlog), want) || s.Gap {
		t.Errorf("backlog %v gap %v, want %v: operation b from its first event, with the conditions since", ids(s.Backlog), s.Gap, want)
	}
	// Live events follow the backlog.
	b.Publish(Event{Type: TypeStep, Operation: "b"})
	if e := <-s.Events; e.ID != 9 {
		t.Errorf("live event %d, want 9", e.ID)
	}
}

func TestSubscribeDeliversLiveEventsInOrderWithoutGaps(t *testing.T) {
	b := NewBroker(64)
	publishN(b, 10)
	s := b.Subscribe(t.Context(), 4)
	got := ids(s.Backlog)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range s.Events {
			got = append(got, e.ID)
			if e.ID == 14 {
				return
			}
		}
	}()
	publishN(b, 4) // 11..14, live
	<-done
	if want := seq(5, 14); !equalIDs(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestSlowSubscriberIsDroppedNotWaitedFor(t *testing.T) {
	b := NewBroker(64) // buffer 16
	s := b.Subscribe(t.Context(), 0)
	published := make(chan struct{})
	go func() {
		publishN(b, 40) // the subscriber reads nothing meanwhile
		close(published)
	}()
	select {
	case <-published:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish waited for a subscriber that does not read")
	}
	var got []uint64
	for e := range s.Events {
		got = append(got, e.ID)
	}
	if want := seq(1, 16); !equalIDs(got, want) || !s.Dropped() {
		t.Errorf("dropped subscriber got %v (dropped %v), want %v and then a closed channel", got, s.Dropped(), want)
	}
	if b.Subscribers() != 0 {
		t.Errorf("%d subscribers left", b.Subscribers())
	}
	// It reconnects after the last event it handled and misses nothing.
	again := b.Subscribe(t.Context(), got[len(got)-1])
	if want := seq(17, 40); !equalIDs(ids(again.Backlog), want) || again.Gap {
		t.Errorf("resubscribed: backlog %v gap %v, want %v", ids(again.Backlog), again.Gap, want)
	}
}

func TestSubscriptionEndsWithItsContextAndWithClose(t *testing.T) {
	b := NewBroker(8)
	ctx, cancel := context.WithCancel(context.Background())
	s := b.Subscribe(ctx, 0)
	other := b.Subscribe(t.Context(), 0)
	cancel()
	if _, ok := <-s.Events; ok {
		t.Error("an event after the context ended")
	}
	if s.Dropped() || b.Subscribers() != 1 {
		t.Errorf("dropped %v, subscribers %d", s.Dropped(), b.Subscribers())
	}
	b.Close()
	b.Close() // idempotent
	if _, ok := <-other.Events; ok {
		t.Error("an event after Close")
	}
	publishN(b, 3) // still kept, for nobody
	late := b.Subscribe(t.Context(), 0)
	if _, ok := <-late.Events; ok || len(late.Backlog) != 3 {
		t.Errorf("a subscription after Close: backlog %v, open %v", ids(late.Backlog), ok)
	}
}
