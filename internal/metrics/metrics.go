package metrics

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/github"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/promtext"
	"github.com/better-paas/updater/status"
)

// namespace prefixes every metric of the updater.
const namespace = "better_paas_updater"

// Publisher is what the reconciler publishes its events to
// (reconciler.Publisher, *events.Broker).
type Publisher interface {
	Publish(events.Event) events.Event
}

// Options configure New.
type Options struct {
	// Layout is the state folder: status.yaml, the backups, the release
	// cache. Required.
	Layout layout.Layout
	// Version is the daemon's version (main.version); Commit its source
	// commit, read from the binary's build information when empty.
	Version, Commit string
	// Next receives every event after the Collector has seen it (the
	// broker behind /api/v1/events); nil drops them.
	Next Publisher
	// Now is the clock of the ages; time.Now when nil.
	Now func() time.Time
	// Log receives, at debug level, why a file could not be read at a
	// scrape. The zero Logger discards.
	Log logr.Logger
}

// Collector gathers the updater's metrics. It is a Publisher to put
// between the reconciler and the event broker, and times reconciles
// (ObserveReconcile). It is safe for concurrent use; a nil *Collector
// does nothing.
type Collector struct {
	next   Publisher
	layout layout.Layout
	now    func() time.Time
	log    logr.Logger
	build  []string // build_info's label values
	scrape chan struct{}

	updates    *promtext.CounterVec
	rollbacks  *promtext.CounterVec
	steps      *promtext.HistogramVec
	reconciles *promtext.HistogramVec
	backupDur  *promtext.GaugeVec

	cacheMu sync.Mutex
	cache   cacheAge // the release cache's fetchedAt, by the file's identity
}

var _ Publisher = (*Collector)(nil)

// Results of an outcome, every one of which updates_total exports from
// the start (at 0), so increase() sees the first one.
var outcomeResults = []string{events.ResultSucceeded, events.ResultRolledBack, events.ResultRollbackFailed,
	events.ResultFailed, events.ResultInterrupted}

// stepBuckets span a skipped step (milliseconds) to a long build or health
// gate (minutes).
var stepBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800}

// The metrics counted from the events.
var (
	updatesDesc = desc("updates_total", promtext.Counter,
		"Operations (updates, and rollbacks someone asked for) that ended, by result, since the daemon started.", "result")
	rollbacksDesc = desc("rollbacks_total", promtext.Counter,
		"Rollbacks someone asked for (history kind Rollback) that ended, by result, since the daemon started; automatic rollbacks are updates_total{result=\"RolledBack\"}.", "result")
	stepsDesc = desc("step_duration_seconds", promtext.Histogram,
		"How long each step of an operation ran, by step, phase (do, undo) and result (succeeded, failed, skipped, held: a hook asked to wait).",
		"step", "phase", "result")
	reconcilesDesc = desc("reconcile_duration_seconds", promtext.Histogram,
		"How long each reconcile took, by result (success, error), an operation's steps included.", "result")
	backupDurDesc = desc("last_backup_duration_seconds", promtext.Gauge,
		"How long the last backup pass took since the daemon started, by pass (hot: the backup step; cold: cold-backup).", "pass")
	buildDesc = desc("build_info", promtext.Gauge,
		"The daemon's version, source commit and Go version, always 1.", "version", "commit", "goversion")
)

// maxScrapes is how many scrapes are answered at once; more are refused
// with 503, so a misconfigured scraper cannot pile work on the daemon.
const maxScrapes = 4

// New returns a Collector holding the updater's metrics and the Go
// runtime's and the process's (go_*, process_*).
func New(o Options) *Collector {
	c := &Collector{next: o.Next, layout: o.Layout, now: o.Now, log: o.Log,
		build:  []string{o.Version, commitOf(o.Commit), runtime.Version()},
		scrape: make(chan struct{}, maxScrapes),
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.updates = promtext.NewCounterVec(updatesDesc)
	c.rollbacks = promtext.NewCounterVec(rollbacksDesc)
	for _, r := range outcomeResults {
		c.updates.Add(0, r)
		c.rollbacks.Add(0, r)
	}
	c.steps = promtext.NewHistogramVec(stepsDesc, stepBuckets)
	c.reconciles = promtext.NewHistogramVec(reconcilesDesc, stepBuckets)
	c.backupDur = promtext.NewGaugeVec(backupDurDesc)
	return c
}

// commitOf is commit, else the binary's vcs.revision, else "unknown".
func commitOf(commit string) string {
	if commit != "" {
		return commit
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// Handler serves the metrics in the Prometheus text format, never
// compressed (about 15 KB), at most maxScrapes at once. A metric that
// cannot be read is left out and logged (at debug level) rather than
// failing the scrape.
func (c *Collector) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case c.scrape <- struct{}{}:
			defer func() { <-c.scrape }()
		default:
			http.Error(w, "too many scrapes at once ("+strconv.Itoa(maxScrapes)+"), try again later", http.StatusServiceUnavailable)
			return
		}
		var b bytes.Buffer
		c.write(&b)
		w.Header().Set("Content-Type", promtext.ContentType)
		w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
		if r.Method != http.MethodHead {
			_, _ = w.Write(b.Bytes())
		}
	})
}

