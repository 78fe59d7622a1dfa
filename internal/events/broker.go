package events

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultSize is how many events a Broker keeps when NewBroker is given
// no size: a whole update (about 25 step events, at most 201 log lines
// per build, a condition per step) several times over.
const DefaultSize = 1024

// Broker fans published events out to subscribers and keeps the newest
// ones for clients that reconnect. It is safe for concurrent use.
//
// Now and Keepalive may be set after NewBroker and before the Broker is
// first used; they are not synchronised.
type Broker struct {
	// Now stamps published events; default time.Now.
	Now func() time.Time
	// Keepalive is how often Handler writes a comment to a stream that
	// has nothing else to say, so proxies and browsers keep it open;
	// default 15 s.
	Keepalive time.Duration

	mu sync.Mutex
	// ring holds the newest events, at most size: the one with ID i at
	// (i-1) % size. It grows as events come, so an idle daemon that
	// publishes a few does not hold size of them (about 250 KiB).
	ring   []Event
	size   int
	last   uint64 // the newest ID; 0 before the first Publish
	subs   map[*subscriber]struct{}
	buffer int
	closed bool
}

// subscriber is one live reader. Its channel is closed exactly once, under
// Broker.mu, when it is removed from Broker.subs.
type subscriber struct {
	ch      chan Event
	dropped atomic.Bool
}

// NewBroker returns a Broker that keeps the newest size events (DefaultSize
// when size <= 0). Each subscriber may fall size/4 events behind before it
// is dropped: a dropped client that reconnects right away finds what it
// missed still in the ring.
func NewBroker(size int) *Broker {
	if size <= 0 {
		size = DefaultSize
	}
	return &Broker{
		Now:       time.Now,
		Keepalive: 15 * time.Second,
		size:      size,
		subs:      map[*subscriber]struct{}{},
		buffer:    max(size/4, 1),
	}
}

// Publish assigns e the next ID and the current time, keeps it (dropping
// the oldest kept event when the ring is full) and hands it to every
// subscriber. It never waits: a subscriber whose buffer is full is
// dropped instead (see Subscription). It returns e as published. After
// Close, events are still kept for nobody; Publish never fails.
func (b *Broker) Publish(e Event) Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last++
	e.ID = b.last
	e.Time = b.now()
	b.keepLocked(e)
	for s := range b.subs {
		select {
		case s.ch <- e:
		default:
			s.dropped.Store(true)
			b.removeLocked(s)
		}
	}
	return e
}

// keepLocked stores e, the newest event, in the ring: appended while the
// ring is not full (IDs 1..size sit at 0..size-1), else over the oldest.
func (b *Broker) keepLocked(e Event) {
	if len(b.ring) < b.size {
		if len(b.ring) == cap(b.ring) {
			// Grown by hand: append could give more room than size.
			grown := make([]Event, len(b.ring), min(max(2*cap(b.ring), 16), b.size))
			copy(grown, b.ring)
			b.ring = grown
		}
		b.ring = append(b.ring, e)
		return
	}
	b.ring[(e.ID-1)%uint64(b.size)] = e
}

// atLocked is the kept event with ID id (oldestLocked <= id <= last).
func (b *Broker) atLocked(id uint64) Event { return b.ring[(id-1)%uint64(b.size)] }

func (b *Broker) now() time.Time {
	if b.Now == nil {
		return time.Now().UTC()
	}
	return b.Now().UTC()
}

// Subscription is what a subscriber gets: the kept events it asked for,
// then the live ones.
type Subscription struct {
	// Backlog is the kept events the subscriber asked for, oldest first.
	Backlog []Event
	// Gap is true when events the subscriber asked for are no longer
	// kept (or were published by an earlier Broker: the daemon restarted
	// since the id it gave). Backlog then holds every kept event, and the
	// subscriber should read the status afresh.
	Gap bool
	// Events delivers every event published after Backlog's, in order,
	// with no repeat. It is closed when the subscription's context ends,
	// when the Broker is closed, or when the subscriber fell behind
	// (Dropped then reports true); a dropped subscriber subscribes again
	// with the id of the last event it handled.
	Events <-chan Event

	sub *subscriber
}

