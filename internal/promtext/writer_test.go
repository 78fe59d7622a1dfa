package promtext

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestWriterFormat: the exact text of each kind of family, with the
// escapes the format asks for, and the Prometheus text parser and linter
// accept it.
func TestWriterFormat(t *testing.T) {
	requests := NewCounterVec(NewDesc("app_requests_total", `Requests by code and path; a \ and a
newline in the help.`, Counter, "path", "code"))
	requests.Add(0, "/", "200")
	requests.Inc("/a\"b\\c\nd", "500")
	requests.Add(2.5, "/", "200")
	temp := NewGaugeVec(NewDesc("app_temperature_celsius", "A gauge.", Gauge, "room"))
	temp.Set(-1.5, "kitchen")
	temp.Set(math.Inf(1), "oven")
	temp.Set(20, "bad \xff utf-8")
	latency := NewHistogramVec(NewDesc("app_latency_seconds", "A histogram.", Histogram, "op"), []float64{0.1, 1, 10})
	for _, v := range []float64{0.05, 0.1, 0.5, 1, 99} {
		latency.Observe(v, "get")
	}
	empty := NewHistogramVec(NewDesc("app_empty_seconds", "Never observed: no series.", Histogram), []float64{1})
	up := NewDesc("app_up", "No labels.", Gauge)
	pauses := NewDesc("app_pause_seconds", "A summary.", Summary)

	var b bytes.Buffer
	w := NewWriter(&b)
	requests.WriteTo(w)
	temp.WriteTo(w)
	latency.WriteTo(w)
	empty.WriteTo(w)
	w.Sample(up, 1)
	w.Summary(pauses, []Quantile{{0, 0.001}, {0.5, 0.002}, {1, 0.25}}, 3, 0.253)

	want := `# HELP app_requests_total Requests by code and path; a \\ and a\nnewline in the help.
# TYPE app_requests_total counter
app_requests_total{code="200",path="/"} 2.5
app_requests_total{code="500",path="/a\"b\\c\nd"} 1
# HELP app_temperature_celsius A gauge.
# TYPE app_temperature_celsius gauge
app_temperature_celsius{room="bad ` + "\ufffd" + ` utf-8"} 20
app_temperature_celsius{room="kitchen"} -1.5
app_temperature_celsius{room="oven"} +Inf
# HELP app_latency_seconds A histogram.
# TYPE app_latency_seconds histogram
app_latency_seconds_bucket{op="get",le="0.1"} 2
app_latency_seconds_bucket{op="get",le="1"} 4
app_latency_seconds_bucket{op="get",le="10"} 4
app_latency_seconds_bucket{op="get",le="+Inf"} 5
app_latency_seconds_sum{op="get"} 100.65
app_latency_seconds_count{op="get"} 5
# HELP app_up No labels.
# TYPE app_up gauge
app_up 1
# HELP app_pause_seconds A summary.
# TYPE app_pause_seconds summary
app_pause_seconds{quantile="0"} 0.001
app_pause_seconds{quantile="0.5"} 0.002
app_pause_seconds{quantile="1"} 0.25
app_pause_seconds_sum 0.253
app_pause_seconds_count 3
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	parse(t, b.String())
	problems, err := promlint.New(strings.NewReader(b.String())).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// parse reads text with the Prometheus text parser, failing the test when
// it rejects it.
func parse(t *testing.T, text string) {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(text)); err != nil {
		t.Fatalf("the Prometheus text parser rejects:\n%s\n%v", text, err)
	}
}

// TestWriterRefusesWhatWouldBreakTheScrape: what would make an answer
// Prometheus rejects is a programming error, caught at once.
func TestWriterRefusesWhatWouldBreakTheScrape(t *testing.T) {
	a := NewDesc("a", "A.", Gauge, "x")
	bd := NewDesc("b", "B.", Gauge)
	for name, f := range map[string]func(){
		"a family again after another": func() {
			w := NewWriter(&bytes.Buffer{})
			w.Sample(a, 1, "1")
			w.Sample(bd, 1)
			w.Sample(a, 2, "2")
		},
		"too few label values":             func() { NewWriter(&bytes.Buffer{}).Sample(a, 1) },
		"too many label values":            func() { NewGaugeVec(a).Set(1, "1", "2") },
		"a metric name with a dash":        func() { NewDesc("a-b", "", Gauge) },
		"a metric name with a digit first": func() { NewDesc("1a", "", Gauge) },
		"the label le":                     func() { NewDesc("h", "", Histogram, "le") },
		"the label quantile":               func() { NewDesc("s", "", Summary, "quantile") },
		"a reserved label":                 func() { NewDesc("g", "", Gauge, "__name__") },
		"a label with a colon":             func() { NewDesc("g", "", Gauge, "a:b") },
		"a counter that decreases":         func() { NewCounterVec(NewDesc("c_total", "", Counter)).Add(-1) },
		"a gauge made a counter":           func() { NewCounterVec(NewDesc("g", "", Gauge)) },
		"buckets that do not ascend":       func() { NewHistogramVec(NewDesc("h", "", Histogram), []float64{1, 1}) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f()
		})
	}
	// The same family again right after itself is one family.
	var b bytes.Buffer
	w := NewWriter(&b)
	w.Sample(a, 1, "1")
	w.Sample(a, 2, "2")
	if n := strings.Count(b.String(), "# TYPE a gauge"); n != 1 {
		t.Errorf("%d TYPE lines for one family:\n%s", n, b.String())
	}
}
