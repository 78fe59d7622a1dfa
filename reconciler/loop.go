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
// fsnotify event (editors and Ansible replace the file by renaming, so
// folders are watched, not files), at a jittered resync interval, when a
// cheap poll finds the file's content changed, and after a failure with
// exponential backoff. Events only enqueue; at most one reconcile runs at
// a time.
//
// The watch follows the file through links (a Kubernetes ConfigMap mount,
// a link into a git checkout) and survives its folder being replaced: see
// watchSet. The poll covers what inotify cannot report (an ancestor folder
// renamed, a write through a hard link or bind mount, an overflow).
type Loop struct {
	Reconciler Interface
	// DesiredFile is the file whose changes trigger a reconcile. Its
	// folder is created if missing.
	DesiredFile string
	// Files are more files whose changes trigger a reconcile, watched as
	// DesiredFile is; their folders need not exist yet.
	Files []string
	// Resync is the interval between reconciles without events.
	Resync time.Duration
	// Poll is the interval at which the files are read and hashed; a
	// reconcile is enqueued only when the digest differs from the one seen
	// at the last reconcile. Default 10s.
	Poll time.Duration
	// Debounce folds a burst of events that may leave a file half-written
	// (writes in place, a chmod, a removal, an in-place create that writes
	// follow) into one reconcile after the last of them. Default 100ms. A
	// file renamed into place (editors, Ansible, ConfigMaps, `set` and the
	// API: every atomic writer) is complete by then and is reconciled at
	// once, as is a Wake.
	Debounce time.Duration
	// MinBackoff and MaxBackoff bound the retry delay after an error.
	// Defaults 1s and 5m.
	MinBackoff, MaxBackoff time.Duration
	// Wake, if set, enqueues a reconcile on every receive: the exec
	// supervisor's Exits, so an app that crashed is started again at once
	// (like systemd's Restart=on-failure) instead of at the next resync.
	// While a failure is being retried with backoff a wake is ignored, so
	// an app that keeps crashing cannot defeat the backoff.
	Wake <-chan struct{}
	// Reconciled, if set, is called after every reconcile (tests, demo).
	Reconciled func(Result, error)
	// Heartbeat, if set with HeartbeatInterval, is called every
	// HeartbeatInterval to say the loop is alive and not wedged: systemd's
	// watchdog (WATCHDOG=1). Between reconciles it is a case of the
	// loop's select, so it stops when the loop goroutine does. A reconcile
	// runs on the loop goroutine and may legitimately take long (a build),
	// so while one runs the heartbeat goes on from a helper goroutine, but
	// only for WedgedAfter: a reconcile running longer than that is taken
	// as wedged, the heartbeat stops, and the watchdog restarts the daemon.
	// Heartbeat is never called concurrently with itself.
	Heartbeat         func()
	HeartbeatInterval time.Duration
	// WedgedAfter bounds how long one reconcile keeps the heartbeat going.
	// Default 1h; set it above the longest update the step timeouts allow.
	WedgedAfter time.Duration

	// pollHook, if set, is called after every poll with whether it found
	// a change (tests).
	pollHook func(changed bool)
	// eventHook, if set, is called for every watch event that enqueues a
	// reconcile, with whether it did so at once (tests).
	eventHook func(ev fsnotify.Event, now bool)
}

