package api_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsNeedTheToken: /metrics answers the Prometheus text format
// with the token (what status.yaml holds: the running version, the last
// success), refuses other methods, and is a JSON 404 on a daemon without
// metrics. The refusals without a token are in
// TestEveryRouteRefusesWithoutTheRightCredentials.
func TestMetricsNeedTheToken(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	a := f.do(request{method: http.MethodGet, path: "/metrics", token: f.token})
	if a.code != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %s %s", a.code, a.header.Get("Content-Type"), a.body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(a.body))
	if err != nil {
		t.Fatalf("the answer is not the Prometheus text format: %v\n%s", err, a.body)
	}
	running := families["better_paas_updater_running_version_info"]
	if running == nil || len(running.Metric) != 1 || running.Metric[0].GetLabel()[0].GetValue() != "v1.1.0" {
		t.Errorf("running_version_info = %v, want version v1.1.0", running)
	}
	last := families["better_paas_updater_last_success_timestamp_seconds"]
	if want := float64(f.clock.Now().Add(-59 * time.Minute).Unix()); last == nil || last.Metric[0].GetGauge().GetValue() != want {
		t.Errorf("last_success_timestamp_seconds = %v, want %v", last, want)
	}
	build := families["better_paas_updater_build_info"]
	if build == nil || !strings.Contains(build.String(), `value:"v9.9.9"`) {
		t.Errorf("build_info = %v, want version v9.9.9", build)
	}
	if n := f.scrapes.Load(); n != 1 {
		t.Errorf("%d scrapes reached the metrics, want 1", n)
	}

	if a := f.do(request{method: http.MethodPost, path: "/metrics", token: f.token, body: "{}"}); a.code != http.StatusMethodNotAllowed || a.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /metrics: %d %s, Allow %q", a.code, a.body, a.header.Get("Allow"))
	}
	bare := newFixture(t, fixtureOptions{noMetrics: true})
	if a := bare.do(request{method: http.MethodGet, path: "/metrics", token: bare.token}); a.code != http.StatusNotFound || a.errorCode() != "not_found" {
		t.Errorf("no metrics: %d %s", a.code, a.body)
	}
}
