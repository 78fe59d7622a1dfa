package service

import (
	"context"
	"time"
)

// adoptedPoll is how often Exits checks an adopted backend, which is not
// this process's child and so cannot be waited for.
const adoptedPoll = 250 * time.Millisecond

// Exits returns a channel that receives a value soon after a backend this
// Exec started or adopted stops running, whatever the cause: a crash, a
// kill, or a Stop. It is how the daemon restarts a crashed app at once,
// like systemd's Restart=on-failure, instead of at its next resync: the
// receiver decides whether the exit was meant. A value is dropped when the
// previous one has not been received yet (one pending exit says enough).
// A backend this Exec started is noticed the moment it is reaped; an
// adopted one (started by an earlier daemon) within adoptedPoll. The
// channel is closed when ctx ends.
func (e *Exec) Exits(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	notify := func() {
		select {
		case out <- struct{}{}:
		default:
		}
	}
	// The first look is taken now, so an exit right after Exits returns
	// is not missed.
	w := e.look()
	go func() {
		defer close(out)
		for {
			switch {
			case w.running && w.own != nil:
				select {
				case <-w.own.exited:
				case <-ctx.Done():
					return
				}
			case w.running:
				if !e.pollUntilGone(ctx, w.rec) {
					return
				}
			default:
				select {
				case <-w.started:
				case <-ctx.Done():
					return
				}
			}
			prev := w
			w = e.look()
			// The backend watched has exited; or one started since the
			// last look and has exited already.
			if prev.running || !w.running && w.starts != prev.starts {
				notify()
			}
		}
	}()
	return out
}

// watch is what Exits saw at one look.
type watch struct {
	rec     pidRecord
	running bool
	own     *child // the backend, when this Exec started it
	starts  uint64 // backends started by this Exec so far
	started <-chan struct{}
}

// look observes the backend, under the same lock as Start, with a channel
// the next Start closes.
func (e *Exec) look() watch {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started == nil {
		e.started = make(chan struct{})
	}
	w := watch{starts: e.starts, started: e.started}
	// An unreadable pidfile counts as not running: Start or the
	// reconciler will say why.
	if rec, running, err := e.observe(); err == nil && running {
		w.rec, w.running = rec, true
		if e.isOwn(rec) {
			w.own = e.own
		}
	}
	return w
}

// pollUntilGone returns once an adopted backend is gone (true) or ctx ends
// (false). On Linux it waits on a pidfd, which costs nothing while the
// backend runs; elsewhere, or when that fails, it checks every
// adoptedPoll.
func (e *Exec) pollUntilGone(ctx context.Context, rec pidRecord) bool {
	alive := func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		alive, err := e.alive(rec)
		return err != nil || alive
	}
	if waitExit(ctx, rec.pid, alive) && !alive() {
		return true
	}
	tick := time.NewTicker(adoptedPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
		e.mu.Lock()
		alive, err := e.alive(rec)
		e.mu.Unlock()
		if err == nil && !alive {
			return true
		}
	}
}
