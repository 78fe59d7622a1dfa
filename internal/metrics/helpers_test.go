package metrics_test

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/better-paas/updater/internal/metrics"
	"github.com/better-paas/updater/internal/promtext"
)

func runtimeVersion() string { return runtime.Version() }

// scrape is a Gatherer of what c's handler serves, read back by the
// Prometheus text parser: the tests compare and lint what a scrape gets,
// with the Prometheus client library's own tools. A scrape that is not
// 200, not the text format, or that the parser rejects fails the test.
func scrape(t *testing.T, c *metrics.Collector) prometheus.Gatherer {
	t.Helper()
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		rec := httptest.NewRecorder()
		c.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != promtext.ContentType {
			t.Fatalf("scrape answered %d, Content-Type %q:\n%s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		byName, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
		if err != nil {
			t.Fatalf("the Prometheus text parser rejects the scrape: %v\n%s", err, rec.Body)
		}
		families := make([]*dto.MetricFamily, 0, len(byName))
		for _, name := range slices.Sorted(maps.Keys(byName)) {
			families = append(families, byName[name])
		}
		return families, nil
	})
}

// updates is updates_total{result} as a scrape of c gets it; the test
// fails when the series is missing.
func updates(t *testing.T, c *metrics.Collector, result string) float64 {
	t.Helper()
	families, err := scrape(t, c).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "better_paas_updater_updates_total" {
			continue
		}
		for _, m := range f.Metric {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no updates_total{result=%q}", result)
	return 0
}
