package promtext

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The Go runtime's metrics, under the names the Prometheus client library
// gives them, so dashboards and queries written for any Go program work.
var (
	goGoroutines = NewDesc("go_goroutines", "Goroutines that exist now.", Gauge)
	goThreads    = NewDesc("go_threads", "Operating system threads the Go runtime created.", Gauge)
	goInfo       = NewDesc("go_info", "The Go version the program was built with, always 1.", Gauge, "version")
	goMaxProcs   = NewDesc("go_sched_gomaxprocs_threads", "runtime.GOMAXPROCS: how many threads may run Go code at once.", Gauge)
	goGOGC       = NewDesc("go_gc_gogc_percent", "GOGC: how much the heap may grow, in percent of the live heap, before a collection starts.", Gauge)
	goMemLimit   = NewDesc("go_gc_gomemlimit_bytes", "GOMEMLIMIT: the memory, in bytes, the Go runtime works to stay under.", Gauge)
	goGCDuration = NewDesc("go_gc_duration_seconds", "How long garbage collections stopped the program, in seconds: quantiles of the recent pauses, and the total and count of all.", Summary)

	// runtime.MemStats, field by field.
	memStats = []struct {
		desc  *Desc
		value func(*runtime.MemStats) float64
	}{
		{memDesc("alloc_bytes", "MemStats.Alloc: bytes of heap objects allocated and not yet freed.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.Alloc) }},
		{memDesc("alloc_bytes_total", "MemStats.TotalAlloc: bytes of heap objects allocated since the program started, freed or not.", Counter), func(m *runtime.MemStats) float64 { return float64(m.TotalAlloc) }},
		{memDesc("sys_bytes", "MemStats.Sys: bytes of memory the Go runtime obtained from the operating system.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.Sys) }},
		{memDesc("mallocs_total", "MemStats.Mallocs: heap objects allocated since the program started.", Counter), func(m *runtime.MemStats) float64 { return float64(m.Mallocs) }},
		{memDesc("frees_total", "MemStats.Frees: heap objects freed since the program started.", Counter), func(m *runtime.MemStats) float64 { return float64(m.Frees) }},
		{memDesc("heap_alloc_bytes", "MemStats.HeapAlloc: bytes of heap objects allocated and not yet freed.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.HeapAlloc) }},
		{memDesc("heap_sys_bytes", "MemStats.HeapSys: bytes of heap memory obtained from the operating system.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.HeapSys) }},
		{memDesc("heap_idle_bytes", "MemStats.HeapIdle: bytes of heap spans that hold no object.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.HeapIdle) }},
		{memDesc("heap_inuse_bytes", "MemStats.HeapInuse: bytes of heap spans that hold at least one object.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.HeapInuse) }},
		{memDesc("heap_released_bytes", "MemStats.HeapReleased: bytes of idle heap spans returned to the operating system.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.HeapReleased) }},
		{memDesc("heap_objects", "MemStats.HeapObjects: heap objects allocated and not yet freed.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.HeapObjects) }},
		{memDesc("stack_inuse_bytes", "MemStats.StackInuse: bytes of stack spans.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.StackInuse) }},
		{memDesc("stack_sys_bytes", "MemStats.StackSys: bytes of stack memory obtained from the operating system.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.StackSys) }},
		{memDesc("mspan_inuse_bytes", "MemStats.MSpanInuse: bytes of the runtime's span structures in use.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.MSpanInuse) }},
		{memDesc("mspan_sys_bytes", "MemStats.MSpanSys: bytes obtained from the operating system for span structures.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.MSpanSys) }},
		{memDesc("mcache_inuse_bytes", "MemStats.MCacheInuse: bytes of the runtime's per-thread caches in use.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.MCacheInuse) }},
		{memDesc("mcache_sys_bytes", "MemStats.MCacheSys: bytes obtained from the operating system for per-thread caches.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.MCacheSys) }},
		{memDesc("buck_hash_sys_bytes", "MemStats.BuckHashSys: bytes of the profiling bucket hash table.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.BuckHashSys) }},
		{memDesc("gc_sys_bytes", "MemStats.GCSys: bytes of garbage collection metadata.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.GCSys) }},
		{memDesc("other_sys_bytes", "MemStats.OtherSys: bytes of other memory the runtime allocated off the heap.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.OtherSys) }},
		{memDesc("next_gc_bytes", "MemStats.NextGC: the heap size, in bytes, at which the next collection starts.", Gauge), func(m *runtime.MemStats) float64 { return float64(m.NextGC) }},
		{memDesc("last_gc_time_seconds", "MemStats.LastGC: when the last collection finished, in seconds since the epoch; 0 before the first.", Gauge), func(m *runtime.MemStats) float64 {
			return float64(m.LastGC) / 1e9
		}},
	}
)

func memDesc(name, help string, t Type) *Desc { return NewDesc("go_memstats_"+name, help, t) }

// WriteGo writes the Go runtime's metrics: goroutines, threads, the Go
// version, GOMAXPROCS, GOGC and the memory limit, the pauses of garbage
// collection (quantiles 0, 0.25, 0.5, 0.75, 1), and runtime.MemStats as
// go_memstats_*. It stops the world briefly (runtime.ReadMemStats).
func WriteGo(w *Writer) {
	w.Sample(goGoroutines, float64(runtime.NumGoroutine()))
	threads, _ := runtime.ThreadCreateProfile(nil)
	w.Sample(goThreads, float64(threads))
	w.Sample(goInfo, 1, runtime.Version())
	w.Sample(goMaxProcs, float64(runtime.GOMAXPROCS(0)))
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(samples)
	if samples[0].Value.Kind() == metrics.KindUint64 {
		w.Sample(goGOGC, float64(samples[0].Value.Uint64()))
	}
	if samples[1].Value.Kind() == metrics.KindUint64 {
		w.Sample(goMemLimit, float64(samples[1].Value.Uint64()))
	}

	gc := debug.GCStats{PauseQuantiles: make([]time.Duration, 5)}
	debug.ReadGCStats(&gc)
	quantiles := make([]Quantile, 0, 5)
	for i, q := range []float64{0, 0.25, 0.5, 0.75, 1} {
		quantiles = append(quantiles, Quantile{Q: q, Value: gc.PauseQuantiles[i].Seconds()})
	}
	w.Summary(goGCDuration, quantiles, uint64(gc.NumGC), gc.PauseTotal.Seconds())

	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	for _, s := range memStats {
		w.Sample(s.desc, s.value(&m))
	}
}
