package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/internal/sandbox"
)

// This file measures what a converged daemon costs while nothing changes
// (issue 15, "Idle"): over 60 s, its CPU time, memory, read/write
// syscalls, and whether it started a process, opened a socket or called
// the release source; then how long one reconcile of a converged host
// takes, from the daemon's own metrics.

func init() {
	register(Measure{Group: "Idle", Name: "converged daemon, 60 s", Run: func(ctx context.Context, env *Env) ([]Result, error) {
		return measureIdle(ctx, env, false)
	}})
	register(Measure{Group: "Idle", Name: "converged daemon that adopted the app, 60 s", Run: func(ctx context.Context, env *Env) ([]Result, error) {
		return measureIdle(ctx, env, true)
	}})
	register(Measure{Group: "Idle", Name: "RSS with the API off", Run: measureIdleNoAPI})
	register(Measure{Group: "Idle", Name: "one converged reconcile", Run: measureConvergedReconcile})
}

// idleWindow is how long the idle daemon is watched.
const idleWindow = 60 * time.Second

// procSample is what /proc says of a process at one moment.
type procSample struct {
	at         time.Time
	ticks      int64 // utime+stime, in USER_HZ ticks
	childTicks int64 // cutime+cstime: CPU of children it waited for
	rss, hwm   int64 // VmRSS, VmHWM in bytes
	// anon, file split rss: RssAnon (the process's own memory: heap,
	// stacks) and RssFile (pages of the binary and libraries it mapped,
	// shared with the page cache; RssShmem, always 0 here, is left out).
	anon, file int64
	syscalls   int64 // syscr+syscw of /proc/<pid>/io
	threads    int
}

// userHZ is the unit of the tick counts of /proc/<pid>/stat.
const userHZ = 100

// readProc samples pid. Linux only.
func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	i := strings.LastIndexByte(string(stat), ')')
	f := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(f) < 18 {
		return s, fmt.Errorf("cannot parse /proc/%d/stat: %q", pid, stat)
	}
	// f[0] is field 3 (state): utime 14, stime 15, cutime 16, cstime 17,
	// num_threads 20.
	var n [5]int64
	for j, k := range []int{11, 12, 13, 14, 17} {
		if n[j], err = strconv.ParseInt(f[k], 10, 64); err != nil {
			return s, fmt.Errorf("cannot parse /proc/%d/stat: %w", pid, err)
		}
	}
	s.ticks, s.childTicks, s.threads = n[0]+n[1], n[2]+n[3], int(n[4])
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	fields := map[string]*int64{"VmRSS": &s.rss, "VmHWM": &s.hwm, "RssAnon": &s.anon, "RssFile": &s.file}
	for line := range strings.SplitSeq(string(st), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || fields[k] == nil {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return s, fmt.Errorf("cannot parse %s in /proc/%d/status: %q", k, pid, line)
		}
		*fields[k] = kb << 10
	}
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return s, fmt.Errorf("cannot read /proc/%d/io (the bench must run as the daemon's user): %w", pid, err)
	}
	for line := range strings.SplitSeq(string(io), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "syscr" || k == "syscw") {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return s, fmt.Errorf("cannot parse %s in /proc/%d/io: %q", k, pid, line)
			}
			s.syscalls += n
		}
	}
	return s, nil
}

