package metrics

import (
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/better-paas/updater/internal/github"
	"github.com/better-paas/updater/status"
)

// statFile is os.Stat, replaceable by tests.
var statFile = os.Stat

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// The metrics read at scrape time.
var (
	statusReadableDesc = desc("status_readable",
		"1 when status.yaml could be read at this scrape (or does not exist yet), else 0: the metrics read from it are then left out.")
	runningDesc = desc("running_version_info",
		"The version the host runs (status.yaml currentVersion), always 1; absent before one is known.", "version")
	lastSuccessDesc = desc("last_success_timestamp_seconds",
		"When the newest operation that succeeded finished (status.yaml history), in seconds since the epoch; absent when the history has none.")
	failedVersionsDesc = desc("failed_versions",
		"How many versions status.yaml records as failed (held back until desired.yaml changes or a retry).")
	inFlightDesc = desc("operation_in_flight",
		"1 while an operation (an update or a rollback) is journaled in status.yaml, else 0.")
	startedDesc = desc("operation_started_timestamp_seconds",
		"When the operation in flight started, in seconds since the epoch; absent when none is in flight.")
	readyDesc = desc("ready",
		"1 when the Ready condition is True (the host runs the desired version, healthy), else 0.")
	stalledDesc = desc("stalled",
		"1 when the Stalled condition is True (held until desired.yaml changes or someone acts; reason in status), else 0.")
	reconcilingDesc = desc("reconciling",
		"1 when the Reconciling condition is True, else 0.")
	releasesStaleDesc = desc("releases_stale",
		"1 when the release list comes from a cache that could not be refreshed (condition ReleasesStale), else 0.")
	cacheAgeDesc = desc("release_cache_age_seconds",
		"Seconds since the GitHub release list was last fetched or revalidated; absent without a GitHub release cache.")
	rateRemainingDesc = desc("github_rate_limit_remaining",
		"X-RateLimit-Remaining of the newest answer GitHub gave this daemon; absent before the first.")
	rateLimitDesc = desc("github_rate_limit",
		"X-RateLimit-Limit of the newest answer GitHub gave this daemon; absent before the first.")
	appRestartsDesc = desc("app_restarts_total",
		"Times the daemon started the app again after finding it stopped outside an update (a crash, a kill), as status.yaml counts them (serviceRestarts), across daemon restarts.")
	backupBytesDesc = desc("last_backup_bytes",
		"Total size of the regular files in the newest complete backup's data folder (from its manifest); absent without a backup.")
	backupFilesDesc = desc("last_backup_files",
		"Number of regular files in the newest complete backup's data folder (from its manifest); absent without a backup.")
	backupTimeDesc = desc("last_backup_timestamp_seconds",
		"When the newest complete backup's data was taken (its cold pass, else its hot pass), in seconds since the epoch; absent without a backup.")
)

// stateCollector exports what status.yaml, the backups and the release
// cache hold at the moment of the scrape.
type stateCollector struct{ c *Collector }

var _ prometheus.Collector = stateCollector{}

func (s stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{statusReadableDesc, runningDesc, lastSuccessDesc, failedVersionsDesc,
		inFlightDesc, startedDesc, readyDesc, stalledDesc, reconcilingDesc, releasesStaleDesc, cacheAgeDesc,
		rateRemainingDesc, rateLimitDesc, appRestartsDesc, backupBytesDesc, backupFilesDesc, backupTimeDesc} {
		ch <- d
	}
}

func (s stateCollector) Collect(ch chan<- prometheus.Metric) {
	c := s.c
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	st, err := c.loadStatus()
	if err != nil {
		c.log.V(1).Info("Cannot read status.yaml for metrics", "statusFile", c.layout.Status, "error", err.Error())
		gauge(statusReadableDesc, 0)
	} else {
		gauge(statusReadableDesc, 1)
		if st == nil {
			st = status.New()
		}
		collectStatus(st, gauge)
		ch <- prometheus.MustNewConstMetric(appRestartsDesc, prometheus.CounterValue, float64(st.ServiceRestarts))
	}
	if at, ok := c.releaseCacheFetchedAt(); ok {
		gauge(cacheAgeDesc, max(c.now().Sub(at).Seconds(), 0))
	}
	if rl, ok := github.LastRateLimit(); ok {
		gauge(rateRemainingDesc, float64(rl.Remaining))
		if rl.Limit > 0 {
			gauge(rateLimitDesc, float64(rl.Limit))
		}
	}
	if b, ok := c.newestBackup(); ok {
		gauge(backupBytesDesc, float64(b.Bytes))
		gauge(backupFilesDesc, float64(b.Files))
		taken := b.FinishedAt
		if taken.IsZero() {
			taken = b.CreatedAt
		}
		gauge(backupTimeDesc, seconds(taken))
	}
}

// collectStatus exports the metrics status.yaml holds.
func collectStatus(st *status.VersionStatus, gauge func(*prometheus.Desc, float64, ...string)) {
	if st.CurrentVersion != "" {
		gauge(runningDesc, 1, st.CurrentVersion)
	}
	for _, h := range st.History { // newest first
		if h.Result == status.ResultSucceeded {
			gauge(lastSuccessDesc, seconds(h.FinishedAt))
			break
		}
	}
	gauge(failedVersionsDesc, float64(len(st.FailedVersions)))
	if op := st.Operation; op != nil {
		gauge(inFlightDesc, 1)
		gauge(startedDesc, seconds(op.StartedAt))
	} else {
		gauge(inFlightDesc, 0)
	}
	gauge(readyDesc, boolValue(st.IsTrue(status.TypeReady)))
	gauge(stalledDesc, boolValue(st.IsTrue(status.TypeStalled)))
	gauge(reconcilingDesc, boolValue(st.IsTrue(status.TypeReconciling)))
	gauge(releasesStaleDesc, boolValue(st.IsTrue(status.TypeReleasesStale)))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// seconds is t in seconds since the epoch, with its fraction.
func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
