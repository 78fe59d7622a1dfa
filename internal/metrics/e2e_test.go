package metrics_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// TestMetricsAfterAnUpdateAndARollback: a real daemon updates a sandbox
// install of the example app from v1.0.0 to v1.1.0, then fails v1.2.0's
// health gate and rolls it back; /metrics, scraped over real HTTP with the
// token and read with the Prometheus text parser, counts one success and
// one rollback, times every step, and says v1.1.0 runs with one failed
// version. A rollback someone asks for (POST /api/v1/rollback) is then
// counted in rollbacks_total. Without the token /metrics is refused.
func TestMetricsAfterAnUpdateAndARollback(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: real builds and a real daemon; run make test")
	}
	h := startHost(t)
	// The daemon is restarted once v1.0.0 runs, so its counters start
	// from the update below, not from installing v1.0.0.
	h.restartDaemon(t)

	// Refusals: no token, a wrong one, a foreign Host.
	for _, c := range []struct {
		name, token, host string
		code              int
	}{
		{"no token", "", "", http.StatusUnauthorized},
		{"wrong token", "bput_" + strings.Repeat("A", 43), "", http.StatusUnauthorized},
		{"foreign host", h.token, "attacker.example", http.StatusForbidden},
	} {
		res := h.get(t, "/metrics", c.token, c.host)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.code || strings.Contains(string(body), "better_paas_updater") {
			t.Errorf("%s: HTTP %d, want %d: %s", c.name, res.StatusCode, c.code, body)
		}
	}

	began := time.Now()
	h.set(t, "v1.1.0")
	h.waitFor(t, "v1.1.0 to run, Ready", func(st *status.VersionStatus) bool {
		return st.CurrentVersion == "v1.1.0" && st.IsTrue(status.TypeReady) && st.Operation == nil
	})
	h.set(t, "v1.2.0")
	h.waitFor(t, "v1.2.0 to fail and be rolled back", func(st *status.VersionStatus) bool {
		return len(st.FailedVersions) == 1 && st.Operation == nil && st.CurrentVersion == "v1.1.0"
	})

	m := h.scrapeWhen(t, map[string]float64{
		`better_paas_updater_updates_total{result="Succeeded"}`:  1,
		`better_paas_updater_updates_total{result="RolledBack"}`: 1,
	})
	want := map[string]float64{
		`better_paas_updater_updates_total{result="Succeeded"}`:      1,
		`better_paas_updater_updates_total{result="RolledBack"}`:     1,
		`better_paas_updater_updates_total{result="RollbackFailed"}`: 0,
		`better_paas_updater_rollbacks_total{result="Succeeded"}`:    0,
		`better_paas_updater_failed_versions`:                        1,
		`better_paas_updater_running_version_info{version="v1.1.0"}`: 1,
		`better_paas_updater_operation_in_flight`:                    0,
		`better_paas_updater_status_readable`:                        1,
	}
	for k, v := range want {
		if got, ok := m.value(k); !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	if n := len(m.series("better_paas_updater_running_version_info")); n != 1 {
		t.Errorf("%d running_version_info series, want 1", n)
	}
	// Every step ran forward (in the update, and in v1.2.0's until health
	// failed), and the rollback undid some of them.
	for _, step := range reconciler.StepNames(h.cfg) {
		n := 0
		for _, s := range m.series("better_paas_updater_step_duration_seconds") {
			if s.labels["step"] == step && s.labels["phase"] == "do" {
				n += int(s.count)
			}
		}
		if n == 0 {
			t.Errorf("no step_duration_seconds for step %s, phase do", step)
		}
	}
	if got, _ := m.value(`better_paas_updater_step_duration_seconds{phase="do",result="failed",step="health"}`); got != 1 {
		t.Errorf("health failed %v times, want 1", got)
	}
	undone := 0
	for _, s := range m.series("better_paas_updater_step_duration_seconds") {
		if s.labels["phase"] == "undo" {
			undone += int(s.count)
		}
	}
	if undone == 0 {
		t.Error("no step_duration_seconds with phase undo after a rollback")
	}
	if got, ok := m.value("better_paas_updater_last_success_timestamp_seconds"); !ok || got < float64(began.Unix()) || got > float64(time.Now().Unix()+1) {
		t.Errorf("last_success_timestamp_seconds = %v (present %v), want the update's end, after %d", got, ok, began.Unix())
	}
	if got, ok := m.value("better_paas_updater_ready"); !ok || got != 0 {
		// v1.2.0 is desired and failed: the host is not Ready.
		t.Errorf("ready = %v (present %v), want 0 with a failed desired version", got, ok)
	}
	for _, name := range []string{"better_paas_updater_last_backup_bytes", "better_paas_updater_last_backup_files"} {
		if got, ok := m.value(name); !ok || got <= 0 {
			t.Errorf("%s = %v (present %v), want the newest backup's", name, got, ok)
		}
	}
	if got, ok := m.value(`better_paas_updater_last_backup_duration_seconds{pass="cold"}`); !ok || got < 0 {
		t.Errorf("last_backup_duration_seconds{pass=cold} = %v (present %v)", got, ok)
	}
	if s := m.series("better_paas_updater_reconcile_duration_seconds"); len(s) == 0 || s[0].count == 0 {
		t.Errorf("reconcile_duration_seconds = %+v, want reconciles timed", s)
	}
	if s := m.series("better_paas_updater_build_info"); len(s) != 1 || s[0].labels["version"] != testVersion || s[0].labels["goversion"] == "" {
		t.Errorf("build_info = %+v", s)
	}

	// A rollback someone asks for: back to v1.0.0, counted apart.
	res := h.post(t, "/api/v1/rollback", "{}")
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST rollback: HTTP %d %s", res.StatusCode, body)
	}
	h.waitFor(t, "the rollback to v1.0.0", func(st *status.VersionStatus) bool {
		return st.CurrentVersion == "v1.0.0" && st.IsTrue(status.TypeReady) && st.Operation == nil
	})
	m = h.scrapeWhen(t, map[string]float64{
		`better_paas_updater_updates_total{result="Succeeded"}`:   2,
		`better_paas_updater_rollbacks_total{result="Succeeded"}`: 1,
	})
	for k, v := range map[string]float64{
		`better_paas_updater_updates_total{result="Succeeded"}`:      2,
		`better_paas_updater_rollbacks_total{result="Succeeded"}`:    1,
		`better_paas_updater_running_version_info{version="v1.0.0"}`: 1,
		`better_paas_updater_ready`:                                  1,
	} {
		if got, ok := m.value(k); !ok || got != v {
			t.Errorf("after the rollback: %s = %v (present %v), want %v", k, got, ok, v)
		}
	}
}

