package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	xs := []float64{5, 1, 3, 2, 4}
	for _, c := range []struct{ q, want float64 }{{0, 1}, {0.5, 3}, {1, 5}, {0.25, 2}, {0.99, 4.96}} {
		if got := quantile(xs, c.q); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("quantile(%v, %v) = %v, want %v", xs, c.q, got, c.want)
		}
	}
	if got := median([]float64{1, 2, 3, 10}); got != 2.5 {
		t.Errorf("median of an even count = %v, want 2.5", got)
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median(nil) is not NaN")
	}
	if xs[0] != 5 {
		t.Error("quantile sorted its argument in place")
	}
}

func TestMarkdownTable(t *testing.T) {
	got := markdownTable([]Result{
		{Group: "Overhead", Name: "fetch", Unit: "ms", Runs: []float64{10, 12, 11}, Baseline: "git fetch",
			BaselineRuns: []float64{5, 6, 5.5}, Target: "<= 1.3x", Pass: boolPtr(false), Note: "a | b"},
		{Group: "Idle", Name: "RSS", Unit: "MiB", Runs: []float64{15.26}},
	})
	want := "| group | measure | median (min–max) | baseline median (min–max) | ratio | target | pass |\n" +
		"|---|---|---|---|---|---|---|\n" +
		"| Overhead | fetch [1] | 11 (10–12) ms | git fetch: 5.50 (5–6) ms | 2.00x | <= 1.3x | **no** |\n" +
		"| Idle | RSS | 15.3 MiB | — | — |  | — |\n" +
		"\n1. a | b\n"
	if got != want {
		t.Errorf("markdownTable:\n%s\nwant:\n%s", got, want)
	}
}

func TestSpliceTable(t *testing.T) {
	doc := []byte("intro\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nrest\n")
	got, err := spliceTable(doc, "| new |\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\n<!-- bench:start -->\n| new |\n<!-- bench:end -->\nrest\n"; string(got) != want {
		t.Errorf("spliceTable = %q, want %q", got, want)
	}
	for _, bad := range []string{"no markers", "<!-- bench:end --> <!-- bench:start -->",
		"<!-- bench:start --><!-- bench:start --><!-- bench:end -->"} {
		if _, err := spliceTable([]byte(bad), "x"); err == nil || !strings.Contains(err.Error(), "bench:start") {
			t.Errorf("spliceTable(%q) error = %v, want one naming the markers", bad, err)
		}
	}
}

func TestOutages(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	p := func(ms int, k probeKind) probe { return probe{sent: at(ms), recv: at(ms + 1), kind: k} }
	// ok, down, down, ok (update); then down, bad, bad, down, down, ok (rollback), down (unfinished).
	probes := []probe{p(0, probeOK), p(5, probeDown), p(10, probeDown), p(15, probeOK),
		p(20, probeDown), p(25, probeBad), p(30, probeBad), p(35, probeDown), p(40, probeDown), p(45, probeOK), p(50, probeDown)}
	outs := outages(probes)
	if len(outs) != 2 {
		t.Fatalf("outages = %d, want 2 (the unfinished one left out)", len(outs))
	}
	if w := outs[0].window(); w != 11*time.Millisecond {
		t.Errorf("first window = %s, want 11ms (sent at 5, 2xx received at 16)", w)
	}
	if w := outs[1].window(); w != 26*time.Millisecond {
		t.Errorf("second window = %s, want 26ms", w)
	}
	back, ok := lastDownRun(probes)
	if !ok || back.window() != 11*time.Millisecond || !back.firstFail.sent.Equal(at(35)) {
		t.Errorf("lastDownRun = %+v, %v; want the run from 35 ms to the 2xx received at 46 ms", back, ok)
	}
}

func TestSelectMeasuresOrdersByGroup(t *testing.T) {
	all := []Measure{{Group: "Downtime", Name: "a"}, {Group: "Zeta", Name: "z"}, {Group: "Reaction", Name: "r"},
		{Group: "Idle", Name: "i1"}, {Group: "Idle", Name: "i2"}}
	var got []string
	for _, m := range selectMeasures(all, nil) {
		got = append(got, m.Group+"/"+m.Name)
	}
	if want := "Reaction/r Idle/i1 Idle/i2 Downtime/a Zeta/z"; strings.Join(got, " ") != want {
		t.Errorf("selectMeasures order = %v, want %s", got, want)
	}
	if got := selectMeasures(all, regexp.MustCompile(`^Idle/i2$`)); len(got) != 1 || got[0].Name != "i2" {
		t.Errorf("-only ^Idle/i2$ selected %v", got)
	}
}

func TestWriteResults(t *testing.T) {
	dir := t.TempDir()
	rs := []Result{{Group: "Reaction", Name: "rename -> step", Unit: "ms", Runs: []float64{1, 3, 2}, Target: "< 5 ms median", Pass: boolPtr(true)}}
	if err := writeResults(dir, Machine{CPUs: 2, GoVersion: "go1.26"}, time.Unix(0, 0).UTC(), rs, markdownTable(rs)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Machine struct{ CPUs int }
		Results []map[string]any
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("results.json does not decode: %v\n%s", err, b)
	}
	if f.Machine.CPUs != 2 || len(f.Results) != 1 || f.Results[0]["group"] != "Reaction" ||
		f.Results[0]["name"] != "rename -> step" || f.Results[0]["median"] != 2.0 || f.Results[0]["pass"] != true {
		t.Errorf("results.json = %s", b)
	}
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| Reaction | rename -> step | 2 (1–3) ms |") {
		t.Errorf("results.md lacks the row:\n%s", md)
	}
}
