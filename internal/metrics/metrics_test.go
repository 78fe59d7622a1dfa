package metrics_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/metrics"
	"github.com/better-paas/updater/status"
)

// recorder is a Publisher that numbers what it gets, as the broker does.
type recorder struct{ got []events.Event }

func (r *recorder) Publish(e events.Event) events.Event {
	e.ID = uint64(len(r.got) + 1)
	r.got = append(r.got, e)
	return e
}

// TestCollectorCountsEventsAndReadsTheState: events are handed on
// unchanged (the broker's answer returned) and counted; what status.yaml
// holds (an operation in flight, Stalled, failed versions) is read at the
// scrape; a missing status.yaml is not an error.
func TestCollectorCountsEventsAndReadsTheState(t *testing.T) {
	dir := t.TempDir()
	l := layout.Layout{Status: dir + "/status.yaml", Backups: dir + "/backups", ReleaseCache: dir + "/cache.json"}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	next := &recorder{}
	c := metrics.New(metrics.Options{Layout: l, Version: "v1.2.3", Commit: "abc", Next: next, Now: func() time.Time { return now }})

	// Nothing yet: the counters are there at 0, the status is readable.
	if err := testutil.GatherAndCompare(scrape(t, c), strings.NewReader(`
# HELP better_paas_updater_status_readable 1 when status.yaml could be read at this scrape (or does not exist yet), else 0: the metrics read from it are then left out.
# TYPE better_paas_updater_status_readable gauge
better_paas_updater_status_readable 1
# HELP better_paas_updater_build_info The daemon's version, source commit and Go version, always 1.
# TYPE better_paas_updater_build_info gauge
better_paas_updater_build_info{commit="abc",goversion="`+runtimeVersion()+`",version="v1.2.3"} 1
`), "better_paas_updater_status_readable", "better_paas_updater_build_info"); err != nil {
		t.Error(err)
	}
	if got := updates(t, c, "RolledBack"); got != 0 {
		t.Errorf("updates_total{RolledBack} = %v before any outcome", got)
	}

	e := c.Publish(events.Event{Type: events.TypeStep, Operation: "op-1", Step: "build-backend", Phase: events.PhaseDo,
		State: events.StateFailed, DurationMs: events.Millis(1500 * time.Millisecond)})
	if e.ID != 1 || len(next.got) != 1 {
		t.Errorf("Publish returned %+v and handed on %d events; want the next Publisher's answer", e, len(next.got))
	}
	c.Publish(events.Event{Type: events.TypeStep, Operation: "op-1", Step: "build-backend", Phase: events.PhaseDo, State: events.StateStarted})
	c.Publish(events.Event{Type: events.TypeOutcome, Operation: "op-1", Result: events.ResultRolledBack})
	c.ObserveReconcile(2*time.Second, nil)
	if got := updates(t, c, "RolledBack"); got != 1 {
		t.Errorf("updates_total{RolledBack} = %v, want 1", got)
	}
	if n, err := testutil.GatherAndCount(scrape(t, c), "better_paas_updater_step_duration_seconds"); err != nil || n != 1 {
		t.Errorf("%d step_duration_seconds series (%v), want 1 (a started step is not timed)", n, err)
	}

	st := status.New()
	st.CurrentVersion = "v1.1.0"
	st.ServiceRestarts = 3
	st.Operation = &status.Operation{ID: "op-2", To: status.Revision{Version: "v1.2.0"}, Step: "build-backend", StartedAt: now.Add(-time.Hour)}
	st.FailedVersions = []status.FailedVersion{{Version: "v1.0.5", Step: "health", Reason: "HealthCheckFailed", FailedAt: now}}
	st.Conditions = []status.Condition{{Type: status.TypeReady, Status: status.False, Reason: "Stalled"},
		{Type: status.TypeStalled, Status: status.True, Reason: "RollbackFailed"}}
	if err := status.Save(l.Status, st); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.ReleaseCache, []byte(`{"apiVersion":"updates.better-paas.io/v1","kind":"ReleaseCache","fetchedAt":"2026-05-01T11:50:00Z","releases":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := testutil.GatherAndCompare(scrape(t, c), strings.NewReader(`
# HELP better_paas_updater_operation_in_flight 1 while an operation (an update or a rollback) is journaled in status.yaml, else 0.
# TYPE better_paas_updater_operation_in_flight gauge
better_paas_updater_operation_in_flight 1
# HELP better_paas_updater_operation_started_timestamp_seconds When the operation in flight started, in seconds since the epoch; absent when none is in flight.
# TYPE better_paas_updater_operation_started_timestamp_seconds gauge
better_paas_updater_operation_started_timestamp_seconds 1.7776332e+09
# HELP better_paas_updater_stalled 1 when the Stalled condition is True (held until desired.yaml changes or someone acts; reason in status), else 0.
# TYPE better_paas_updater_stalled gauge
better_paas_updater_stalled 1
# HELP better_paas_updater_ready 1 when the Ready condition is True (the host runs the desired version, healthy), else 0.
# TYPE better_paas_updater_ready gauge
better_paas_updater_ready 0
# HELP better_paas_updater_failed_versions How many versions status.yaml records as failed (held back until desired.yaml changes or a retry).
# TYPE better_paas_updater_failed_versions gauge
better_paas_updater_failed_versions 1
# HELP better_paas_updater_running_version_info The version the host runs (status.yaml currentVersion), always 1; absent before one is known.
# TYPE better_paas_updater_running_version_info gauge
better_paas_updater_running_version_info{version="v1.1.0"} 1
# HELP better_paas_updater_release_cache_age_seconds Seconds since the GitHub release list was last fetched or revalidated; absent without a GitHub release cache.
# TYPE better_paas_updater_release_cache_age_seconds gauge
better_paas_updater_release_cache_age_seconds 600
# HELP better_paas_updater_app_restarts_total Times the daemon started the app again after finding it stopped outside an update (a crash, a kill), as status.yaml counts them (serviceRestarts), across daemon restarts.
# TYPE better_paas_updater_app_restarts_total counter
better_paas_updater_app_restarts_total 3
`), "better_paas_updater_operation_in_flight", "better_paas_updater_operation_started_timestamp_seconds",
		"better_paas_updater_stalled", "better_paas_updater_ready", "better_paas_updater_failed_versions",
		"better_paas_updater_running_version_info", "better_paas_updater_release_cache_age_seconds",
		"better_paas_updater_app_restarts_total"); err != nil {
		t.Error(err)
	}

	// A status.yaml that cannot be read leaves its metrics out; the
	// scrape still succeeds.
	if err := os.WriteFile(l.Status, []byte("not: [yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "better_paas_updater_status_readable 0") ||
		strings.Contains(rec.Body.String(), "better_paas_updater_running_version_info") {
		t.Errorf("with a corrupt status.yaml: HTTP %d\n%s", rec.Code, rec.Body.String())
	}
}

// TestHandlerDoesNotCompress: a scraper that accepts gzip (Prometheus
// does) gets the plain text all the same; see Handler for why.
func TestHandlerDoesNotCompress(t *testing.T) {
	c := metrics.New(metrics.Options{Layout: layout.Layout{Status: t.TempDir() + "/status.yaml"}, Version: "v1.0.0"})
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	c.Handler().ServeHTTP(rec, req)
	if enc := rec.Header().Get("Content-Encoding"); rec.Code != http.StatusOK || enc != "" ||
		!strings.Contains(rec.Body.String(), "better_paas_updater_build_info{") {
		t.Errorf("GET /metrics with Accept-Encoding: gzip: HTTP %d, Content-Encoding %q\n%.300s", rec.Code, enc, rec.Body.String())
	}
}
