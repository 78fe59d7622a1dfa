package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// drain stops srv, whose Serve has returned because the caller closed its
// listener, without dropping a connection it accepted.
//
// http.Server.Shutdown alone is not enough: a connection accepted just
// before it whose request is read just after it is closed without an
// answer (net/http drops a request read while shutting down), and the
// client sees EOF, where the next version would have served it from the
// inherited socket. So nothing more is accepted first (the caller closed
// the listener and Serve returned); then every accepted connection is
// served one last request, keep-alives off; only then does Shutdown run,
// with nothing left to drop.
func drain(ctx context.Context, srv *http.Server, conns *connTracker) error {
	srv.SetKeepAlivesEnabled(false)
	if err := conns.waitQuiet(ctx); err != nil {
		return fmt.Errorf("cannot finish the requests in flight: %w", err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("cannot shut down: %w", err)
	}
	return nil
}

// connTracker knows which connections may still carry a request: new
// ones (accepted, request not read yet) and active ones. Its hook is the
// server's ConnState.
type connTracker struct {
	mu      sync.Mutex
	busy    map[net.Conn]struct{}
	changed chan struct{} // closed and replaced when busy shrinks
}

func newConnTracker() *connTracker {
	return &connTracker{busy: map[net.Conn]struct{}{}, changed: make(chan struct{})}
}

func (t *connTracker) hook(c net.Conn, s http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch s {
	case http.StateNew, http.StateActive:
		t.busy[c] = struct{}{}
	default: // idle, closed, hijacked
		delete(t.busy, c)
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// waitQuiet returns once no connection is new or active, or ctx ends.
func (t *connTracker) waitQuiet(ctx context.Context) error {
	for {
		t.mu.Lock()
		n, changed := len(t.busy), t.changed
		t.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d connections still busy: %w", n, ctx.Err())
		}
	}
}
