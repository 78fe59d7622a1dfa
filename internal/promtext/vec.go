package promtext

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
)

// series is what a vector keeps per combination of label values.
type series[T any] struct {
	values []string
	v      T
}

// vec holds one T per combination of a family's label values. It is safe
// for concurrent use.
type vec[T any] struct {
	desc  *Desc
	clone func(T) T // a copy that shares nothing the vector changes; nil: T itself
	mu    sync.Mutex
	m     map[string]*series[T]
}

func newVec[T any](d *Desc, clone func(T) T) vec[T] {
	return vec[T]{desc: d, clone: clone, m: map[string]*series[T]{}}
}

// with calls f with the series of labelValues, created at T's zero value,
// under the vector's lock.
func (v *vec[T]) with(labelValues []string, f func(*T)) {
	if len(labelValues) != len(v.desc.Labels) {
		panic(fmt.Sprintf("promtext: metric %s has labels %v, got %d values", v.desc.Name, v.desc.Labels, len(labelValues)))
	}
	key := strings.Join(labelValues, "\xff")
	v.mu.Lock()
	defer v.mu.Unlock()
	s, ok := v.m[key]
	if !ok {
		s = &series[T]{values: slices.Clone(labelValues)}
		v.m[key] = s
	}
	f(&s.v)
}

// each calls f for every series in the order of their label values, on a
// copy taken under the lock.
func (v *vec[T]) each(f func(labelValues []string, t T)) {
	v.mu.Lock()
	all := make([]series[T], 0, len(v.m))
	for _, s := range v.m {
		c := *s
		if v.clone != nil {
			c.v = v.clone(c.v)
		}
		all = append(all, c)
	}
	v.mu.Unlock()
	sort.Slice(all, func(i, j int) bool { return slices.Compare(all[i].values, all[j].values) < 0 })
	for _, s := range all {
		f(s.values, s.v)
	}
}

// CounterVec is a counter per combination of label values, starting at 0
// when the program starts, as Prometheus expects of a counter.
type CounterVec struct{ vec[float64] }

// NewCounterVec returns an empty CounterVec of family d (Type Counter).
func NewCounterVec(d *Desc) *CounterVec {
	mustType(d, Counter)
	return &CounterVec{newVec[float64](d, nil)}
}

// Add adds delta (>= 0) to the counter of labelValues, creating it at 0
// first: Add(0, ...) makes a series appear before anything is counted, so
// that increase() sees the first increment.
func (c *CounterVec) Add(delta float64, labelValues ...string) {
	if delta < 0 {
		panic(fmt.Sprintf("promtext: counter %s cannot decrease (Add %v)", c.desc.Name, delta))
	}
	c.with(labelValues, func(v *float64) { *v += delta })
}

// Inc adds 1 to the counter of labelValues.
func (c *CounterVec) Inc(labelValues ...string) { c.Add(1, labelValues...) }

// WriteTo writes every counter of c.
func (c *CounterVec) WriteTo(w *Writer) {
	c.each(func(lv []string, v float64) { w.Sample(c.desc, v, lv...) })
}

// GaugeVec is a gauge per combination of label values; a series exists
// once it was first set.
type GaugeVec struct{ vec[float64] }

// NewGaugeVec returns an empty GaugeVec of family d (Type Gauge).
func NewGaugeVec(d *Desc) *GaugeVec {
	mustType(d, Gauge)
	return &GaugeVec{newVec[float64](d, nil)}
}

// Set sets the gauge of labelValues to v.
func (g *GaugeVec) Set(v float64, labelValues ...string) {
	g.with(labelValues, func(x *float64) { *x = v })
}

// WriteTo writes every gauge of g.
func (g *GaugeVec) WriteTo(w *Writer) {
	g.each(func(lv []string, v float64) { w.Sample(g.desc, v, lv...) })
}

// HistogramVec is a histogram per combination of label values, with the
// same buckets.
type HistogramVec struct {
	vec[HistogramValue]
	bounds []float64
}

// NewHistogramVec returns an empty HistogramVec of family d (Type
// Histogram) with buckets of the upper bounds given, which must ascend
// strictly (+Inf is implied).
func NewHistogramVec(d *Desc, bounds []float64) *HistogramVec {
	mustType(d, Histogram)
	for i := 1; i < len(bounds); i++ {
		if !(bounds[i-1] < bounds[i]) {
			panic(fmt.Sprintf("promtext: histogram %s: bucket bounds %v do not ascend", d.Name, bounds))
		}
	}
	clone := func(s HistogramValue) HistogramValue {
		s.Counts = slices.Clone(s.Counts)
		return s
	}
	return &HistogramVec{vec: newVec(d, clone), bounds: slices.Clone(bounds)}
}

// Observe adds the observation v to the histogram of labelValues: to the
// first bucket whose upper bound is >= v (none: only +Inf counts it).
func (h *HistogramVec) Observe(v float64, labelValues ...string) {
	i := sort.SearchFloat64s(h.bounds, v)
	h.with(labelValues, func(s *HistogramValue) {
		if s.Counts == nil {
			s.Bounds = h.bounds
			s.Counts = make([]uint64, len(h.bounds))
		}
		if i < len(s.Counts) {
			s.Counts[i]++
		}
		s.Count++
		s.Sum += v
	})
}

// WriteTo writes every histogram of h.
func (h *HistogramVec) WriteTo(w *Writer) {
	h.each(func(lv []string, s HistogramValue) { w.Histogram(h.desc, s, lv...) })
}

func mustType(d *Desc, t Type) {
	if d.Type != t {
		panic(fmt.Sprintf("promtext: metric %s is a %s, not a %s", d.Name, d.Type, t))
	}
}
