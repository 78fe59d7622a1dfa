package metrics

import (
	"os"

	"github.com/better-paas/updater/internal/github"
	"github.com/better-paas/updater/internal/promtext"
	"github.com/better-paas/updater/status"
)

// statFile is os.Stat, replaceable by tests.
var statFile = os.Stat

// desc describes the updater's metric name (namespace added).
func desc(name string, t promtext.Type, help string, labels ...string) *promtext.Desc {
	return promtext.NewDesc(namespace+"_"+name, help, t, labels...)
}

// gaugeDesc describes a gauge of the updater.
func gaugeDesc(name, help string, labels ...string) *promtext.Desc {
	return desc(name, promtext.Gauge, help, labels...)
}

// The metrics read at scrape time.
var (
	statusReadableDesc = gaugeDesc("status_readable",
		"1 when status.yaml could be read at this scrape (or does not exist yet), else 0: the metrics read from it are then left out.")
	runningDesc = gaugeDesc("running_version_info",
		"The version the host runs (status.yaml currentVersion), always 1; absent before one is known.", "version")
	lastSuccessDesc = gaugeDesc("last_success_timestamp_seconds",
		"When the newest operation that succeeded finished (status.yaml history), in seconds since the epoch; absent when the history has none.")
	failedVersionsDesc = gaugeDesc("failed_versions",
		"How many versions status.yaml records as failed (held back until desired.yaml changes or a retry).")
	inFlightDesc = gaugeDesc("operation_in_flight",
		"1 while an operation (an update or a rollback) is journaled in status.yaml, else 0.")
	startedDesc = gaugeDesc("operation_started_timestamp_seconds",
		"When the operation in flight started, in seconds since the epoch; absent when none is in flight.")
	readyDesc = gaugeDesc("ready",
		"1 when the Ready condition is True (the host runs the desired version, healthy), else 0.")
	stalledDesc = gaugeDesc("stalled",
		"1 when the Stalled condition is True (held until desired.yaml changes or someone acts; reason in status), else 0.")
	reconcilingDesc = gaugeDesc("reconciling",
		"1 when the Reconciling condition is True, else 0.")
	releasesStaleDesc = gaugeDesc("releases_stale",
		"1 when the release list comes from a cache that could not be refreshed (condition ReleasesStale), else 0.")
	cacheAgeDesc = gaugeDesc("release_cache_age_seconds",
		"Seconds since the GitHub release list was last fetched or revalidated; absent without a GitHub release cache.")
	rateRemainingDesc = gaugeDesc("github_rate_limit_remaining",
		"X-RateLimit-Remaining of the newest answer GitHub gave this daemon; absent before the first.")
	rateLimitDesc = gaugeDesc("github_rate_limit",
		"X-RateLimit-Limit of the newest answer GitHub gave this daemon; absent before the first.")
	appRestartsDesc = desc("app_restarts_total", promtext.Counter,
		"Times the daemon started the app again after finding it stopped outside an update (a crash, a kill), as status.yaml counts them (serviceRestarts), across daemon restarts.")
	backupBytesDesc = gaugeDesc("last_backup_bytes",
		"Total size of the regular files in the newest complete backup's data folder (from its manifest); absent without a backup.")
	backupFilesDesc = gaugeDesc("last_backup_files",
		"Number of regular files in the newest complete backup's data folder (from its manifest); absent without a backup.")
	backupTimeDesc = gaugeDesc("last_backup_timestamp_seconds",
		"When the newest complete backup's data was taken (its cold pass, else its hot pass), in seconds since the epoch; absent without a backup.")

	// A policy wait (status.yaml policy): one series at most.
	policyWaitDesc = gaugeDesc("policy_wait",
		"1 while a policy holds an update back (status.yaml policy), by reason (Held: spec.hold, WindowClosed: spec.windows, SoakPending: spec.minReleaseAge, RolloutPaused: the fleet rollout is paused on this host) and the version held back; absent when nothing is held back.",
		"reason", "version")
	policyUntilDesc = gaugeDesc("policy_until_timestamp_seconds",
		"When the policy holding an update back lets it through (the hold's end, the next maintenance window, the time the release is old enough), in seconds since the epoch; absent when nothing is held back or the wait has no known end (a paused rollout, a window that never opens again).")

	// The fleet block (status.yaml fleet, desiredFrom.git): absent
	// without one.
	fleetInfoDesc = gaugeDesc("fleet_info",
		"The last sync of the fleet repo (status.yaml fleet), always 1: the repo (without credentials), branch, fleet commit and file it looked at (empty when it could not fetch one or no file matched), and how it ended (result: Applied, Unchanged, OutsideWave, Refused, Failed, Paused; reason: e.g. Unreachable, InvalidFile, Canary, InWave). Absent when the host follows no fleet repo.",
		"repo", "branch", "commit", "path", "result", "reason")
	fleetCohortDesc = gaugeDesc("fleet_cohort",
		"This host's place in every fleet rollout, 0..99: it moves when its cohort is below rollout.percent, or when it is a canary; absent when the host follows no fleet repo.")
	fleetSyncDesc = gaugeDesc("fleet_last_sync_timestamp_seconds",
		"When the last sync of the fleet repo ended, whatever its result, in seconds since the epoch; absent when the host follows no fleet repo.")
	fleetPausedDesc = gaugeDesc("fleet_paused",
		"1 while this host is paused by its fleet file's rollout.pauseOnFailure (status.yaml fleet.paused): the version labelled failed here and was rolled back, and the host takes no other version until the fleet file changes. 0 when the host follows a fleet repo and is not paused; absent when it follows none.",
		"version")
	fleetPausedAtDesc = gaugeDesc("fleet_paused_failure_timestamp_seconds",
		"When the update that paused this host failed (status.yaml fleet.paused.failedAt), in seconds since the epoch; absent when the host is not paused.")
)

