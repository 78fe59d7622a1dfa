package metrics_test

import (
	"runtime"
	"testing"

	"github.com/better-paas/updater/internal/metrics"
)

func runtimeVersion() string { return runtime.Version() }

// updates is updates_total{result} as c's registry gathers it; the test
// fails when the series is missing.
func updates(t *testing.T, c *metrics.Collector, result string) float64 {
	t.Helper()
	families, err := c.Registry().Gather()
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
