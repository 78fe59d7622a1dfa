package promtext

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ContentType is the Content-Type of an answer in the text format.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Type is a metric family's type, as its # TYPE line says it.
type Type string

// The metric types the text format knows that this package writes.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
	Summary   Type = "summary"
)

// Desc describes a metric family: its full name (a valid Prometheus
// metric name, namespace included), its help text, its type, and the names
// of its labels in the order their values are given.
type Desc struct {
	Name   string
	Help   string
	Type   Type
	Labels []string

	order []int // Labels' indexes sorted by name: labels are written that way
}

// NewDesc returns the Desc of a family. It panics when name or a label is
// not a valid Prometheus name, or a label is reserved (le, quantile,
// __*): descriptions are the program's constants, and a bad one would make
// every scrape unparsable.
func NewDesc(name, help string, t Type, labels ...string) *Desc {
	if !validName(name, true) {
		panic(fmt.Sprintf("promtext: %q is not a valid metric name", name))
	}
	for _, l := range labels {
		if !validName(l, false) || l == "le" || l == "quantile" || strings.HasPrefix(l, "__") {
			panic(fmt.Sprintf("promtext: metric %s: %q is not a label name it may use", name, l))
		}
	}
	order := make([]int, len(labels))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	return &Desc{Name: name, Help: help, Type: t, Labels: labels, order: order}
}

// validName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]* (a metric
// name), or [a-zA-Z_][a-zA-Z0-9_]* without colons (a label name).
func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9' || colon && r == ':'
		if !ok {
			return false
		}
	}
	return true
}

// Writer writes metric families in the text format to a buffer. The
// samples of a family follow each other: once another family was written,
// writing to an earlier one again panics, because Prometheus rejects an
// answer that names a family twice. A family without samples is not
// written at all, so a metric that is absent has no # HELP line either.
type Writer struct {
	b       *bytes.Buffer
	current *Desc
	done    map[*Desc]bool
}

// NewWriter returns a Writer that appends to b.
func NewWriter(b *bytes.Buffer) *Writer {
	return &Writer{b: b, done: map[*Desc]bool{}}
}

// Sample writes one sample of a counter or a gauge d, with the values of
// d's labels in order.
func (w *Writer) Sample(d *Desc, v float64, labelValues ...string) {
	w.open(d, labelValues)
	w.line(d, "", labelValues, "", "", v)
}

// HistogramValue is one histogram's state: the upper bounds of its
// buckets (ascending, +Inf left out), how many observations fell into each
// bucket and none below it (not cumulative), their count and their sum.
type HistogramValue struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
}

// Histogram writes one histogram of family d: a cumulative _bucket line
// per bound and one for +Inf, then _sum and _count.
func (w *Writer) Histogram(d *Desc, h HistogramValue, labelValues ...string) {
	w.open(d, labelValues)
	var cum uint64
	for i, bound := range h.Bounds {
		cum += h.Counts[i]
		w.line(d, "_bucket", labelValues, "le", formatFloat(bound), float64(cum))
	}
	w.line(d, "_bucket", labelValues, "le", "+Inf", float64(h.Count))
	w.line(d, "_sum", labelValues, "", "", h.Sum)
	w.line(d, "_count", labelValues, "", "", float64(h.Count))
}

// Quantile is one quantile of a summary.
type Quantile struct {
	Q, Value float64
}

// Summary writes one summary of family d: a line per quantile, then _sum
// and _count.
func (w *Writer) Summary(d *Desc, quantiles []Quantile, count uint64, sum float64, labelValues ...string) {
	w.open(d, labelValues)
	for _, q := range quantiles {
		w.line(d, "", labelValues, "quantile", formatFloat(q.Q), q.Value)
	}
	w.line(d, "_sum", labelValues, "", "", sum)
	w.line(d, "_count", labelValues, "", "", float64(count))
}

// open writes d's # HELP and # TYPE lines before its first sample.
func (w *Writer) open(d *Desc, labelValues []string) {
	if len(labelValues) != len(d.Labels) {
		panic(fmt.Sprintf("promtext: metric %s has labels %v, got %d values", d.Name, d.Labels, len(labelValues)))
	}
	if w.current == d {
		return
	}
	if w.done[d] {
		panic(fmt.Sprintf("promtext: metric %s written again after another family", d.Name))
	}
	w.done[d] = true
	w.current = d
	w.b.WriteString("# HELP ")
	w.b.WriteString(d.Name)
	w.b.WriteByte(' ')
	w.b.WriteString(helpEscaper.Replace(strings.ToValidUTF8(d.Help, string(utf8.RuneError))))
	w.b.WriteString("\n# TYPE ")
	w.b.WriteString(d.Name)
	w.b.WriteByte(' ')
	w.b.WriteString(string(d.Type))
	w.b.WriteByte('\n')
}

// line writes name+suffix{labels="values",extra="extraValue"} v, d's
// labels sorted by name and the extra one (le, quantile) last.
func (w *Writer) line(d *Desc, suffix string, values []string, extra, extraValue string, v float64) {
	w.b.WriteString(d.Name)
	w.b.WriteString(suffix)
	if len(d.Labels) > 0 || extra != "" {
		w.b.WriteByte('{')
		for n, i := range d.order {
			if n > 0 {
				w.b.WriteByte(',')
			}
			w.label(d.Labels[i], values[i])
		}
		if extra != "" {
			if len(d.Labels) > 0 {
				w.b.WriteByte(',')
			}
			w.label(extra, extraValue)
		}
		w.b.WriteByte('}')
	}
	w.b.WriteByte(' ')
	w.b.WriteString(formatFloat(v))
	w.b.WriteByte('\n')
}

// label writes name="value", the value escaped and made valid UTF-8 (a
// label value Prometheus cannot read would fail the whole scrape).
func (w *Writer) label(name, value string) {
	w.b.WriteString(name)
	w.b.WriteString(`="`)
	w.b.WriteString(labelEscaper.Replace(strings.ToValidUTF8(value, string(utf8.RuneError))))
	w.b.WriteByte('"')
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// UnixSeconds is t in seconds since the epoch, with its fraction: the
// unit of every *_timestamp_seconds metric.
func UnixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// formatFloat formats v as the text format wants it: the shortest
// representation that reads back to v, and +Inf, -Inf, NaN.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