// children returns the PIDs of pid's children (every thread's), from
// /proc/<pid>/task/*/children.
func children(pid int) ([]int, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		return nil, err
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		for f := range strings.FieldsSeq(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// sockets returns the socket inodes pid holds open ("socket:[N]" links in
// /proc/<pid>/fd).
func sockets(pid int) (map[string]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		l, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err == nil && strings.HasPrefix(l, "socket:") {
			out[l] = true
		}
	}
	return out, nil
}

// measureIdle watches a converged daemon (API on, no client) for
// idleWindow, in env.Runs equal slices; each slice is one run of the CPU
// and syscall rows, the pass of each row is judged on the whole window.
// Children and sockets are sampled every 5 ms (a process that lives less
// than that could be missed: the children's CPU time and the fake
// GitHub's request log catch the rest).
//
// With adopt false the daemon is the one that installed v1.0.0 and
// started the app (its child); with adopt true it is restarted first, so
// it adopts the running app, as after a restart or an upgrade of the
// updater, and carries nothing of the install.
func measureIdle(ctx context.Context, env *Env, adopt bool) ([]Result, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("the idle measure reads /proc, which only Linux has")
	}
	name, suffix, how := "idle", "", "the daemon that installed v1.0.0 and started the app"
	if adopt {
		name, suffix, how = "idle-adopted", ", adopted app", "a daemon restarted on the converged host, which adopted the running app"
	}
	h, err := startAppHost(ctx, env, name, hostOptions{})
	if err != nil {
		return nil, err
	}
	defer h.close(env)
	if adopt {
		if err := h.restartDaemon(ctx); err != nil {
			return nil, err
		}
	}
	pid := h.daemon.PID()
	appPID := 0
	if st, err := h.svc.Status(ctx); err == nil {
		appPID = st.PID
	}
	ghBefore := len(h.gh.Requests())
	kids0, err := children(pid)
	if err != nil {
		return nil, err
	}
	socks0, err := sockets(pid)
	if err != nil {
		return nil, err
	}
	known := map[int]bool{}
	for _, k := range kids0 {
		known[k] = true
	}
	newKids := map[int]string{}
	newSocks := map[string]bool{}

	slice := idleWindow / time.Duration(env.Runs)
	first, err := readProc(pid)
	if err != nil {
		return nil, err
	}
	samples := []procSample{first}
	var rssMax int64
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	end := first.at.Add(idleWindow)
	nextCut := first.at.Add(slice)
watch:
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case now := <-tick.C:
			if err := h.daemon.Alive(); err != nil {
				return nil, err
			}
			kids, _ := children(pid)
			for _, k := range kids {
				if !known[k] && k != appPID {
					known[k] = true
					comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", k))
					newKids[k] = strings.TrimSpace(string(comm))
				}
			}
			if socks, err := sockets(pid); err == nil {
				for s := range socks {
					if !socks0[s] {
						newSocks[s] = true
					}
				}
			}
			if now.Before(nextCut) && now.Before(end) {
				continue
			}
			s, err := readProc(pid)
			if err != nil {
				return nil, err
			}
			rssMax = max(rssMax, s.rss)
			samples = append(samples, s)
			nextCut = nextCut.Add(slice)
			if !now.Before(end) || len(samples) > env.Runs {
				break watch
			}
		}
	}
	last := samples[len(samples)-1]
	window := last.at.Sub(first.at)
	var cpuPct, sysPerS []float64
	for i := 1; i < len(samples); i++ {
		a, b := samples[i-1], samples[i]
		d := b.at.Sub(a.at).Seconds()
		cpuPct = append(cpuPct, 100*float64(b.ticks-a.ticks)/userHZ/d)
		sysPerS = append(sysPerS, float64(b.syscalls-a.syscalls)/d)
	}
	totalTicks := last.ticks - first.ticks
	totalPct := 100 * float64(totalTicks) / userHZ / window.Seconds()
	ghCalls := h.gh.Requests()[ghBefore:]
	// What the Go runtime says of that memory, read once the window is
	// over (the scrape does not count in it).
	goMem := h.goMemory(ctx)
	childCPU := last.childTicks - first.childTicks
	var kidNames []string
	for k, n := range newKids {
		kidNames = append(kidNames, fmt.Sprintf("%s (pid %d)", n, k))
	}
	slices.Sort(kidNames)
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	var rssRuns []float64
	for _, s := range samples[1:] {
		rssRuns = append(rssRuns, mib(s.rss))
	}
	g := "Idle"
	return []Result{
		{Group: g, Name: "CPU, converged daemon" + suffix, Unit: "%", Runs: cpuPct, Target: "< 0.1% of a core",
			Pass: boolPtr(totalPct < 0.1),
			Note: fmt.Sprintf("%s: utime+stime of /proc/<pid>/stat over %s in %d slices, as %% of one core; the whole window: %d ticks "+
				"of 10 ms = %.3f%% (pass judged on it). API on, no client.", how, window.Round(time.Second), len(cpuPct), totalTicks, totalPct)},
		{Group: g, Name: "RSS, converged daemon" + suffix, Unit: "MiB", Runs: rssRuns, Target: "< 20 MB",
			Pass: boolPtr(last.rss < 20e6),
			Note: fmt.Sprintf("VmRSS at the end of each slice (pass judged on the last); VmHWM (peak since the daemon started) %.1f MiB. "+
				"The last VmRSS is %.1f MiB RssAnon (the daemon's own memory: heap, stacks, runtime) and %.1f MiB RssFile (pages of the binary and libc it mapped, shared with the page cache). "+
				"The daemon's Go runtime after the window: %s.",
				mib(last.hwm), mib(last.anon), mib(last.file), goMem)},
		{Group: g, Name: "read/write syscalls per second" + suffix, Unit: "count", Runs: sysPerS,
			Note: fmt.Sprintf("syscr+syscw of /proc/<pid>/io: %d over the whole window (other syscalls, e.g. futex or epoll, are not counted by the kernel there).", last.syscalls-first.syscalls)},
		{Group: g, Name: "processes started (git, build, ...)" + suffix, Unit: "count", Runs: []float64{float64(len(newKids))},
			Target: "0", Pass: boolPtr(len(newKids) == 0 && childCPU == 0),
			Note: fmt.Sprintf("new children of the daemon seen in /proc/<pid>/task/*/children every 5 ms over the window (one figure): %s; children's CPU (cutime+cstime) grew by %d ticks.",
				orNone(kidNames), childCPU)},
		{Group: g, Name: "sockets opened, release source calls" + suffix, Unit: "count", Runs: []float64{float64(len(newSocks) + len(ghCalls))},
			Target: "0", Pass: boolPtr(len(newSocks) == 0 && len(ghCalls) == 0),
			Note: fmt.Sprintf("new socket inodes in /proc/<pid>/fd (sampled every 5 ms): %d; requests to the fake GitHub (the release source, counted by the server): %d %v (one figure).",
				len(newSocks), len(ghCalls), ghCalls)},
	}, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// convergedReconciles is how many reconciles of a converged host are
