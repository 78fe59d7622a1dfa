package main

import (
	"context"
	"fmt"
	"log"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Result is one row of the bench table: a figure measured Runs times, and
// optionally the same work done by the raw tool in the same run (Baseline).
//
// The JSON tags name the fields of results.json.
type Result struct {
	Group string    `json:"group"` // "Reaction", "Idle", "Overhead", "Downtime", "Hand-over", "Backups"
	Name  string    `json:"name"`  // one line of the table, e.g. "atomic rename -> first step"
	Unit  string    `json:"unit"`  // "ms", "s", "MiB", "%", "count", "bytes"
	Runs  []float64 `json:"runs"`  // every run (>= 5 unless the measure says why not)
	// Baseline, when set, is the same work done by the raw tool in the SAME
	// run (e.g. "git fetch"), with its runs; the table prints median/min/max
	// of both and the ratio of medians.
	Baseline     string    `json:"baseline,omitempty"`
	BaselineRuns []float64 `json:"baselineRuns,omitempty"`
	Target       string    `json:"target,omitempty"` // the target in words, e.g. "< 5 ms median", "<= 1.2x"
	Pass         *bool     `json:"pass"`             // nil when there is no machine-checkable target
	Note         string    `json:"note,omitempty"`   // what was measured, how, and anything unusual
}

// Measure is one registered bench: Run does the work (it may take minutes)
// and returns one or more rows. An error becomes a row with the error in
// Note and Pass=false, and makes the program exit non-zero.
type Measure struct {
	Group, Name string
	Run         func(ctx context.Context, env *Env) ([]Result, error) // may return several rows
}

// Env is prepared once by main and shared by every measure. Measures must
// not change it; each makes its own folders beneath WorkDir.
type Env struct {
	Updater string // a better-paas-updater binary built from this tree (no race, no faultinject)
	WorkDir string // a temporary folder for this run (removed at the end unless -keep)
	Runs    int    // -runs, default 5
	Log     *log.Logger
}

// measures lists every registered Measure in registration order (file
// init order, which Go fixes by file name); main runs them by group in
// groupOrder.
var measures []Measure

// register adds m to the bench; each file calls it from an init func.
// A duplicate Group/Name is a programming error and panics.
func register(m Measure) {
	for _, o := range measures {
		if o.Group == m.Group && o.Name == m.Name {
			panic(fmt.Sprintf("bench: measure %s/%s registered twice", m.Group, m.Name))
		}
	}
	measures = append(measures, m)
}

// boolPtr returns a pointer to b, for Result.Pass.
func boolPtr(b bool) *bool { return &b }

// median returns the median of xs (the mean of the two middle values for an
// even count), or NaN for none.
func median(xs []float64) float64 { return quantile(xs, 0.5) }

// quantile returns the q-quantile of xs (0 <= q <= 1) by linear
// interpolation between closest ranks, or NaN for an empty slice.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// minMax returns the smallest and largest of xs, NaNs for none.
func minMax(xs []float64) (float64, float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	return slices.Min(xs), slices.Max(xs)
}

// formatNum prints v with three significant digits, keeping integers whole.
func formatNum(v float64) string {
	switch {
	case math.IsNaN(v):
		return "—"
	case v == math.Trunc(v) && math.Abs(v) < 1e9:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

// summary renders "median (min–max) unit" for runs, or "—" for none.
func summary(runs []float64, unit string) string {
	if len(runs) == 0 {
		return "—"
	}
	lo, hi := minMax(runs)
	s := formatNum(median(runs))
	if len(runs) > 1 {
		s += " (" + formatNum(lo) + "–" + formatNum(hi) + ")"
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

// ratio renders the ratio of the medians of r's runs and baseline runs, or
// "—" without a baseline.
func (r Result) ratio() string {
	if len(r.Runs) == 0 || len(r.BaselineRuns) == 0 {
		return "—"
	}
	b := median(r.BaselineRuns)
	if b == 0 {
		return "—"
	}
	return strconv.FormatFloat(median(r.Runs)/b, 'f', 2, 64) + "x"
}

// passText renders Pass for the table.
func (r Result) passText() string {
	switch {
	case r.Pass == nil:
		return "—"
	case *r.Pass:
		return "yes"
	default:
		return "**no**"
	}
}

// cell escapes s for a markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// markdownTable renders results as one markdown table with the columns
// group | measure | median (min–max) | baseline median (min–max) | ratio |
// target | pass, followed by a numbered list of the notes so the table stays
// readable.
func markdownTable(results []Result) string {
	var b strings.Builder
	b.WriteString("| group | measure | median (min–max) | baseline median (min–max) | ratio | target | pass |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	var notes []string
	for _, r := range results {
		name := cell(r.Name)
		if r.Note != "" {
			notes = append(notes, r.Note)
			name += fmt.Sprintf(" [%d]", len(notes))
		}
		base := "—"
		if r.Baseline != "" {
			base = cell(r.Baseline) + ": " + summary(r.BaselineRuns, r.Unit)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n",
			cell(r.Group), name, summary(r.Runs, r.Unit), base, r.ratio(), cell(r.Target), r.passText())
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for i, n := range notes {
			fmt.Fprintf(&b, "%d. %s\n", i+1, strings.ReplaceAll(n, "\n", " "))
		}
	}
	return b.String()
}
