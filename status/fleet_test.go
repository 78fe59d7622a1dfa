package status

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestFleetRoundTrips: the fleet block is saved as documented (golden
// file) and loads back the same, beside the reconciler's fields.
func TestFleetRoundTrips(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 30, 0, 0, time.UTC)
	s := New()
	s.CurrentVersion = "v1.1.0"
	s.Fleet = &FleetStatus{
		Repo: "https://git.example.com/ops/fleet.git", Branch: "main",
		Commit: "3333333333333333333333333333333333333333", Path: "groups/eu/desired.yaml", Cohort: 17,
		Result: FleetRefused, Reason: "Unsigned", Message: "refusing commit 3333333: commit is not signed",
		SyncedAt: t0,
		Applied: &FleetWrite{Commit: "2222222222222222222222222222222222222222", Path: "groups/eu/desired.yaml",
			Version: "v1.2.0", Generation: "sha256:" + strings.Repeat("ab", 32), At: t0.Add(-time.Hour)},
		Document: &FleetDocument{Commit: "2222222222222222222222222222222222222222", Path: "groups/eu/desired.yaml",
			Blob: "4444444444444444444444444444444444444444", Version: "v1.2.0", PauseOnFailure: true, ReadAt: t0.Add(-time.Hour)},
		Paused: &FleetPause{Version: "v1.2.0", FailedAt: t0.Add(-30 * time.Minute), Message: "v1.2.0 failed on this host"},
	}
	path := filepath.Join(t.TempDir(), "status.yaml")
	if err := Save(path, s); err != nil {
		t.Fatal(err)
	}
	matchesGolden(t, path, "fleet.golden.yaml")
	back, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Fleet, s.Fleet) || back.CurrentVersion != "v1.1.0" {
		t.Errorf("loaded fleet block = %+v, want %+v", back.Fleet, s.Fleet)
	}
	// A cohort of 0 is a cohort: it is written, not left out.
	s.Fleet.Cohort = 0
	if err := Save(path, s); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); !strings.Contains(string(b), "cohort: 0") {
		t.Errorf("cohort 0 left out:\n%s", b)
	}
}

// TestPauseFor: a host is paused only by a failure recorded since it read
// a fleet file with pauseOnFailure, and the pause names the latest one.
func TestPauseFor(t *testing.T) {
	read := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	doc := &FleetDocument{Commit: strings.Repeat("a", 40), Path: "groups/eu/desired.yaml", Blob: strings.Repeat("b", 40),
		Version: "latest", PauseOnFailure: true, ReadAt: read}
	failed := func(at ...time.Duration) []FailedVersion {
		var out []FailedVersion
		for i, d := range at {
			out = append(out, FailedVersion{Version: "v1.2." + string(rune('0'+i)), Step: "health", Reason: "HealthCheckFailed", FailedAt: read.Add(d)})
		}
		return out
	}
	off := *doc
	off.PauseOnFailure = false
	for _, tc := range []struct {
		name   string
		doc    *FleetDocument
		failed []FailedVersion
		want   string // the version named; "" for no pause
	}{
		{"no fleet file", nil, failed(time.Minute), ""},
		{"pauseOnFailure off", &off, failed(time.Minute), ""},
		{"no failure", doc, nil, ""},
		{"failure before the file was read", doc, failed(-time.Second), ""},
		{"failure as the file was read", doc, failed(0), "v1.2.0"},
		{"the latest failure is named", doc, failed(-time.Hour, 2*time.Minute, time.Minute), "v1.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PauseFor(tc.doc, tc.failed)
			if tc.want == "" {
				if p != nil {
					t.Fatalf("paused: %+v", p)
				}
				return
			}
			if p == nil || p.Version != tc.want {
				t.Fatalf("pause = %+v, want one naming %s", p, tc.want)
			}
			for _, s := range []string{tc.want, "groups/eu/desired.yaml", "aaaaaaaaaaaa", "HealthCheckFailed", "pauseOnFailure", "until the fleet file changes"} {
				if !strings.Contains(p.Message, s) {
					t.Errorf("%q does not say %q", p.Message, s)
				}
			}
			s := &VersionStatus{Fleet: &FleetStatus{Document: tc.doc}, FailedVersions: tc.failed}
			if got := s.RolloutPause(); got == nil || *got != *p {
				t.Errorf("RolloutPause = %+v, want %+v", got, p)
			}
		})
	}
	var none *VersionStatus
	if none.RolloutPause() != nil {
		t.Error("a nil status is paused")
	}
}