// ---- A sandbox host with a real daemon ----

// TestMain removes the daemon binary the tests built.
func TestMain(m *testing.M) { os.Exit(sandbox.RunTests(m)) }

// testVersion is the version the tests' daemon is stamped with, which
// better_paas_updater_build_info reports.
const testVersion = "v0.0.0-metrics-test"

type host struct {
	cfg     *config.Config
	cfgPath string
	apiURL  string
	token   string
	bin     string
	daemons int
	stop    func()
}

// startHost installs the example app at v1.0.0 in a sandbox, creates an
// API token and starts the daemon with the API on a free port, and waits
// until v1.0.0 runs.
func startHost(t *testing.T) *host {
	t.Helper()
	bin, err := sandbox.VersionedUpdaterBinary(testVersion)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(dir, "origin.git"), sandbox.DefaultReleases())
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "host")
	install := filepath.Join(root, "install")
	if err := sandbox.Clone(ctx, origin, install, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(install, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(install, "data", "notes.txt"), []byte("keep me\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	raw, err := sandbox.ConfigWith(root, install, freePort(t), sandbox.Options{
		Timings:     sandbox.Timings{Interval: 100 * time.Millisecond, Deadline: 3 * time.Second, SuccessThreshold: 2},
		ShareBuilds: true,
		APIListen:   apiAddr,
	})
	if err != nil {
		t.Fatal(err)
	}
	h := &host{cfgPath: filepath.Join(root, "updater.yaml"), apiURL: "http://" + apiAddr, bin: bin}
	if err := os.WriteFile(h.cfgPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if h.cfg, err = config.Load(h.cfgPath); err != nil {
		t.Fatal(err)
	}
	if err := spec.Write(h.cfg.DesiredFile, spec.New("v1.0.0")); err != nil {
		t.Fatal(err)
	}
	if h.token, err = sandbox.CreateToken(bin, h.cfgPath, false); err != nil {
		t.Fatal(err)
	}
	h.startDaemon(t)
	t.Cleanup(func() { h.stopApp(t) })
	h.waitFor(t, "v1.0.0 to run, Ready", func(st *status.VersionStatus) bool {
		return st.CurrentVersion == "v1.0.0" && st.IsTrue(status.TypeReady)
	})
	return h
}

// startDaemon runs `better-paas-updater run` until the end of the test or
// restartDaemon; its log is shown when the test fails.
func (h *host) startDaemon(t *testing.T) {
	t.Helper()
	h.daemons++
	logPath := filepath.Join(t.TempDir(), fmt.Sprintf("daemon-%d.log", h.daemons))
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "UPDATE_REPO=") && !strings.HasPrefix(e, "GITHUB_TOKEN=") {
			env = append(env, e)
		}
	}
	d, err := sandbox.StartDaemon(h.bin, logPath, env, "run", "--config", h.cfgPath, "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	h.stop = func() {
		if err := d.Stop(30 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			if out, err := os.ReadFile(logPath); err == nil {
				t.Logf("daemon log:\n%s", lastLines(string(out), 120))
			}
		}
	}
	t.Cleanup(h.stop)
	h.waitForAPI(t, d)
}