// Run is one select loop on purpose, longer than a function should be:
// every source of a reconcile (watch events, errors of the watch, the
// debounce, the poll, the resync and the backoff) is visible in one place,
// and they share the timers.
//
// Run reconciles until ctx is done and returns nil then. It returns an
// error only when it cannot create desired.yaml's folder or, at start,
// cannot watch the folders the files need.
func (l *Loop) Run(ctx context.Context) error {
	l.defaults()
	log := logr.FromContextOrDiscard(ctx)
	if err := os.MkdirAll(filepath.Dir(l.DesiredFile), 0o755); err != nil {
		return fmt.Errorf("cannot create folder of %s: %w", l.DesiredFile, err)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("cannot watch %s: %w", l.DesiredFile, err)
	}
	defer w.Close()
	ws := newWatchSet(append([]string{l.DesiredFile}, l.Files...))
	if _, _, err := ws.sync(w); err != nil {
		return err
	}
	log.Info("Watching desired version", "desiredFile", l.DesiredFile, "files", l.Files,
		"folders", ws.folders(), "resync", l.Resync.String(), "poll", l.Poll.String())

	seen := ws.digest() // what the files held at the last reconcile
	poll := time.NewTicker(l.Poll)
	defer poll.Stop()
	debounce := stoppedTimer()
	next := time.NewTimer(0)       // reconcile at once on start
	var heartbeat <-chan time.Time // nil: never ready
	if l.Heartbeat != nil && l.HeartbeatInterval > 0 {
		t := time.NewTicker(l.HeartbeatInterval)
		defer t.Stop()
		heartbeat = t.C
	}
	failures := 0
	var renamedFrom string // the folder of the previous event when it was a rename away
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			// A file moved into place is complete: inotify reports a
			// rename within a folder as a Rename of the old name followed
			// at once by a Create of the new one. Anything else may be
			// half-way (a Create in place, which writes follow) and waits
			// for the debounce. Where the two are not adjacent (a rename
			// from another folder, an event in between) the debounce
			// covers it.
			movedIn := ev.Has(fsnotify.Create) && renamedFrom == filepath.Dir(ev.Name)
			renamedFrom = ""
			if ev.Has(fsnotify.Rename) {
				renamedFrom = filepath.Dir(ev.Name)
			}
			// Names before and after: a swapped link concerns both chains.
			named := ws.concerns(ev.Name)
			moved := l.rewatch(log, w, ws)
			// Writes made before a new folder was watched raised no event
			// there: the digest tells.
			if named || ws.concerns(ev.Name) || moved && ws.digest() != seen {
				now := movedIn && (named || ws.concerns(ev.Name))
				if now {
					debounce.Stop()
					next.Reset(0)
				} else {
					debounce.Reset(l.Debounce)
				}
				if l.eventHook != nil {
					l.eventHook(ev, now)
				}
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// An overflow loses events; reconcile to catch up.
			log.Error(err, "Watch error; reconciling to catch up")
			l.rewatch(log, w, ws)
			debounce.Reset(l.Debounce)
		case <-poll.C:
			l.rewatch(log, w, ws)
			changed := ws.digest() != seen
			if changed {
				log.V(1).Info("Poll found a change", "folders", ws.folders())
				debounce.Reset(l.Debounce)
			}
			if l.pollHook != nil {
				l.pollHook(changed)
			}
		case _, ok := <-l.Wake:
			if !ok {
				l.Wake = nil // closed: never ready again
				continue
			}
			if failures == 0 {
				log.V(1).Info("Woken; reconciling")
				debounce.Stop()
				next.Reset(0)
			}
		case <-heartbeat:
			l.Heartbeat()
		case <-debounce.C:
			next.Reset(0)
		case <-next.C:
			// Read before Reconcile reads: a change made during the
			// reconcile differs from it and is polled again.
			seen = ws.digest()
			stopBeating := l.beatDuring(log)
			res, err := l.Reconciler.Reconcile(ctx)
			stopBeating()
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

// beatDuring keeps the heartbeat going while a reconcile runs, for at
// most WedgedAfter. The returned function stops it and returns once no
// call of Heartbeat is in progress.
func (l *Loop) beatDuring(log logr.Logger) (stop func()) {
	if l.Heartbeat == nil || l.HeartbeatInterval <= 0 {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(l.HeartbeatInterval)
		defer t.Stop()
		wedged := time.After(l.WedgedAfter)
		for {
			select {
			case <-done:
				return
			case <-wedged:
				log.Error(nil, "Reconcile runs longer than it may; taken as wedged, the heartbeat stops", "wedgedAfter", l.WedgedAfter.String())
				return
			case <-t.C:
				l.Heartbeat()
			}
		}
	}()
	return func() {
		close(done)
		<-stopped
	}
}

// rewatch resolves the watched files again and moves the watches to the
// folders they need now. It reports whether any watch moved.
func (l *Loop) rewatch(log logr.Logger, w folderWatcher, ws *watchSet) bool {
	added, removed, err := ws.sync(w)
	if err != nil && err.Error() != ws.failing {
		log.Error(err, "Cannot watch desired version; the poll still checks it", "pollMs", l.Poll.Milliseconds())
	}
	ws.failing = ""
	if err != nil {
		ws.failing = err.Error()
	}
	if len(added) == 0 && len(removed) == 0 {
		return false
	}
	log.Info("Re-established watch", "folders", ws.folders(), "added", added, "removed", removed)
	return true
}

func (l *Loop) defaults() {
	if l.Resync <= 0 {
		l.Resync = 5 * time.Minute
	}
	if l.Poll <= 0 {
		l.Poll = 10 * time.Second
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
	if l.WedgedAfter <= 0 {
		l.WedgedAfter = time.Hour
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
