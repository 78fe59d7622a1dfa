package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// wedgingReconciler returns at once on its first call, and never on its
// second (until the loop stops): a loop stuck in a reconcile.
type wedgingReconciler struct {
	calls   atomic.Int32
	entered chan struct{}
}

func (w *wedgingReconciler) Reconcile(ctx context.Context) (Result, error) {
	if w.calls.Add(1) == 1 {
		return Result{}, nil
	}
	close(w.entered)
	<-ctx.Done()
	return Result{}, ctx.Err()
}

// TestLoopHeartbeatStopsWhenWedged: the heartbeat (systemd's watchdog)
// beats while the loop waits, goes on during a reconcile for WedgedAfter,
// then stops, so a watchdog restarts a daemon whose loop is stuck.
func TestLoopHeartbeatStopsWhenWedged(t *testing.T) {
	dir := t.TempDir()
	desired := filepath.Join(dir, "desired.yaml")
	var beats atomic.Int64
	count := func(d time.Duration) int64 {
		before := beats.Load()
		time.Sleep(d)
		return beats.Load() - before
	}
	w := &wedgingReconciler{entered: make(chan struct{})}
	l := &Loop{Reconciler: w, DesiredFile: desired, Resync: time.Hour, Debounce: 10 * time.Millisecond,
		Heartbeat: func() { beats.Add(1) }, HeartbeatInterval: 20 * time.Millisecond, WedgedAfter: 400 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	if n := count(200 * time.Millisecond); n < 4 {
		t.Errorf("idle loop: %d beats in 200ms at a 20ms interval, want about 10", n)
	}
	if err := os.WriteFile(desired, []byte("spec: {version: v1.1.0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no second reconcile after desired.yaml changed")
	}
	if n := count(200 * time.Millisecond); n < 4 {
		t.Errorf("during a reconcile shorter than WedgedAfter: %d beats in 200ms, want about 10", n)
	}
	time.Sleep(300 * time.Millisecond) // past WedgedAfter
	if n := count(300 * time.Millisecond); n != 0 {
		t.Errorf("wedged loop: %d beats, want none", n)
	}
}
