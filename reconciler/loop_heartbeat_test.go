package reconciler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
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
// then stops, so a watchdog restarts a daemon whose loop is stuck. Each
// phase waits for what ends it (beats counted, the log line saying the
// reconcile is taken as wedged), not for the clock: only the last check,
// that nothing beats once the beating goroutine has said it stops, gives
// a late beat time to show.
func TestLoopHeartbeatStopsWhenWedged(t *testing.T) {
	const interval = 20 * time.Millisecond
	dir := t.TempDir()
	desired := filepath.Join(dir, "desired.yaml")
	beats := make(chan struct{}, 1024)
	wedged := make(chan struct{})
	var once sync.Once
	log := funcr.New(func(_, args string) {
		if strings.Contains(args, "taken as wedged") {
			once.Do(func() { close(wedged) })
		}
	}, funcr.Options{})
	w := &wedgingReconciler{entered: make(chan struct{})}
	l := &Loop{Reconciler: w, DesiredFile: desired, Resync: time.Hour, Debounce: 10 * time.Millisecond,
		Heartbeat: func() { beats <- struct{}{} }, HeartbeatInterval: interval, WedgedAfter: time.Second}
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), log))
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	// drain empties beats: every beat sent so far.
	drain := func() {
		for {
			select {
			case <-beats:
			default:
				return
			}
		}
	}
	// awaitBeats drains the beats so far, then waits for n more.
	awaitBeats := func(n int, when string) {
		t.Helper()
		drain()
		deadline := time.After(10 * time.Second)
		for i := range n {
			select {
			case <-beats:
			case <-wedged:
				t.Fatalf("%s: taken as wedged after %d beats, want %d first", when, i, n)
			case <-deadline:
				t.Fatalf("%s: %d beats in 10s at a %s interval, want %d", when, i, interval, n)
			}
		}
	}

	awaitBeats(3, "idle loop")
	if err := os.WriteFile(desired, []byte("spec: {version: v1.1.0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no second reconcile after desired.yaml changed")
	}
	awaitBeats(3, "during a reconcile shorter than WedgedAfter")
	select {
	case <-wedged:
	case <-time.After(10 * time.Second):
		t.Fatal("a reconcile running 10s past WedgedAfter (1s) was not taken as wedged")
	}
	// The goroutine that beats logged, then stops: its beats were sent
	// before the log line, so they are all in the channel now.
	drain()
	select {
	case <-beats:
		t.Error("a beat after the reconcile was taken as wedged, want none")
	case <-time.After(10 * interval):
	}
}