// Dropped reports whether Events was closed because the subscriber did
// not keep up.
func (s *Subscription) Dropped() bool { return s.sub.dropped.Load() }

// Subscribe returns the kept events with an ID above lastID (all of them
// for 0) and the live ones after. The backlog and the live channel are
// taken at one instant: no event is missed or repeated between them. The
// subscription ends when ctx ends.
func (b *Broker) Subscribe(ctx context.Context, lastID uint64) *Subscription {
	return b.subscribe(ctx, func() ([]Event, bool) { return b.afterLocked(lastID) })
}

// SubscribeCurrent is Subscribe for a client that saw nothing yet: its
// backlog is the kept events from the first one of the newest operation
// (the one in flight, or the last one) on, including the conditions
// published since. With no operation kept, the backlog is empty.
func (b *Broker) SubscribeCurrent(ctx context.Context) *Subscription {
	return b.subscribe(ctx, func() ([]Event, bool) { return b.currentLocked(), false })
}

func (b *Broker) subscribe(ctx context.Context, backlog func() ([]Event, bool)) *Subscription {
	s := &subscriber{ch: make(chan Event, b.buffer)}
	b.mu.Lock()
	events, gap := backlog()
	if b.closed || ctx.Err() != nil {
		close(s.ch)
	} else {
		b.subs[s] = struct{}{}
	}
	b.mu.Unlock()
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.removeLocked(s)
	})
	return &Subscription{Backlog: events, Gap: gap, Events: s.ch, sub: s}
}

// removeLocked ends s's subscription if it is still live.
func (b *Broker) removeLocked(s *subscriber) {
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.ch)
	}
}

// oldestLocked is the ID of the oldest kept event (1 when none were
// dropped yet; last+1 when nothing was published).
func (b *Broker) oldestLocked() uint64 {
	if n := uint64(b.size); b.last > n {
		return b.last - n + 1
	}
	return 1
}

// rangeLocked copies the kept events with IDs from..b.last.
func (b *Broker) rangeLocked(from uint64) []Event {
	if from > b.last {
		return nil
	}
	out := make([]Event, 0, b.last-from+1)
	for id := from; id <= b.last; id++ {
		out = append(out, b.atLocked(id))
	}
	return out
}

func (b *Broker) afterLocked(lastID uint64) ([]Event, bool) {
	oldest := b.oldestLocked()
	switch {
	case lastID > b.last:
		// An id this Broker never gave: the daemon restarted since.
		return b.rangeLocked(oldest), true
	case lastID+1 < oldest:
		return b.rangeLocked(oldest), true
	}
	return b.rangeLocked(lastID + 1), false
}

func (b *Broker) currentLocked() []Event {
	oldest := b.oldestLocked()
	op := ""
	for id := b.last; id >= oldest && id > 0; id-- {
		if e := b.atLocked(id); e.Operation != "" {
			op = e.Operation
			break
		}
	}
	if op == "" {
		return nil
	}
	for id := oldest; id <= b.last; id++ {
		if b.atLocked(id).Operation == op {
			return b.rangeLocked(id)
		}
	}
	return nil
}

// LastID returns the ID of the newest event published, 0 before the first.
func (b *Broker) LastID() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last
}

// Subscribers returns how many subscriptions are live.
func (b *Broker) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Close ends every subscription and every stream Handler serves, and
// refuses new ones (they get their backlog and a closed channel). A
// stopping daemon calls it before shutting its HTTP server down: an open
// stream would otherwise hold the shutdown until its deadline. Close is
// idempotent.
func (b *Broker) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		b.removeLocked(s)
	}
}
