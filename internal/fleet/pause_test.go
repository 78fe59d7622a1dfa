package fleet

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// fail records, as the reconciler does after a rollback, that version
// failed on h at at.
func fail(t *testing.T, h host, version string, at time.Time) {
	t.Helper()
	st, err := status.Load(h.Status)
	if err != nil {
		t.Fatal(err)
	}
	st.RecordFailure(status.FailedVersion{Version: version, Step: "health", Reason: "HealthCheckFailed", FailedAt: at})
	if err := status.Save(h.Status, st); err != nil {
		t.Fatal(err)
	}
}

// TestPauseOnFailure: once an update failed on a host following a fleet
// file with rollout.pauseOnFailure, the sync writes nothing to its
// desired.yaml (a local edit stays, a fleet commit that leaves the file
// as it is changes nothing) and status.yaml shows the pause; a change of
// the file resumes the host. Without pauseOnFailure a failure pauses
// nothing.
func TestPauseOnFailure(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := newFleetRepo(t)
	paused := fleetFile("latest", 100) + "  pauseOnFailure: true\n"
	first := r.commit(map[string]string{"fleet/desired.yaml": paused})
	h := newHost(t, r.Bare, "web-1", "")
	s, err := New(Options{Source: h.Source, DesiredFile: h.Desired, StatusPath: h.Status, CloneDir: CloneDir(h.State),
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if res := syncOK(t, s); res.Result != status.FleetApplied || res.Document == nil || !res.Document.PauseOnFailure ||
		!res.Document.ReadAt.Equal(now) || res.Document.Commit != first || res.Paused != nil {
		t.Fatalf("first sync = %+v (document %+v)", res, res.Document)
	}

	now = now.Add(10 * time.Minute)
	fail(t, h, "v1.2.0", now)
	// Someone edits desired.yaml on the host: an unpaused sync would
	// write the fleet's file back over it.
	if _, _, err := desired.Replace(h.Desired, "", spec.New("v1.0.0")); err != nil {
		t.Fatal(err)
	}
	local, _ := os.ReadFile(h.Desired)
	now = now.Add(time.Minute)
	r.commit(map[string]string{"README.md": "another host's change\n"})
	res := syncOK(t, s)
	if res.Result != status.FleetPaused || res.Reason != ReasonPaused || res.Paused == nil || res.Paused.Version != "v1.2.0" {
		t.Fatalf("sync after the failure = %+v (paused %+v), want Paused naming v1.2.0", res, res.Paused)
	}
	if after, _ := os.ReadFile(h.Desired); !bytes.Equal(after, local) {
		t.Error("a paused host's desired.yaml was written")
	}
	if fs := loadStatus(t, h); fs.Paused == nil || fs.Paused.Version != "v1.2.0" || fs.Document.Commit != first ||
		!fs.Document.ReadAt.Equal(now.Add(-11*time.Minute)) {
		t.Errorf("status fleet block = %+v (document %+v, paused %+v)", fs, fs.Document, fs.Paused)
	}

	// The fleet file changes: the host resumes and takes it.
	now = now.Add(time.Minute)
	changed := r.commit(map[string]string{"fleet/desired.yaml": fleetFile("v1.2.1", 100) + "  pauseOnFailure: true\n"})
	res = syncOK(t, s)
	if res.Result != status.FleetApplied || res.Paused != nil || res.Document.Commit != changed || !res.Document.ReadAt.Equal(now) {
		t.Fatalf("sync of the changed file = %+v (document %+v, paused %+v)", res, res.Document, res.Paused)
	}
	if v := desiredVersion(t, h); v != "v1.2.1" {
		t.Errorf("desired.yaml asks for %s, want v1.2.1", v)
	}

	// Without pauseOnFailure, a failure pauses nothing.
	r.commit(map[string]string{"fleet/desired.yaml": fleetFile("v1.2.2", 100)})
	syncOK(t, s)
	now = now.Add(time.Minute)
	fail(t, h, "v1.2.2", now)
	if _, _, err := desired.Replace(h.Desired, "", spec.New("v1.0.0")); err != nil {
		t.Fatal(err)
	}
	if res := syncOK(t, s); res.Result != status.FleetApplied || res.Paused != nil {
		t.Errorf("sync without pauseOnFailure = %+v (paused %+v), want Applied", res, res.Paused)
	}
}
