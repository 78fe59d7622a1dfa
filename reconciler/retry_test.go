package reconciler_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// retry writes what `better-paas-updater retry [VERSION]` writes.
func (h *host) retry(version string) {
	h.t.Helper()
	d, err := spec.Load(h.cfg.DesiredFile)
	if err != nil {
		h.t.Fatal(err)
	}
	if d.Metadata.Annotations == nil {
		d.Metadata.Annotations = map[string]string{}
	}
	d.Metadata.Annotations[spec.RetryAnnotation] = time.Now().UTC().Format(time.RFC3339Nano)
	delete(d.Metadata.Annotations, spec.RetryVersionAnnotation)
	if version != "" {
		d.Metadata.Annotations[spec.RetryVersionAnnotation] = version
	}
	if err := spec.Write(h.cfg.DesiredFile, d); err != nil {
		h.t.Fatal(err)
	}
}

func failedVersions(st *status.VersionStatus) []string {
	var vs []string
	for _, f := range st.FailedVersions {
		vs = append(vs, f.Version)
	}
	slices.Sort(vs)
	return vs
}

// TestLatestCheckAndRetryTellOneStory: under latest, `check` announces only
// what latest would install; retry tries a failed release once more (the
// newest, or the one named); a release that installs cleanly is no longer
// listed as failed.
func TestLatestCheckAndRetryTellOneStory(t *testing.T) {
	t.Parallel()
	// v1.2.0 answers 503 unless PUBLIC_URL is set (an admin's missing
	// setting); v1.3.0 does not compile.
	h := newHost(t, sandbox.BrokenBackend("v1.3.0"))
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	h.set(spec.Latest)
	st := h.converge()
	if got := failedVersions(st); !slices.Equal(got, []string{"v1.2.0", "v1.3.0"}) || !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" {
		t.Fatalf("latest: failed %v, Ready %s, current %s; want v1.2.0 and v1.3.0 failed and v1.1.0 kept", got, condition(st, status.TypeReady), st.CurrentVersion)
	}
	h.serving("v1.1.0")

	// 1. check agrees with latest: nothing to install.
	res, err := h.r.Check(h.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.UpdateAvailable || res.LatestVersion != "v1.1.0" || !slices.Equal(res.SkippedFailed, []string{"v1.3.0", "v1.2.0"}) {
		t.Errorf("check = %+v, want no update (latest stays on v1.1.0) and v1.3.0, v1.2.0 skipped", res)
	}

	// 3. retry under latest tries the newest failed release once more.
	h.retry("")
	st = h.converge()
	if !slices.Contains(h.events, "build-backend:do") || st.CurrentVersion != "v1.1.0" {
		t.Fatalf("retry: events %v, current %s; want v1.3.0 tried again and rolled back", h.events, st.CurrentVersion)
	}
	if f, _ := st.Failure("v1.3.0"); f.Generation != st.ObservedGeneration {
		t.Errorf("v1.3.0's new failure is recorded under generation %d, want %d", f.Generation, st.ObservedGeneration)
	}
	// Once: the next reconciles do not try again.
	h.events = nil
	for range 2 {
		if _, err := h.r.Reconcile(h.ctx); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.events) != 0 {
		t.Fatalf("a retry was tried more than once: %v", h.events)
	}

	// The admin fixes the setting v1.2.0 needs, and retries that one.
	svc, err := service.NewExec(service.ExecConfig{
		Command: h.cfg.Service.Exec.Command, Dir: h.cfg.InstallDir,
		Env:     append(slices.Clone(h.cfg.Service.Exec.Env), "PUBLIC_URL=http://127.0.0.1"),
		PIDFile: filepath.Join(h.cfg.StateDir, "service.pid"), LogFile: filepath.Join(h.cfg.StateDir, "service.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	if h.r, err = reconciler.New(reconciler.Options{Config: h.cfg, Service: svc}); err != nil {
		t.Fatal(err)
	}
	h.retry("v1.2.0")
	st = h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.2.0" {
		t.Fatalf("retry v1.2.0: Ready %s, current %s", condition(st, status.TypeReady), st.CurrentVersion)
	}
	h.serving("v1.2.0")
	// 2. a version that installed and passed health is no longer failed.
	if got := failedVersions(st); !slices.Equal(got, []string{"v1.3.0"}) {
		t.Errorf("failedVersions = %v, want only v1.3.0", got)
	}
	res, err = h.r.Check(h.ctx, false)
	if err != nil || res.UpdateAvailable || res.LatestVersion != "v1.2.0" {
		t.Errorf("check after the retry = %+v, %v; want v1.2.0, no update", res, err)
	}
	if c := st.Get(status.TypeReady); c == nil || !strings.Contains(c.Message, "v1.2.0") {
		t.Errorf("Ready = %+v", c)
	}
}

// TestAChangedUpdaterYAMLLiftsFailureRecords: a release that failed
// because of the host (a setting the admin forgot) is not blamed for good:
// once updater.yaml changes, its record no longer holds it back, without
// touching desired.yaml.
func TestAChangedUpdaterYAMLLiftsFailureRecords(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	h.set("v1.2.0") // answers 503 while PUBLIC_URL is not set
	st := h.converge()
	if c := st.Get(status.TypeStalled); c == nil || c.Reason != reconciler.ReasonVersionFailed {
		t.Fatalf("Stalled = %+v, want VersionFailed", c)
	}
	if f, _ := st.Failure("v1.2.0"); f.ConfigDigest != h.cfg.Digest() {
		t.Errorf("the failure does not record updater.yaml's digest: %+v", f)
	}
	// Unchanged config: still held back.
	h.events = nil
	if _, err := h.r.Reconcile(h.ctx); err != nil || len(h.events) != 0 {
		t.Fatalf("retried without a change: %v %v", err, h.events)
	}

	// The admin adds the setting to updater.yaml's service env.
	h.cfg.Service.Exec.Env = append(slices.Clone(h.cfg.Service.Exec.Env), "PUBLIC_URL=http://127.0.0.1")
	svc, err := service.NewExec(service.ExecConfig{
		Command: h.cfg.Service.Exec.Command, Dir: h.cfg.InstallDir, Env: h.cfg.Service.Exec.Env,
		PIDFile: filepath.Join(h.cfg.StateDir, "service.pid"), LogFile: filepath.Join(h.cfg.StateDir, "service.log"),
	})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	if h.r, err = reconciler.New(reconciler.Options{Config: h.cfg, Service: svc}); err != nil {
		t.Fatal(err)
	}
	st = h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.2.0" {
		t.Fatalf("after fixing updater.yaml: Ready %s, current %s, Stalled %+v", condition(st, status.TypeReady), st.CurrentVersion, st.Get(status.TypeStalled))
	}
	h.serving("v1.2.0")
	if _, failed := st.Failure("v1.2.0"); failed {
		t.Errorf("v1.2.0 is still listed as failed: %+v", st.FailedVersions)
	}
}
