package metrics_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/metrics"
	"github.com/better-paas/updater/status"
)

// The metrics of a policy wait and of the fleet block, as TestPolicyAndFleetMetrics
// compares them.
var policyAndFleetMetrics = []string{
	"better_paas_updater_policy_wait", "better_paas_updater_policy_until_timestamp_seconds",
	"better_paas_updater_fleet_info", "better_paas_updater_fleet_cohort",
	"better_paas_updater_fleet_last_sync_timestamp_seconds", "better_paas_updater_fleet_paused",
	"better_paas_updater_fleet_paused_failure_timestamp_seconds",
}

// The HELP and TYPE lines of those metrics, in the order of
// policyAndFleetMetrics; wanted builds an expected exposition from them.
var policyAndFleetHelp = map[string]string{
	"better_paas_updater_policy_wait": `# HELP better_paas_updater_policy_wait 1 while a policy holds an update back (status.yaml policy), by reason (Held: spec.hold, WindowClosed: spec.windows, SoakPending: spec.minReleaseAge, RolloutPaused: the fleet rollout is paused on this host) and the version held back; absent when nothing is held back.
# TYPE better_paas_updater_policy_wait gauge`,
	"better_paas_updater_policy_until_timestamp_seconds": `# HELP better_paas_updater_policy_until_timestamp_seconds When the policy holding an update back lets it through (the hold's end, the next maintenance window, the time the release is old enough), in seconds since the epoch; absent when nothing is held back or the wait has no known end (a paused rollout, a window that never opens again).
# TYPE better_paas_updater_policy_until_timestamp_seconds gauge`,
	"better_paas_updater_fleet_info": `# HELP better_paas_updater_fleet_info The last sync of the fleet repo (status.yaml fleet), always 1: the repo (without credentials), branch, fleet commit and file it looked at (empty when it could not fetch one or no file matched), and how it ended (result: Applied, Unchanged, OutsideWave, Refused, Failed, Paused; reason: e.g. Unreachable, InvalidFile, Canary, InWave). Absent when the host follows no fleet repo.
# TYPE better_paas_updater_fleet_info gauge`,
	"better_paas_updater_fleet_cohort": `# HELP better_paas_updater_fleet_cohort This host's place in every fleet rollout, 0..99: it moves when its cohort is below rollout.percent, or when it is a canary; absent when the host follows no fleet repo.
# TYPE better_paas_updater_fleet_cohort gauge`,
	"better_paas_updater_fleet_last_sync_timestamp_seconds": `# HELP better_paas_updater_fleet_last_sync_timestamp_seconds When the last sync of the fleet repo ended, whatever its result, in seconds since the epoch; absent when the host follows no fleet repo.
# TYPE better_paas_updater_fleet_last_sync_timestamp_seconds gauge`,
	"better_paas_updater_fleet_paused": `# HELP better_paas_updater_fleet_paused 1 while this host is paused by its fleet file's rollout.pauseOnFailure (status.yaml fleet.paused): the version labelled failed here and was rolled back, and the host takes no other version until the fleet file changes. 0 when the host follows a fleet repo and is not paused; absent when it follows none.
# TYPE better_paas_updater_fleet_paused gauge`,
	"better_paas_updater_fleet_paused_failure_timestamp_seconds": `# HELP better_paas_updater_fleet_paused_failure_timestamp_seconds When the update that paused this host failed (status.yaml fleet.paused.failedAt), in seconds since the epoch; absent when the host is not paused.
# TYPE better_paas_updater_fleet_paused_failure_timestamp_seconds gauge`,
}

