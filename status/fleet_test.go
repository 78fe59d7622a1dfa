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