// write appends every metric, as a scrape gets them, to b.
func (c *Collector) write(b *bytes.Buffer) {
	w := promtext.NewWriter(b)
	c.rollbacks.WriteTo(w)
	c.updates.WriteTo(w)
	c.steps.WriteTo(w)
	c.reconciles.WriteTo(w)
	c.backupDur.WriteTo(w)
	w.Sample(buildDesc, 1, c.build...)
	c.writeState(w)
	promtext.WriteGo(w)
	if err := promtext.WriteProcess(w); err != nil {
		c.log.V(1).Info("Cannot read a process metric", "error", err.Error())
	}
}

// Publish observes e, then hands it to Options.Next and returns what Next
// returned (e itself without one). It never blocks beyond Next.
func (c *Collector) Publish(e events.Event) events.Event {
	if c.next != nil {
		e = c.next.Publish(e)
	}
	c.observe(e)
	return e
}

func (c *Collector) observe(e events.Event) {
	switch e.Type {
	case events.TypeStep:
		if e.State == events.StateStarted || e.DurationMs == nil {
			return
		}
		secs := float64(*e.DurationMs) / 1000
		c.steps.Observe(secs, e.Step, e.Phase, e.State)
		if e.Phase == events.PhaseDo && e.State == events.StateSucceeded {
			switch e.Step {
			case "backup":
				c.backupDur.Set(secs, "hot")
			case "cold-backup":
				c.backupDur.Set(secs, "cold")
			}
		}
	case events.TypeOutcome:
		c.updates.Inc(e.Result)
		if c.isRequestedRollback(e.Operation) {
			c.rollbacks.Inc(e.Result)
		}
	}
}

// isRequestedRollback reports whether status.yaml's history records the
// operation op as a rollback someone asked for: an outcome is published
// once status.yaml holds it.
func (c *Collector) isRequestedRollback(op string) bool {
	if op == "" {
		return false
	}
	st, err := status.Load(c.layout.Status)
	if err != nil {
		return false
	}
	for _, h := range st.History {
		if h.ID == op {
			return h.Kind == status.KindRollback
		}
	}
	return false
}

// ObserveReconcile records one reconcile that took d and ended with err.
// A reconcile cut short by a stopping daemon (context.Canceled) is not
// recorded: it neither succeeded nor failed. A nil Collector ignores it.
func (c *Collector) ObserveReconcile(d time.Duration, err error) {
	if c == nil || errors.Is(err, context.Canceled) {
		return
	}
	result := "success"
	if err != nil {
		result = "error"
	}
	c.reconciles.Observe(d.Seconds(), result)
}

// cacheAge remembers the release cache's fetchedAt for the file's size and
// modification time, so a scrape does not decode an unchanged file.
type cacheAge struct {
	size      int64
	modTime   time.Time
	fetchedAt time.Time
}

// releaseCacheFetchedAt returns when the release listing was last fetched
// or revalidated; false when there is no usable cache (git-tags releases,
// nothing fetched yet).
func (c *Collector) releaseCacheFetchedAt() (time.Time, bool) {
	path := c.layout.ReleaseCache
	info, err := statFile(path)
	if err != nil {
		return time.Time{}, false
	}
	c.cacheMu.Lock()
	defer c.cacheMu.Unlock()
	if c.cache.size == info.Size() && c.cache.modTime.Equal(info.ModTime()) {
		return c.cache.fetchedAt, !c.cache.fetchedAt.IsZero()
	}
	at, err := github.CacheFetchedAt(path)
	if err != nil {
		c.log.V(1).Info("Cannot read the release cache for metrics", "cacheFile", path, "error", err.Error())
		return time.Time{}, false
	}
	c.cache = cacheAge{size: info.Size(), modTime: info.ModTime(), fetchedAt: at}
	return at, !at.IsZero()
}

// newestBackup is the newest complete backup; false when there is none.
func (c *Collector) newestBackup() (backup.Backup, bool) {
	list, err := backup.List(c.layout.Backups)
	if err != nil {
		c.log.V(1).Info("Cannot list backups for metrics", "backupDir", c.layout.Backups, "error", err.Error())
		return backup.Backup{}, false
	}
	if len(list) == 0 {
		return backup.Backup{}, false
	}
	return list[len(list)-1], true
}

// loadStatus reads status.yaml: nil and no error before the daemon first
// wrote it.
func (c *Collector) loadStatus() (*status.VersionStatus, error) {
	st, err := status.Load(c.layout.Status)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return st, err
}
