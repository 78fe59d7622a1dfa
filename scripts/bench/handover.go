package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/sandbox/load"
)

// This file measures what a client load sees through an update and a
// rollback when the updater owns the app's listening socket and hands it
// to each version it starts (service.exec.listen, issue 15 "Zero refused
// connections"), and, for contrast, the same without it.

func init() {
	register(Measure{Group: "Hand-over", Name: "load through update and rollback", Run: measureHandover})
}

// loadRate is the offered load, in requests per second: open-loop (a
// request starts every 1/loadRate whatever the others do), each on a
// fresh connection.
const loadRate = 250

// loadPath is what the load GETs: an API route every release serves
// alike (v1.2.0 breaks only /api/health).
const loadPath = "/api/notes"

// startLoad starts loadRate requests per second to url, open loop and
// with no bound on the requests in flight; a request waits at most 10 s
// (a backlog that long is a failure).
func startLoad(ctx context.Context, url string) *load.Run {
	return load.Start(ctx, load.Options{URL: url, Rate: loadRate, Timeout: 10 * time.Second})
}

// loadFigures sums up one stretch of load.
type loadFigures struct {
	n, refused, failed int     // failed: any other error, or a non-2xx answer
	rate               float64 // requests sent per second
	p99                float64 // ms, over the requests that succeeded
	firstErr           error
}

func summarize(res load.Result, took time.Duration) loadFigures {
	f := loadFigures{n: res.Sent, refused: res.Refused, failed: res.Failed + res.Non2xx,
		rate: float64(res.Sent) / took.Seconds(), p99: math.NaN(), firstErr: cmp.Or(res.FirstFailed, res.FirstNon2xx)}
	if p99, ok := res.Percentile(0.99); ok {
		f.p99 = toMs(p99)
	}
	return f
}

// handoverRun is one run: the load through an update and a rollback,
// then the same load for as long with no update.
type handoverRun struct {
	during, idle loadFigures
}

// runHandover runs env.Runs update-and-rollback cycles on a host with
// service.exec.listen on or off.
func runHandover(ctx context.Context, env *Env, listen bool) ([]handoverRun, error) {
	name := "handover-off"
	if listen {
		name = "handover-on"
	}
	h, err := startAppHost(ctx, env, name, hostOptions{Listen: listen})
	if err != nil {
		if listen {
			return nil, fmt.Errorf("cannot start a host with service.exec.listen on: %w", err)
		}
		return nil, err
	}
	defer h.close(env)
	stream, err := h.openEvents(ctx)
	if err != nil {
		return nil, err
	}
	defer stream.close()
	if listen {
		if err := h.appGotSocket(ctx); err != nil {
			return nil, err
		}
	}
	url := "http://" + h.appAddr + loadPath
	var runs []handoverRun
	version := "v1.0.0"
	for i := range env.Runs {
		to := otherGood(version)
		l := startLoad(ctx, url)
		began := time.Now()
		_, err := h.operateWhile(ctx, stream, desiredDoc{Version: to}, events.ResultSucceeded)
		if err == nil {
			err = h.settle(ctx, to, time.Minute)
		}
		if err == nil {
			_, err = h.operateWhile(ctx, stream, desiredDoc{Version: "v1.2.0", Retry: time.Now().UTC().Format(time.RFC3339Nano)}, events.ResultRolledBack)
		}
		if err == nil {
			err = h.settleRolledBack(ctx, to, time.Minute)
		}
		took := time.Since(began)
		res := l.Stop()
		if err != nil {
			return nil, fmt.Errorf("run %d (%s, then v1.2.0 rolled back): %w", i+1, to, err)
		}
		version = to
		run := handoverRun{during: summarize(res, took)}
		l = startLoad(ctx, url)
		if err := pause(ctx, took); err != nil {
			l.Stop()
			return nil, err
		}
		run.idle = summarize(l.Stop(), took)
		env.Log.Printf("hand-over %s run %d: %d requests in %s, %d refused, %d failed (%v), p99 %.1f ms (no update: %.1f ms)",
			name, i+1, run.during.n, took.Round(time.Millisecond), run.during.refused, run.during.failed, run.during.firstErr,
			run.during.p99, run.idle.p99)
		runs = append(runs, run)
	}
	return runs, nil
}