// writeState writes what status.yaml, the backups and the release cache
// hold at the moment of the scrape.
func (c *Collector) writeState(w *promtext.Writer) {
	st, err := c.loadStatus()
	if err != nil {
		c.log.V(1).Info("Cannot read status.yaml for metrics", "statusFile", c.layout.Status, "error", err.Error())
		w.Sample(statusReadableDesc, 0)
	} else {
		w.Sample(statusReadableDesc, 1)
		if st == nil {
			st = status.New()
		}
		collectStatus(st, w)
		w.Sample(appRestartsDesc, float64(st.ServiceRestarts))
	}
	if at, ok := c.releaseCacheFetchedAt(); ok {
		w.Sample(cacheAgeDesc, max(c.now().Sub(at).Seconds(), 0))
	}
	if rl, ok := github.LastRateLimit(); ok {
		w.Sample(rateRemainingDesc, float64(rl.Remaining))
		if rl.Limit > 0 {
			w.Sample(rateLimitDesc, float64(rl.Limit))
		}
	}
	if b, ok := c.newestBackup(); ok {
		w.Sample(backupBytesDesc, float64(b.Bytes))
		w.Sample(backupFilesDesc, float64(b.Files))
		taken := b.FinishedAt
		if taken.IsZero() {
			taken = b.CreatedAt
		}
		w.Sample(backupTimeDesc, promtext.UnixSeconds(taken))
	}
}

// collectStatus exports the metrics status.yaml holds.
func collectStatus(st *status.VersionStatus, w *promtext.Writer) {
	if st.CurrentVersion != "" {
		w.Sample(runningDesc, 1, st.CurrentVersion)
	}
	for _, h := range st.History { // newest first
		if h.Result == status.ResultSucceeded {
			w.Sample(lastSuccessDesc, promtext.UnixSeconds(h.FinishedAt))
			break
		}
	}
	w.Sample(failedVersionsDesc, float64(len(st.FailedVersions)))
	if op := st.Operation; op != nil {
		w.Sample(inFlightDesc, 1)
		w.Sample(startedDesc, promtext.UnixSeconds(op.StartedAt))
	} else {
		w.Sample(inFlightDesc, 0)
	}
	w.Sample(readyDesc, boolValue(st.IsTrue(status.TypeReady)))
	w.Sample(stalledDesc, boolValue(st.IsTrue(status.TypeStalled)))
	w.Sample(reconcilingDesc, boolValue(st.IsTrue(status.TypeReconciling)))
	w.Sample(releasesStaleDesc, boolValue(st.IsTrue(status.TypeReleasesStale)))
	collectPolicy(st.Policy, w)
	collectFleet(st.Fleet, w)
}

// collectPolicy exports the policy wait p (status.yaml policy): nothing
// when no policy holds an update back.
func collectPolicy(p *status.PolicyHold, w *promtext.Writer) {
	if p == nil {
		return
	}
	w.Sample(policyWaitDesc, 1, p.Reason, p.Version)
	if p.Until != nil && !p.Until.IsZero() {
		w.Sample(policyUntilDesc, promtext.UnixSeconds(*p.Until))
	}
}

// collectFleet exports the fleet block f (status.yaml fleet): nothing
// when the host follows no fleet repo. Every series but fleet_paused has
// one value at a time, so a new fleet commit replaces a series rather
// than adding one; fleet_paused drops its version label when it is 0.
func collectFleet(f *status.FleetStatus, w *promtext.Writer) {
	if f == nil {
		return
	}
	w.Sample(fleetInfoDesc, 1, f.Repo, f.Branch, f.Commit, f.Path, string(f.Result), f.Reason)
	w.Sample(fleetCohortDesc, float64(f.Cohort))
	if !f.SyncedAt.IsZero() {
		w.Sample(fleetSyncDesc, promtext.UnixSeconds(f.SyncedAt))
	}
	if p := f.Paused; p != nil {
		w.Sample(fleetPausedDesc, 1, p.Version)
		if !p.FailedAt.IsZero() {
			w.Sample(fleetPausedAtDesc, promtext.UnixSeconds(p.FailedAt))
		}
	} else {
		w.Sample(fleetPausedDesc, 0, "")
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