// timed: more than -runs, as each is well under a millisecond.
const convergedReconciles = 50

// convergedSpacing is how long each converged reconcile is left alone
// before the metrics are read.
const convergedSpacing = 100 * time.Millisecond

// measureConvergedReconcile rewrites desired.yaml with the same document
// (an atomic rename, so the loop reconciles) on a converged host, and
// reads each reconcile's duration from the daemon's own histogram
// better_paas_updater_reconcile_duration_seconds (the growth of its _sum
// over one more _count). Its baseline is the one round trip every such
// reconcile makes to another process: a health probe of the app, sent by
// the bench the same way (a kept-alive connection, the app idle for
// convergedSpacing before it), after each reconcile.
func measureConvergedReconcile(ctx context.Context, env *Env) ([]Result, error) {
	h, err := startAppHost(ctx, env, "converged", hostOptions{})
	if err != nil {
		return nil, err
	}
	defer h.close(env)
	n := max(convergedReconciles, env.Runs)
	probeURL := "http://" + h.appAddr + "/api/health"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	// The connection every timed probe reuses.
	if _, err := health.Probe(ctx, client, probeURL); err != nil {
		return nil, fmt.Errorf("probe of the converged app: %w", err)
	}
	var runs, probes []float64
	for i := range n {
		c0, s0, err := h.reconciles(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := h.writeDesired(desiredDoc{Version: "v1.0.0"}); err != nil {
			return nil, err
		}
		// The histogram's sum is exact whenever it is read: let the
		// reconcile run alone first, as a scrape costs the daemon a few
		// milliseconds of CPU that would compete with it.
		if err := pause(ctx, convergedSpacing); err != nil {
			return nil, err
		}
		var c1, s1 float64
		deadline := time.Now().Add(10 * time.Second)
		for {
			if c1, s1, err = h.reconciles(ctx); err != nil {
				return nil, err
			}
			if c1 > c0 {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("rewrite %d: no reconcile within 10 s of renaming desired.yaml\n%s", i+1, h.log(20))
			}
			if err := pause(ctx, 25*time.Millisecond); err != nil {
				return nil, err
			}
		}
		runs = append(runs, (s1-s0)/(c1-c0)*1000)
		if err := pause(ctx, convergedSpacing); err != nil {
			return nil, err
		}
		start := time.Now()
		if _, err := health.Probe(ctx, client, probeURL); err != nil {
			return nil, fmt.Errorf("probe %d of the converged app: %w", i+1, err)
		}
		probes = append(probes, toMs(time.Since(start)))
	}
	st, err := h.status()
	if err != nil {
		return nil, err
	}
	if st.CurrentVersion != "v1.0.0" || st.Operation != nil {
		return nil, fmt.Errorf("the host did not stay converged: %s", sandbox.Summary(st))
	}
	p50 := median(runs)
	return []Result{{Group: "Idle", Name: "one converged reconcile", Unit: "ms", Runs: runs, Target: "< 1 ms",
		Baseline: "one health probe of the idle app", BaselineRuns: probes,
		Pass: boolPtr(p50 < 1),
		Note: fmt.Sprintf("%d reconciles of a host converged on v1.0.0, each started by renaming an identical desired.yaml over itself; "+
			"duration from the daemon's histogram better_paas_updater_reconcile_duration_seconds (growth of _sum per _count, GET /metrics read 100 ms after each rename, "+
			"so no scrape competes with the reconcile for the CPU). "+
			"A converged reconcile reads status.yaml, desired.yaml, HEAD and the binary's cached digest, asks the service manager, "+
			"and probes the app's health once (beside the reads); the baseline is that probe alone, sent by the bench the same way "+
			"(health.Probe, GET /api/health on a kept-alive connection, the app idle for %s before it), after each reconcile.", len(runs), convergedSpacing)}}, nil
}

// noAPISettle is how long the daemon without API idles before its memory
// is read: past the first resync-free stretch, as in the 60 s window.
const noAPISettle = 10 * time.Second

// measureIdleNoAPI reads the memory of a converged daemon with the API
// off (api.listen ""), env.Runs hosts in turn, to tell what the API
// (HTTP server, event broker, metrics) adds to the shipped configuration.
func measureIdleNoAPI(ctx context.Context, env *Env) ([]Result, error) {
	if runtime.GOOS != "linux" {
		return nil, errors.New("the idle measure reads /proc, which only Linux has")
	}
	var rss, hwm, anon, file []float64
	for i := range env.Runs {
		h, err := startAppHost(ctx, env, fmt.Sprintf("idle-noapi-%d", i+1), hostOptions{NoAPI: true})
		if err != nil {
			return nil, err
		}
		err = h.restartDaemon(ctx)
		if err == nil {
			err = pause(ctx, noAPISettle)
		}
		var s procSample
		if err == nil {
			s, err = readProc(h.daemon.PID())
		}
		h.close(env)
		if err != nil {
			return nil, err
		}
		rss = append(rss, float64(s.rss)/(1<<20))
		hwm = append(hwm, float64(s.hwm)/(1<<20))
		anon = append(anon, float64(s.anon)/(1<<20))
		file = append(file, float64(s.file)/(1<<20))
	}
	return []Result{{Group: "Idle", Name: "RSS with the API off", Unit: "MiB", Runs: rss, Target: "< 20 MB",
		Pass: boolPtr(median(rss)*(1<<20) < 20e6),
		Note: fmt.Sprintf("VmRSS of a daemon converged on v1.0.0 with api.listen \"\" (the shipped config serves the API), restarted once converged, %s after it is Ready, one host per run; VmHWM %.1f MiB median; "+
			"RssAnon %.1f MiB and RssFile %.1f MiB median (the daemon's own memory; the binary's and libc's pages, shared with the page cache).",
			noAPISettle, median(hwm), median(anon), median(file))}}, nil
}

// goMemory scrapes the daemon's GET /metrics and sums up its Go runtime's
// memory: heap in use, idle heap kept and returned, stacks, goroutines,
// threads and GC cycles; the error's text when it cannot.
func (h *appHost) goMemory(ctx context.Context) string {
	resp, err := h.api(ctx, "/metrics")
	if err != nil {
		return "cannot scrape GET /metrics: " + err.Error()
	}
	defer resp.Body.Close()
	v := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			v[name] = f
		}
	}
	if err := sc.Err(); err != nil {
		return "cannot read GET /metrics: " + err.Error()
	}
	mib := func(name string) float64 { return v[name] / (1 << 20) }
	return fmt.Sprintf("heap in use %.1f MiB (objects %.1f MiB), idle heap kept %.1f MiB and returned %.1f MiB, stacks %.1f MiB, "+
		"runtime metadata %.1f MiB (GC %.1f, spans %.1f, other %.1f); %.0f goroutines, %.0f threads, %.0f GC cycles",
		mib("go_memstats_heap_inuse_bytes"), mib("go_memstats_heap_alloc_bytes"),
		mib("go_memstats_heap_idle_bytes")-mib("go_memstats_heap_released_bytes"), mib("go_memstats_heap_released_bytes"),
		mib("go_memstats_stack_inuse_bytes"),
		mib("go_memstats_gc_sys_bytes")+mib("go_memstats_mspan_sys_bytes")+mib("go_memstats_other_sys_bytes"),
		mib("go_memstats_gc_sys_bytes"), mib("go_memstats_mspan_sys_bytes"), mib("go_memstats_other_sys_bytes"),
		v["go_goroutines"], v["go_threads"], v["go_gc_duration_seconds_count"])
}
