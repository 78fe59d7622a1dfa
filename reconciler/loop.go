package reconciler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
)

// Interface is what Loop drives; *Reconciler implements it.
type Interface interface {
	Reconcile(ctx context.Context) (Result, error)
}

var _ Interface = (*Reconciler)(nil)

// Loop runs a Reconciler whenever desired.yaml may have changed: on an
// fsnotify event in its folder (editors and Ansible replace the file by
// renaming, so the folder is watched, not the file), at a jittered resync
// interval, and after a failure with exponential backoff. Events only
// enqueue; at most one reconcile runs at a time.
type Loop struct {
	Reconciler Interface
	// DesiredFile is the file whose changes trigger a reconcile.
	DesiredFile string
	// Resync is the interval between reconciles without events.
	Resync time.Duration
	// Debounce folds a burst of events (write, chmod, rename) into one
	// reconcile. Default 100ms.
	Debounce time.Duration
	// MinBackoff and MaxBackoff bound the retry delay after an error.
	// Defaults 1s and 5m.
	MinBackoff, MaxBackoff time.Duration
	// Reconciled, if set, is called after every reconcile (tests, demo).
	Reconciled func(Result, error)
}

// Run reconciles until ctx is done. It returns an error only when it
// cannot watch desired.yaml's folder.
func (l *Loop) Run(ctx context.Context) error {
	l.defaults()
	log := logr.FromContextOrDiscard(ctx)
	dir := filepath.Dir(l.DesiredFile)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot create folder of %s: %w", l.DesiredFile, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("cannot watch %s: %w", dir, err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("cannot watch %s: %w", dir, err)
	}
	log.Info("Watching desired version", "desiredFile", l.DesiredFile, "resync", l.Resync.String())

	debounce := stoppedTimer()
	next := time.NewTimer(0) // reconcile at once on start
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if filepath.Clean(ev.Name) == filepath.Clean(l.DesiredFile) {
				debounce.Reset(l.Debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow loses events; reconcile to catch up.
			log.Error(err, "Watch error; reconciling to catch up")
			debounce.Reset(l.Debounce)
		case <-debounce.C:
			next.Reset(0)
		case <-next.C:
			res, err := l.Reconciler.Reconcile(ctx)
			if ctx.Err() != nil {
				return nil
			}
			if l.Reconciled != nil {
				l.Reconciled(res, err)
			}
			switch {
			case err != nil:
				failures++
				delay := l.backoff(failures)
				log.Error(err, "Reconcile failed; retrying", "retryInMs", delay.Milliseconds(), "failures", failures)
				next.Reset(delay)
			case res.Requeue:
				failures = 0
				next.Reset(0)
			case res.RequeueAfter > 0 && res.RequeueAfter < l.Resync:
				failures = 0
				next.Reset(res.RequeueAfter)
			default:
				failures = 0
				next.Reset(jitter(l.Resync))
			}
		}
	}
}

func (l *Loop) defaults() {
	if l.Resync <= 0 {
		l.Resync = 5 * time.Minute
	}
	if l.Debounce <= 0 {
		l.Debounce = 100 * time.Millisecond
	}
	if l.MinBackoff <= 0 {
		l.MinBackoff = time.Second
	}
	if l.MaxBackoff <= 0 {
		l.MaxBackoff = 5 * time.Minute
	}
}

// backoff doubles from MinBackoff per consecutive failure up to MaxBackoff.
func (l *Loop) backoff(failures int) time.Duration {
	d := l.MinBackoff
	for i := 1; i < failures && d < l.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, l.MaxBackoff)
}

// jitter spreads resyncs of a fleet over ±10% of the interval, so hosts
// pinned by one GitOps commit do not all hit the remote at once.
func jitter(d time.Duration) time.Duration {
	return d + time.Duration((rand.Float64()*0.2-0.1)*float64(d))
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}
