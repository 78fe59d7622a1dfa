package promtext

import (
	"bytes"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// families parses text with the Prometheus text parser.
func families(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	m, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("the Prometheus text parser rejects:\n%s\n%v", text, err)
	}
	return m
}

// clientLibrary gathers the Prometheus client library's own Go or process
// collector, for comparison.
func clientLibrary(t *testing.T, c prometheus.Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		m[f.GetName()] = f
	}
	return m
}

// value is the value of the family's only metric.
func value(f *dto.MetricFamily) float64 {
	m := f.GetMetric()[0]
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Summary != nil:
		return float64(m.GetSummary().GetSampleCount())
	}
	return math.NaN()
}

// TestWriteGoMatchesTheClientLibrary: every go_* family has the name and
// type the Prometheus client library's Go collector gives it (dashboards
// for Go programs work unchanged), values that agree with it where they
// cannot move between two reads, counters between ours before and after
// its, and it passes promlint.
func TestWriteGoMatchesTheClientLibrary(t *testing.T) {
	read := func() (string, map[string]*dto.MetricFamily) {
		var b bytes.Buffer
		WriteGo(NewWriter(&b))
		return b.String(), families(t, b.String())
	}
	text, ours := read()
	theirs := clientLibrary(t, collectors.NewGoCollector())
	_, after := read()
	if len(ours) < 25 {
		t.Errorf("%d go_* families, want the 29 of WriteGo:\n%s", len(ours), text)
	}
	for name, f := range ours {
		g, ok := theirs[name]
		if !ok {
			t.Errorf("%s: the client library has no such family", name)
			continue
		}
		if f.GetType() != g.GetType() {
			t.Errorf("%s: type %s, the client library's %s", name, f.GetType(), g.GetType())
		}
	}
	for _, name := range []string{"go_sched_gomaxprocs_threads", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes"} {
		if a, b := value(ours[name]), value(theirs[name]); a != b {
			t.Errorf("%s = %v, the client library says %v", name, a, b)
		}
	}
	// Counters of the same MemStats, read before and after the library's.
	for _, name := range []string{"go_memstats_mallocs_total", "go_memstats_alloc_bytes_total"} {
		if a, b, a2 := value(ours[name]), value(theirs[name]), value(after[name]); !(0 < a && a <= b && b <= a2) {
			t.Errorf("%s = %v then %v, the client library says %v in between", name, a, a2, b)
		}
	}
	if v := ours["go_info"].GetMetric()[0].GetLabel()[0].GetValue(); v != runtime.Version() {
		t.Errorf("go_info{version=%q}, want %q", v, runtime.Version())
	}
	lint(t, text)
}

// TestWriteProcessMatchesTheClientLibrary: the process_* families have
// the client library's names and types, and the same values where they
// cannot move between two reads (the start time, the limits), a CPU time
// between ours before and after, and open descriptors and memory close to
// its.
func TestWriteProcessMatchesTheClientLibrary(t *testing.T) {
	read := func() (string, map[string]*dto.MetricFamily) {
		var b bytes.Buffer
		if err := WriteProcess(NewWriter(&b)); err != nil {
			t.Fatal(err)
		}
		return b.String(), families(t, b.String())
	}
	text, ours := read()
	theirs := clientLibrary(t, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	_, after := read()
	want := []string{"process_cpu_seconds_total", "process_open_fds", "process_max_fds", "process_start_time_seconds"}
	if runtime.GOOS == "linux" {
		want = append(want, "process_virtual_memory_bytes", "process_virtual_memory_max_bytes", "process_resident_memory_bytes")
	}
	for _, name := range want {
		f, g := ours[name], theirs[name]
		if f == nil || g == nil {
			t.Errorf("%s: ours %v, the client library's %v", name, f != nil, g != nil)
			continue
		}
		if f.GetType() != g.GetType() {
			t.Errorf("%s: type %s, the client library's %s", name, f.GetType(), g.GetType())
		}
		a, b, a2 := value(f), value(g), value(after[name])
		switch name {
		case "process_max_fds", "process_virtual_memory_max_bytes":
			if a != b {
				t.Errorf("%s = %v, the client library says %v", name, a, b)
			}
		case "process_start_time_seconds":
			// Both from /proc/self/stat and btime; the client library
			// rounds to the tick as well.
			if math.Abs(a-b) > 0.011 {
				t.Errorf("%s = %v, the client library says %v", name, a, b)
			}
		case "process_open_fds":
			if math.Abs(a-b) > 3 { // the library's own read holds one or two
				t.Errorf("%s = %v, the client library says %v", name, a, b)
			}
		case "process_cpu_seconds_total": // the same counter, read before and after
			if !(a <= b && b <= a2) {
				t.Errorf("%s = %v then %v, the client library says %v in between", name, a, a2, b)
			}
		default: // memory moves between the reads, by far less than half
			if a <= 0 || b <= 0 || a > 1.5*b || b > 1.5*a {
				t.Errorf("%s = %v, the client library says %v", name, a, b)
			}
		}
	}
	lint(t, text)
}

func lint(t *testing.T, text string) {
	t.Helper()
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestVectorsUnderConcurrentUse: observations and scrapes at once (run
// with -race) lose no observation, and every scrape parses.
func TestVectorsUnderConcurrentUse(t *testing.T) {
	h := NewHistogramVec(NewDesc("h_seconds", "H.", Histogram, "k"), []float64{1, 2})
	c := NewCounterVec(NewDesc("c_total", "C.", Counter, "k"))
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				k := string(rune('a' + (g+i)%3))
				h.Observe(float64(i%3), k)
				c.Inc(k)
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			var b bytes.Buffer
			w := NewWriter(&b)
			h.WriteTo(w)
			c.WriteTo(w)
			families(t, b.String())
		}
	})
	wg.Wait()
	var b bytes.Buffer
	w := NewWriter(&b)
	h.WriteTo(w)
	c.WriteTo(w)
	fams := families(t, b.String())
	var observed, counted uint64
	for _, m := range fams["h_seconds"].GetMetric() {
		observed += m.GetHistogram().GetSampleCount()
	}
	for _, m := range fams["c_total"].GetMetric() {
		counted += uint64(m.GetCounter().GetValue())
	}
	if observed != 4000 || counted != 4000 {
		t.Errorf("%d observed and %d counted, want 4000 each", observed, counted)
	}
}