// wanted is an exposition of the given samples (metric name → its sample
// lines), with each metric's HELP and TYPE.
func wanted(samples map[string][]string) string {
	var b strings.Builder
	for _, name := range policyAndFleetMetrics {
		lines, ok := samples[name]
		if !ok {
			continue
		}
		b.WriteString(policyAndFleetHelp[name] + "\n")
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

const fleetCommit = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

// fleetBlock is status.yaml's fleet block after a sync at syncedAt that
// applied a fleet file with rollout.pauseOnFailure.
func fleetBlock(syncedAt time.Time) *status.FleetStatus {
	return &status.FleetStatus{
		Repo: "https://git.example.com/ops/fleet.git", Branch: "main", Commit: fleetCommit, Path: "fleet/desired.yaml",
		Cohort: 17, Result: status.FleetApplied, Reason: "InWave", Message: "applied fleet/desired.yaml", SyncedAt: syncedAt,
		Applied: &status.FleetWrite{Commit: fleetCommit, Path: "fleet/desired.yaml", Version: "latest", Generation: "sha256:00", At: syncedAt},
		Document: &status.FleetDocument{Commit: fleetCommit, Path: "fleet/desired.yaml", Blob: "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
			Version: "latest", PauseOnFailure: true, ReadAt: syncedAt},
	}
}

// TestPolicyAndFleetMetrics: the policy wait and the fleet block of
// status.yaml, read at the scrape, each from a fixture: nothing without
// them; a wait with and without an end; a fleet block not paused (paused
// 0, without a version) and paused (1, by the version that failed).
func TestPolicyAndFleetMetrics(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	until := now.Add(90 * time.Minute)
	synced := now.Add(-time.Minute)
	failed := now.Add(-30 * time.Second)
	for _, c := range []struct {
		name string
		edit func(*status.VersionStatus)
		want map[string][]string
	}{
		{"neither", func(*status.VersionStatus) {}, nil},
		{"held until", func(st *status.VersionStatus) {
			st.Policy = &status.PolicyHold{Reason: "Held", Message: "spec.hold holds v1.2.0 back", Version: "v1.2.0", Until: &until}
		}, map[string][]string{
			"better_paas_updater_policy_wait":                    {`better_paas_updater_policy_wait{reason="Held",version="v1.2.0"} 1`},
			"better_paas_updater_policy_until_timestamp_seconds": {`better_paas_updater_policy_until_timestamp_seconds 1.7776422e+09`},
		}},
		{"window that never opens", func(st *status.VersionStatus) {
			st.Policy = &status.PolicyHold{Reason: "WindowClosed", Version: "v1.2.0"}
		}, map[string][]string{
			"better_paas_updater_policy_wait": {`better_paas_updater_policy_wait{reason="WindowClosed",version="v1.2.0"} 1`},
		}},
		{"fleet, not paused", func(st *status.VersionStatus) {
			st.Fleet = fleetBlock(synced)
		}, map[string][]string{
			"better_paas_updater_fleet_info": {`better_paas_updater_fleet_info{branch="main",commit="` + fleetCommit +
				`",path="fleet/desired.yaml",reason="InWave",repo="https://git.example.com/ops/fleet.git",result="Applied"} 1`},
			"better_paas_updater_fleet_cohort":                      {`better_paas_updater_fleet_cohort 17`},
			"better_paas_updater_fleet_last_sync_timestamp_seconds": {`better_paas_updater_fleet_last_sync_timestamp_seconds 1.77763674e+09`},
			"better_paas_updater_fleet_paused":                      {`better_paas_updater_fleet_paused{version=""} 0`},
		}},
		{"fleet refused before any fetch", func(st *status.VersionStatus) {
			st.Fleet = &status.FleetStatus{Repo: "https://git.example.com/ops/fleet.git", Branch: "main", Cohort: 0,
				Result: status.FleetRefused, Reason: "Unreachable"}
		}, map[string][]string{
			"better_paas_updater_fleet_info":   {`better_paas_updater_fleet_info{branch="main",commit="",path="",reason="Unreachable",repo="https://git.example.com/ops/fleet.git",result="Refused"} 1`},
			"better_paas_updater_fleet_cohort": {`better_paas_updater_fleet_cohort 0`},
			"better_paas_updater_fleet_paused": {`better_paas_updater_fleet_paused{version=""} 0`},
		}},
		{"fleet paused", func(st *status.VersionStatus) {
			st.CurrentVersion = "v1.1.0"
			st.FailedVersions = []status.FailedVersion{{Version: "v1.2.0", Step: "health", Reason: "HealthCheckFailed", FailedAt: failed}}
			st.Fleet = fleetBlock(synced)
			st.Fleet.Result, st.Fleet.Reason = status.FleetPaused, ""
			st.Fleet.Paused = st.RolloutPause()
			st.Policy = &status.PolicyHold{Reason: "RolloutPaused", Version: "v1.2.1", Message: "the update to v1.2.1 is paused"}
		}, map[string][]string{
			"better_paas_updater_policy_wait": {`better_paas_updater_policy_wait{reason="RolloutPaused",version="v1.2.1"} 1`},
			"better_paas_updater_fleet_info": {`better_paas_updater_fleet_info{branch="main",commit="` + fleetCommit +
				`",path="fleet/desired.yaml",reason="",repo="https://git.example.com/ops/fleet.git",result="Paused"} 1`},
			"better_paas_updater_fleet_cohort":                           {`better_paas_updater_fleet_cohort 17`},
			"better_paas_updater_fleet_last_sync_timestamp_seconds":      {`better_paas_updater_fleet_last_sync_timestamp_seconds 1.77763674e+09`},
			"better_paas_updater_fleet_paused":                           {`better_paas_updater_fleet_paused{version="v1.2.0"} 1`},
			"better_paas_updater_fleet_paused_failure_timestamp_seconds": {`better_paas_updater_fleet_paused_failure_timestamp_seconds 1.77763677e+09`},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			l := layout.Layout{Status: dir + "/status.yaml", Backups: dir + "/backups", ReleaseCache: dir + "/cache.json"}
			st := status.New()
			c.edit(st)
			if c.name == "fleet paused" && st.Fleet.Paused == nil {
				t.Fatal("the fixture is not paused: status.RolloutPause returned nil")
			}
			if err := status.Save(l.Status, st); err != nil {
				t.Fatal(err)
			}
			reg := scrape(t, metrics.New(metrics.Options{Layout: l, Version: "v1.0.0", Commit: "abc", Now: func() time.Time { return now }}))
			if err := testutil.GatherAndCompare(reg, strings.NewReader(wanted(c.want)), policyAndFleetMetrics...); err != nil {
				t.Error(err)
			}
			problems, err := testutil.GatherAndLint(reg, policyAndFleetMetrics...)
			if err != nil || len(problems) != 0 {
				t.Errorf("lint: %v %v", problems, err)
			}
		})
	}
}

// TestFleetMetricsFollowThePause scrapes the exporter over real HTTP as
// status.yaml goes through a rollout: a sync applies a file with
// pauseOnFailure; the update fails and pauses the host; a new fleet file
// ends the pause. Each scrape, read with the Prometheus text parser, holds
// exactly one fleet_info and one fleet_paused series (a new fleet commit
// replaces the series, never adds one), so `max by (version)
// (better_paas_updater_fleet_paused) > 0` names the version to stop the
// wave at exactly while a host is paused.
func TestFleetMetricsFollowThePause(t *testing.T) {
	dir := t.TempDir()
	l := layout.Layout{Status: dir + "/status.yaml", Backups: dir + "/backups", ReleaseCache: dir + "/cache.json"}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	srv := httptest.NewServer(metrics.New(metrics.Options{Layout: l, Version: "v1.0.0", Now: func() time.Time { return now }}).Handler())
	t.Cleanup(srv.Close)

	st := status.New()
	st.CurrentVersion = "v1.1.0"
	save := func() {
		t.Helper()
		if err := status.Save(l.Status, st); err != nil {
			t.Fatal(err)
		}
	}
	type seen struct {
		commit, result string
		paused         float64
		version        string // fleet_paused's label
		policy         string // policy_wait's reason, "" when absent
	}
	look := func() seen {
		t.Helper()
		res, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET /metrics: HTTP %d, %v", res.StatusCode, err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		families, err := p.TextToMetricFamilies(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("/metrics is not the Prometheus text format: %v\n%s", err, body)
		}
		m := scraped(families)
		info, paused := m.series("better_paas_updater_fleet_info"), m.series("better_paas_updater_fleet_paused")
		if len(info) != 1 || len(paused) != 1 {
			t.Fatalf("%d fleet_info and %d fleet_paused series, want one each:\n%s", len(info), len(paused), body)
		}
		s := seen{commit: info[0].labels["commit"], result: info[0].labels["result"], paused: paused[0].value, version: paused[0].labels["version"]}
		if w := m.series("better_paas_updater_policy_wait"); len(w) == 1 {
			s.policy = w[0].labels["reason"]
		} else if len(w) > 1 {
			t.Fatalf("%d policy_wait series, want one at most", len(w))
		}
		return s
	}

	// Before any fleet sync: no fleet series at all.
	save()
	if n, err := testutil.GatherAndCount(scrape(t, metrics.New(metrics.Options{Layout: l})), "better_paas_updater_fleet_info", "better_paas_updater_fleet_paused"); err != nil || n != 0 {
		t.Errorf("%d fleet series without a fleet block (%v), want none", n, err)
	}

	// A sync applies the fleet file: not paused.
	st.Fleet = fleetBlock(now)
	save()
	if got, want := look(), (seen{commit: fleetCommit, result: "Applied"}); got != want {
		t.Errorf("after the sync: %+v, want %+v", got, want)
	}

	// The update to v1.2.0 fails and is rolled back: paused on v1.2.0,
	// and the reconciler holds v1.2.1 back.
	now = now.Add(time.Minute)
	st.FailedVersions = []status.FailedVersion{{Version: "v1.2.0", Step: "health", Reason: "HealthCheckFailed", FailedAt: now}}
	st.Fleet.Paused = st.RolloutPause()
	st.Policy = &status.PolicyHold{Reason: "RolloutPaused", Version: "v1.2.1"}
	save()
	if got, want := look(), (seen{commit: fleetCommit, result: "Applied", paused: 1, version: "v1.2.0", policy: "RolloutPaused"}); got != want {
		t.Errorf("after the failure: %+v, want %+v", got, want)
	}
	// The next sync of the same file says Paused.
	st.Fleet.Result, st.Fleet.Reason, st.Fleet.SyncedAt = status.FleetPaused, "", now.Add(time.Second)
	save()
	if got, want := look(), (seen{commit: fleetCommit, result: "Paused", paused: 1, version: "v1.2.0", policy: "RolloutPaused"}); got != want {
		t.Errorf("after a sync while paused: %+v, want %+v", got, want)
	}

	// People change the fleet file: a new commit and blob, read after the
	// failure; the pause ends and the policy wait with it.
	const next = "1d7e2a6b8c0f4e3d9a5b7c1e2f3a4b5c6d7e8f90"
	now = now.Add(time.Hour)
	st.Fleet = fleetBlock(now)
	st.Fleet.Commit, st.Fleet.Document.Commit, st.Fleet.Document.Blob = next, next, "2e65efe2a145dda7ee51d1741299f848e5bf752e"
	st.Fleet.Paused = st.RolloutPause()
	st.Policy = nil
	save()
	if got, want := look(), (seen{commit: next, result: "Applied"}); got != want {
		t.Errorf("after the fleet file changed: %+v, want %+v", got, want)
	}
}