// waitForAPI waits until the daemon's API answers /healthz.
func (h *host) waitForAPI(t *testing.T, d *sandbox.Daemon) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if res, err := http.Get(h.apiURL + "/healthz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if err := d.Alive(); err != nil {
			h.stop()
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the API did not answer within 30 s")
		}
		time.Sleep(50 * time.Millisecond) // polling an address for a deadline, not synchronising
	}
}

func (h *host) restartDaemon(t *testing.T) {
	t.Helper()
	h.stop()
	h.startDaemon(t)
}

// stopApp stops the app: it runs in a session of its own and outlives
// the daemon.
func (h *host) stopApp(t *testing.T) {
	l := layout.New(h.cfg)
	svc, err := service.NewExec(service.ExecConfig{Command: h.cfg.Service.Exec.Command, Dir: h.cfg.InstallDir, Env: h.cfg.Service.Exec.Env,
		PIDFile: l.PIDFile, LogFile: l.ServiceLog, StopTimeout: h.cfg.Service.StopTimeout.Duration})
	if err == nil {
		err = svc.Stop(context.Background())
	}
	if err != nil {
		t.Errorf("cannot stop the app: %v", err)
	}
}

func (h *host) set(t *testing.T, version string) {
	t.Helper()
	if err := spec.Write(h.cfg.DesiredFile, spec.New(version)); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls status.yaml until ok, for at most three minutes.
func (h *host) waitFor(t *testing.T, what string, ok func(*status.VersionStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	var st *status.VersionStatus
	var err error
	for time.Now().Before(deadline) {
		if st, err = status.Load(layout.New(h.cfg).Status); err == nil && ok(st) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("waited 3 minutes for %s; status: %+v, %v", what, st, err)
}

func (h *host) get(t *testing.T, path, token, hostHeader string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.apiURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if hostHeader != "" {
		req.Host = hostHeader
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (h *host) post(t *testing.T, path, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.apiURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// scrape GETs /metrics with the token, as Prometheus does, and parses it.
func (h *host) scrape(t *testing.T) scraped {
	t.Helper()
	res := h.get(t, "/metrics", h.token, "")
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d %s", res.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v\n%s", err, body)
	}
	t.Logf("scraped %d metric families", len(families))
	return scraped(families)
}

// scrapeWhen scrapes until every series of want has its value, for at
// most 30 seconds, and returns the last scrape (the caller's checks then
// say what differs). The reconciler publishes an operation's outcome,
// which the counters count, just after status.yaml records the end: a
// scrape as soon as status.yaml shows it may come before the count.
func (h *host) scrapeWhen(t *testing.T, want map[string]float64) scraped {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		m := h.scrape(t)
		done := true
		for k, v := range want {
			if got, ok := m.value(k); !ok || got != v {
				done = false
			}
		}
		if done || time.Now().After(deadline) {
			return m
		}
		<-tick.C
	}
}

// scraped is a parsed scrape.
type scraped map[string]*dto.MetricFamily

// sample is one series: its labels and its value (a counter's or a
// gauge's) or count (a histogram's).
type sample struct {
	labels map[string]string
	value  float64
	count  uint64
}

func (s scraped) series(name string) []sample {
	f := s[name]
	if f == nil {
		return nil
	}
	var out []sample
	for _, m := range f.Metric {
		smp := sample{labels: map[string]string{}}
		for _, l := range m.GetLabel() {
			smp.labels[l.GetName()] = l.GetValue()
		}
		switch {
		case m.Counter != nil:
			smp.value = m.Counter.GetValue()
		case m.Gauge != nil:
			smp.value = m.Gauge.GetValue()
		case m.Histogram != nil:
			smp.count = m.Histogram.GetSampleCount()
			smp.value = float64(smp.count)
		}
		out = append(out, smp)
	}
	return out
}

// value finds `name{a="x",b="y"}` (labels as given must all match; a
// series with other labels too counts) and returns its value.
func (s scraped) value(key string) (float64, bool) {
	name, rest, _ := strings.Cut(key, "{")
	want := map[string]string{}
	for _, kv := range strings.Split(strings.TrimSuffix(rest, "}"), ",") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			want[k] = strings.Trim(v, `"`)
		}
	}
	var total float64
	found := false
	for _, smp := range s.series(name) {
		match := true
		for k, v := range want {
			if smp.labels[k] != v {
				match = false
			}
		}
		if match {
			total += smp.value
			found = true
		}
	}
	return total, found
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
