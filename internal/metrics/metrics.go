package metrics

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/github"
	"github.com/better-paas/updater/internal/layout"
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
	reg    *prometheus.Registry

	updates    *prometheus.CounterVec
	rollbacks  *prometheus.CounterVec
	steps      *prometheus.HistogramVec
	reconciles *prometheus.HistogramVec
	backupDur  *prometheus.GaugeVec

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

// New returns a Collector with its own registry, holding the updater's
// metrics and the Go runtime's and the process's (go_*, process_*).
func New(o Options) *Collector {
	c := &Collector{next: o.Next, layout: o.Layout, now: o.Now, log: o.Log, reg: prometheus.NewRegistry()}
	if c.now == nil {
		c.now = time.Now
	}
	c.updates = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "updates_total",
		Help: "Operations (updates, and rollbacks someone asked for) that ended, by result, since the daemon started.",
	}, []string{"result"})
	c.rollbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "rollbacks_total",
		Help: "Rollbacks someone asked for (history kind Rollback) that ended, by result, since the daemon started; automatic rollbacks are updates_total{result=\"RolledBack\"}.",
	}, []string{"result"})
	for _, r := range outcomeResults {
		c.updates.WithLabelValues(r)
		c.rollbacks.WithLabelValues(r)
	}
	c.steps = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "step_duration_seconds",
		Help:    "How long each step of an operation ran, by step, phase (do, undo) and result (succeeded, failed, skipped, held: a hook asked to wait).",
		Buckets: stepBuckets,
	}, []string{"step", "phase", "result"})
	c.reconciles = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "reconcile_duration_seconds",
		Help:    "How long each reconcile took, by result (success, error), an operation's steps included.",
		Buckets: stepBuckets,
	}, []string{"result"})
	c.backupDur = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: namespace, Name: "last_backup_duration_seconds",
		Help: "How long the last backup pass took since the daemon started, by pass (hot: the backup step; cold: cold-backup).",
	}, []string{"pass"})
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "The daemon's version, source commit and Go version, always 1.",
		ConstLabels: prometheus.Labels{"version": o.Version, "commit": commitOf(o.Commit), "goversion": runtime.Version()},
	})
	build.Set(1)
	c.reg.MustRegister(c.updates, c.rollbacks, c.steps, c.reconciles, c.backupDur, build, stateCollector{c},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
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

// Handler serves the metrics in the Prometheus text format (or
// OpenMetrics when asked), never compressed. A metric that cannot be
// gathered is left out and logged rather than failing the scrape.
//
// Compression is off because of what it costs an idle daemon: promhttp
// gzips with a default-level writer of about 900 KiB, which it keeps in a
// pool until two garbage collections have passed (minutes in a daemon that
// allocates nothing), to save some 11 KB on a 15 KB answer.
func (c *Collector) Handler() http.Handler {
	return promhttp.HandlerFor(c.reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		ErrorLog:            promLogger{c.log},
		EnableOpenMetrics:   true,
		MaxRequestsInFlight: 4,
		DisableCompression:  true,
	})
}

// Registry is the Collector's registry, for tests that gather directly.
func (c *Collector) Registry() *prometheus.Registry { return c.reg }

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
		c.steps.WithLabelValues(e.Step, e.Phase, e.State).Observe(secs)
		if e.Phase == events.PhaseDo && e.State == events.StateSucceeded {
			switch e.Step {
			case "backup":
				c.backupDur.WithLabelValues("hot").Set(secs)
			case "cold-backup":
				c.backupDur.WithLabelValues("cold").Set(secs)
			}
		}
	case events.TypeOutcome:
		c.updates.WithLabelValues(e.Result).Inc()
		if c.isRequestedRollback(e.Operation) {
			c.rollbacks.WithLabelValues(e.Result).Inc()
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
	c.reconciles.WithLabelValues(result).Observe(d.Seconds())
}

// promLogger is promhttp's error log on logr.
type promLogger struct{ log logr.Logger }

func (l promLogger) Println(v ...any) {
	l.log.V(1).Info("Cannot gather a metric", "error", v)
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