// measureHandover measures the hand-over (listen on), then the plain way
// (listen off) for contrast. When the hand-over fails, the plain rows are
// still returned beside its error.
func measureHandover(ctx context.Context, env *Env) ([]Result, error) {
	on, onErr := runHandover(ctx, env, true)
	off, err := runHandover(ctx, env, false)
	if err != nil {
		return nil, errors.Join(onErr, err)
	}
	col := func(runs []handoverRun, f func(handoverRun) float64) []float64 {
		var out []float64
		for _, r := range runs {
			out = append(out, f(r))
		}
		return out
	}
	refused := func(r handoverRun) float64 { return float64(r.during.refused) }
	failed := func(r handoverRun) float64 { return float64(r.during.failed) }
	p99 := func(r handoverRun) float64 { return r.during.p99 }
	idleP99 := func(r handoverRun) float64 { return r.idle.p99 }
	rate := func(r handoverRun) float64 { return r.during.rate }
	firstErr := "none"
	for _, r := range on {
		if e := r.during.firstErr; e != nil && firstErr == "none" {
			firstErr = e.Error()
		}
	}
	zero := func(xs []float64) bool { return maxOf(xs) == 0 }
	onRefused, onFailed := col(on, refused), col(on, failed)
	added := median(col(on, p99)) - median(col(on, idleP99))
	g := "Hand-over"
	plain := []Result{
		{Group: g, Name: "listen off (plain): refused connections", Unit: "count", Runs: col(off, refused),
			Note: "the same load and operations with service.exec.listen off, for contrast: each restart refuses connections; no target"},
		{Group: g, Name: "listen off (plain): p99 latency through update and rollback", Unit: "ms", Runs: col(off, p99),
			Baseline: "same load, no update", BaselineRuns: col(off, idleP99),
			Note: "successful requests only; refused ones are counted above"},
	}
	if onErr != nil {
		return plain, onErr
	}
	offered := fmt.Sprintf("%d GET %s per second (open loop, a fresh connection each, %.0f req/s sent median)", loadRate, loadPath, median(col(on, rate)))
	return append([]Result{
		{Group: g, Name: "listen on: refused connections", Unit: "count", Runs: onRefused, Target: "0", Pass: boolPtr(zero(onRefused)),
			Note: "service.exec.listen on: the supervisor owns the socket and passes it to each version (LISTEN_FDS); " + offered +
				" through an update (v1.0.0 and v1.1.0 in turn) and an update to v1.2.0 that fails its gate and is rolled back; per run"},
		{Group: g, Name: "listen on: failed requests", Unit: "count", Runs: onFailed, Target: "0", Pass: boolPtr(zero(onFailed)),
			Note: fmt.Sprintf("requests that got an error other than a refused connection, or a non-2xx answer; first: %s", firstErr)},
		{Group: g, Name: "listen on: p99 latency through update and rollback", Unit: "ms", Runs: col(on, p99),
			Baseline: "same load, no update", BaselineRuns: col(on, idleP99),
			Note: fmt.Sprintf("p99 of the successful requests during the update and rollback vs the same load for as long right after; added: %.1f ms (median of p99s minus median of baseline p99s)", added)},
	}, plain...), nil
}

// appGotSocket checks that the running app was given the supervisor's
// socket: its initial environment (/proc/<pid>/environ, which a later
// unsetenv does not change) holds LISTEN_FDS=1. Linux only; elsewhere it
// trusts the config.
func (h *appHost) appGotSocket(ctx context.Context) error {
	if runtime.GOOS != "linux" {
		return nil
	}
	st, err := h.svc.Status(ctx)
	if err != nil {
		return err
	}
	if st.PID == 0 {
		return errors.New("no app runs after the daemon converged")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", st.PID))
	if err != nil {
		return err
	}
	for kv := range strings.SplitSeq(string(b), "\x00") {
		if kv == "LISTEN_FDS=1" {
			return nil
		}
	}
	return fmt.Errorf("service.exec.listen is set but the app (pid %d) was started without the socket (no LISTEN_FDS=1 in its environment): "+
		"the hand-over is not wired from the config to the supervisor in this tree", st.PID)
}
