package reconciler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/better-paas/updater/spec"
)

// countingReconciler reports each call on a channel and returns what the
// test queued.
type countingReconciler struct {
	calls   chan struct{}
	results chan error
}

func (c *countingReconciler) Reconcile(context.Context) (Result, error) {
	var err error
	select {
	case err = <-c.results:
	default:
	}
	c.calls <- struct{}{}
	return Result{}, err
}

// startLoop runs l; the first reconciles return errs, in order.
func startLoop(t *testing.T, l *Loop, errs ...error) (*countingReconciler, func()) {
	t.Helper()
	c := &countingReconciler{calls: make(chan struct{}, 16), results: make(chan error, 16)}
	for _, err := range errs {
		c.results <- err
	}
	l.Reconciler = c
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	return c, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func waitCall(t *testing.T, c *countingReconciler, why string) {
	t.Helper()
	select {
	case <-c.calls:
	case <-time.After(10 * time.Second):
		t.Fatalf("no reconcile %s", why)
	}
}

func noCall(t *testing.T, c *countingReconciler, within time.Duration, why string) {
	t.Helper()
	select {
	case <-c.calls:
		t.Fatalf("unexpected reconcile %s", why)
	case <-time.After(within):
	}
}

func TestLoopReconcilesOnStartAndOnAtomicReplace(t *testing.T) {
	dir := t.TempDir()
	desired := filepath.Join(dir, "etc", "desired.yaml")
	c, stop := startLoop(t, &Loop{DesiredFile: desired, Resync: time.Hour, Debounce: 10 * time.Millisecond})
	defer stop()
	waitCall(t, c, "on start")

	// spec.Write replaces the file by rename, as editors and Ansible do.
	if err := spec.Write(desired, spec.New("v1.1.0")); err != nil {
		t.Fatal(err)
	}
	waitCall(t, c, "after an atomic replace")

	// A plain rewrite in place is seen too.
	if err := os.WriteFile(desired, []byte("spec: {version: v1.2.0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCall(t, c, "after an in-place write")

	// Another file in the folder does not trigger a reconcile.
	if err := os.WriteFile(filepath.Join(dir, "etc", "other.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	noCall(t, c, 300*time.Millisecond, "for an unrelated file")
}

func TestLoopRetriesErrorsWithBackoffAndResyncs(t *testing.T) {
	dir := t.TempDir()
	l := &Loop{DesiredFile: filepath.Join(dir, "desired.yaml"), Resync: 50 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}
	var results []error
	l.Reconciled = func(_ Result, err error) { results = append(results, err) }
	c, stop := startLoop(t, l, errors.New("network down"), errors.New("network down"))
	for i := 0; i < 4; i++ { // two failures retried, then resyncs keep coming
		waitCall(t, c, "for retry or resync")
	}
	stop()
	// The fourth call proves the loop went on after the success; by then
	// the first three have been reported (one reconcile at a time).
	if len(results) < 3 || results[0] == nil || results[1] == nil || results[2] != nil {
		t.Errorf("results = %v", results)
	}
	if got := l.backoff(1); got != 20*time.Millisecond {
		t.Errorf("backoff(1) = %v", got)
	}
	if got := l.backoff(10); got != 40*time.Millisecond {
		t.Errorf("backoff(10) = %v, want capped at MaxBackoff", got)
	}
	for i := 0; i < 100; i++ {
		if j := jitter(time.Minute); j < 54*time.Second || j > 66*time.Second {
			t.Fatalf("jitter(1m) = %v, outside ±10%%", j)
		}
	}
}
