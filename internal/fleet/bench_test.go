package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/sandbox"
)

// benchHosts is the size of the benchmark's fleet: 100, or
// BETTER_PAAS_BENCH_HOSTS.
func benchHosts(b *testing.B) int {
	b.Helper()
	v := os.Getenv("BETTER_PAAS_BENCH_HOSTS")
	if v == "" {
		return 100
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("BETTER_PAAS_BENCH_HOSTS=%q: want a number of hosts, at least 1", v)
	}
	return n
}

// convergence is what one fleet commit cost, summed over the hosts.
type convergence struct {
	took     time.Duration
	cpu      time.Duration // daemons' utime+stime; -1 where /proc is not there
	gitBytes int64         // fetched from the fleet repo
}

// converge commits a fleet file moving every host to version, sends the
// webhook and waits until every host is Ready on it.
func (f *realFleet) converge(b *testing.B, n int, version string) convergence {
	b.Helper()
	cpu0, cpuErr := f.cpu()
	bytes0 := f.gitBytes()
	began := time.Now()
	f.push(b, fmt.Sprintf("iteration %d: %s", n, version), plainFile(version, true), http.StatusAccepted)
	if err := f.Wait(context.Background(), 10*time.Minute, "Ready on "+version, nil, sandbox.ReadyOn(version)); err != nil {
		b.Fatal(err)
	}
	c := convergence{took: time.Since(began), gitBytes: f.gitBytes() - bytes0, cpu: -1}
	cpu1, err := f.cpu()
	switch {
	case err == nil && cpuErr == nil:
		c.cpu = cpu1 - cpu0
	case !errors.Is(err, sandbox.ErrUsageUnsupported):
		b.Fatal(errors.Join(cpuErr, err))
	}
	return c
}

// cpu sums the daemons' CPU time so far.
func (f *realFleet) cpu() (time.Duration, error) {
	var sum time.Duration
	for _, h := range f.Hosts {
		u, err := h.Usage()
		if err != nil {
			return 0, err
		}
		sum += u.CPU
	}
	return sum, nil
}

// gitBytes sums what the hosts fetched from the fleet repo so far.
func (f *realFleet) gitBytes() int64 {
	var sum int64
	for _, h := range f.Hosts {
		sum += f.git.Traffic(h.Name).BytesOut
	}
	return sum
}

// peakRSS returns the daemons' mean and largest VmHWM.
func (f *realFleet) peakRSS() (mean, largest int64, err error) {
	var sum int64
	for _, h := range f.Hosts {
		u, err := h.Usage()
		if err != nil {
			return 0, 0, err
		}
		sum += u.PeakRSS
		largest = max(largest, u.PeakRSS)
	}
	return sum / int64(len(f.Hosts)), largest, nil
}

// BenchmarkFleetConvergence: how long a fleet of 100 hosts (each its own
// install, state, app and `better-paas-updater run` daemon on this
// machine; BETTER_PAAS_BENCH_HOSTS overrides the number) takes to
// converge from one fleet commit pushed by the webhook, and what it costs
// each host: the daemon's CPU time, its peak RSS and the git bytes it
// fetched. Each iteration moves every host to the other of two releases
// (allowDowngrade: true). One host's convergence, measured the same way
// in the same run, is the baseline: fleet-vs-one-host is the ratio.
//
// The fleet is set up once per process (b.Loop runs the function once):
// building the releases, starting the hosts and their first install of
// v1.0.0 are not measured.
func BenchmarkFleetConvergence(b *testing.B) {
	if testing.Short() {
		b.Skip("end-to-end: a fleet of daemons and apps")
	}
	n := benchHosts(b)
	rel := buildAppReleases(b)
	published := []string{"v1.0.0", "v1.1.0"}
	versions := []string{"v1.1.0", "v1.0.0"}

	// The baseline: the same harness with one host, stopped before the
	// fleet starts so it does not share the machine with it.
	one := startRealFleet(b, rel, fleetSetup{hosts: 1, published: published})
	one.converge(b, 0, "v1.0.0")
	const baselineRuns = 2
	var oneHost time.Duration
	for i := range baselineRuns {
		oneHost += one.converge(b, i+1, versions[i%2]).took
	}
	oneHost /= baselineRuns
	if err := one.Stop(); err != nil {
		b.Fatal(err)
	}

	f := startRealFleet(b, rel, fleetSetup{hosts: n, published: published})
	setup := time.Now()
	f.converge(b, 0, "v1.0.0")
	b.Logf("%d hosts: first install of v1.0.0 in %s", n, time.Since(setup).Round(time.Millisecond))

	var sum convergence
	iterations := 0
	for b.Loop() {
		c := f.converge(b, iterations+1, versions[iterations%2])
		iterations++
		sum.took += c.took
		sum.cpu += c.cpu
		sum.gitBytes += c.gitBytes
		b.Logf("iteration %d: %d hosts on %s in %s (daemons' CPU %s, git %d bytes)",
			iterations, n, versions[(iterations-1)%2], c.took.Round(time.Millisecond), c.cpu.Round(time.Millisecond), c.gitBytes)
	}
	per := float64(iterations)
	mean := sum.took.Seconds() / per
	b.ReportMetric(mean, "s-to-converge")
	b.ReportMetric(oneHost.Seconds(), "s-one-host")
	b.ReportMetric(mean/oneHost.Seconds(), "fleet-vs-one-host")
	if sum.cpu >= 0 {
		b.ReportMetric(sum.cpu.Seconds()/per/float64(n), "cpu-s/host")
	}
	b.ReportMetric(float64(sum.gitBytes)/per/float64(n), "git-B/host")
	rssMean, rssMax, err := f.peakRSS()
	switch {
	case errors.Is(err, sandbox.ErrUsageUnsupported):
		b.Log("CPU and RSS are read from /proc: not reported on this system")
	case err != nil:
		b.Fatal(err)
	default:
		b.ReportMetric(float64(rssMean)/(1<<20), "peak-RSS-MiB/host")
		b.ReportMetric(float64(rssMax)/(1<<20), "max-peak-RSS-MiB")
	}
}
