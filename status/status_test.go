package status

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func sample() *VersionStatus {
	s := New()
	s.ObservedGeneration = 3
	s.ObservedSpecDigest = "sha256:abc"
	s.DesiredVersion, s.TargetVersion = "latest", "v1.2.0"
	s.CurrentVersion, s.CurrentCommit = "v1.1.0", "1111111111111111111111111111111111111111"
	s.LastKnownGood = &Revision{Version: "v1.1.0", Commit: s.CurrentCommit, BinarySHA256: "feed"}
	s.Operation = &Operation{
		ID: "20261129T120000Z-v1.2.0", From: *s.LastKnownGood, To: Revision{Version: "v1.2.0", Commit: "2222222222222222222222222222222222222222"},
		Step: "health", Phase: PhaseDo, Attempt: 1, Done: []string{"backup", "fetch"}, StartedAt: t0,
	}
	s.Set(Condition{Type: TypeStalled, Status: True, Reason: "VersionFailed", Message: "v1.2.0 failed"}, t0)
	s.Set(Condition{Type: TypeReady, Status: False, Reason: "VersionFailed"}, t0)
	s.AddHistory(HistoryEntry{ID: "op1", From: "v1.0.0", To: "v1.1.0", Result: ResultSucceeded, StartedAt: t0, FinishedAt: t0.Add(time.Minute)})
	until := t0.Add(72 * time.Hour)
	s.Policy = &PolicyHold{Reason: "SoakPending", Message: "v1.3.0 is held back until it is 72h old", Version: "v1.3.0", Until: &until}
	s.RecordFailure(FailedVersion{Version: "v1.2.0", Step: "health", Reason: "HealthCheckFailed", FailedAt: t0, Generation: 3})
	s.RecordSelfUpdate(SelfUpdateRecord{From: "v0.1.0", To: "v0.2.0", Result: SelfUpdateSucceeded, Time: t0})
	s.RecordSelfUpdate(SelfUpdateRecord{From: "v0.2.0", To: "v0.3.0", Result: SelfUpdateRolledBack, Reason: "NotReconciled", Message: "exited 1", Time: t0})
	return s
}

// matchesGolden compares the file at path with testdata/golden (go test
// -update rewrites it).
func matchesGolden(t *testing.T, path, golden string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden = filepath.Join("testdata", golden)
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from %s:\n%s", path, golden, got)
	}
}

func TestSaveMatchesGoldenAndRoundTrips(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "status.yaml")
	if err := Save(path, sample()); err != nil {
		t.Fatalf("Save: %v", err)
	}
	matchesGolden(t, path, "status.golden.yaml")
	s, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s.Operation.Step != "health" || !s.IsTrue(TypeStalled) || s.Conditions[0].Type != TypeReady {
		t.Errorf("round trip lost data: %+v", s)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "none.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: err = %v", err)
	}
	for name, content := range map[string]string{
		"truncated":  "apiVersion: updates.better-paas.io/v1\nkind: VersionStatus\nconditions: [",
		"wrong kind": "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\n",
		"binary":     "\x00\x01\x02",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Load(p); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

// TestLoadRefusesAFileFromANewerUpdater: a status.yaml that a newer
// updater wrote (a later apiVersion, or fields this one does not know) is
// not corrupt: discarding it would lose the failure records and known tags
// when an updater is downgraded. Load says so instead.
func TestLoadRefusesAFileFromANewerUpdater(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"future apiVersion": "apiVersion: updates.better-paas.io/v2\nkind: VersionStatus\ncurrentVersion: v1.0.0\n",
		"unknown field":     "apiVersion: updates.better-paas.io/v1\nkind: VersionStatus\ncurrentVersion: v1.0.0\nselfUpdate:\n  version: v2.0.0\n",
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if !errors.Is(err, ErrNewer) || errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrNewer and not ErrCorrupt", name, err)
			continue
		}
		if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "newer") {
			t.Errorf("%s: the message names neither the file nor the cause: %v", name, err)
		}
	}
}

func TestSetKeepsTransitionTimeUntilStatusFlips(t *testing.T) {
	s := New()
	s.Set(Condition{Type: TypeReady, Status: False, Reason: "Progressing"}, t0)
	s.Set(Condition{Type: TypeReady, Status: False, Reason: "Other"}, t0.Add(time.Minute))
	if c := s.Get(TypeReady); !c.LastTransitionTime.Equal(t0) || c.Reason != "Other" {
		t.Errorf("same status moved transition time or kept old reason: %+v", c)
	}
	s.Set(Condition{Type: TypeReady, Status: True, Reason: "UpToDate"}, t0.Add(2*time.Minute))
	if c := s.Get(TypeReady); !c.LastTransitionTime.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("flip did not move transition time: %+v", c)
	}
	s.Set(Condition{Type: TypeStalled, Status: True, Reason: "X"}, t0)
	s.Set(Condition{Type: TypeReconciling, Status: True, Reason: "Y"}, t0)
	if s.Conditions[0].Type != TypeReady || s.Conditions[1].Type != TypeReconciling || s.Conditions[2].Type != TypeStalled {
		t.Errorf("order = %+v", s.Conditions)
	}
	s.Remove(TypeReconciling)
	if s.Get(TypeReconciling) != nil || len(s.Conditions) != 2 {
		t.Errorf("Remove left %+v", s.Conditions)
	}
}

func TestListsAreBounded(t *testing.T) {
	s := New()
	for i := 0; i < MaxHistory+5; i++ {
		s.AddHistory(HistoryEntry{ID: fmt.Sprint(i)})
	}
	if len(s.History) != MaxHistory || s.History[0].ID != fmt.Sprint(MaxHistory+4) {
		t.Errorf("history len %d first %q", len(s.History), s.History[0].ID)
	}
	for i := 0; i < MaxFailedVersions+5; i++ {
		s.RecordFailure(FailedVersion{Version: fmt.Sprintf("v1.0.%d", i)})
	}
	s.RecordFailure(FailedVersion{Version: "v1.0.54", Reason: "again"})
	if len(s.FailedVersions) != MaxFailedVersions {
		t.Errorf("failed versions len %d", len(s.FailedVersions))
	}
	if f, ok := s.Failure("v1.0.54"); !ok || f.Reason != "again" || s.FailedVersions[0].Version != "v1.0.54" {
		t.Errorf("re-recorded failure = %+v %v", f, ok)
	}
	if _, ok := s.Failure("v1.0.0"); ok {
		t.Error("oldest failure was not dropped")
	}
}

// TestRecordSelfUpdate: a success moves the versions on; a failure or a
// rollback keeps them and marks the version failed, once, newest first,
// bounded.
func TestRecordSelfUpdate(t *testing.T) {
	s := New()
	if s.SelfUpdateFailed("v0.2.0") {
		t.Error("a new status has failed versions")
	}
	s.RecordSelfUpdate(SelfUpdateRecord{From: "v0.1.0", To: "v0.2.0", Result: SelfUpdateSucceeded, Time: t0})
	if u := s.Updater; u.Version != "v0.2.0" || u.PreviousVersion != "v0.1.0" || u.FailedVersions != nil || u.LastSelfUpdate.To != "v0.2.0" {
		t.Errorf("after success: %+v", u)
	}
	s.RecordSelfUpdate(SelfUpdateRecord{From: "v0.2.0", To: "v0.3.0", Result: SelfUpdateFailed, Reason: "TrialFailed", Time: t0})
	s.RecordSelfUpdate(SelfUpdateRecord{From: "v0.2.0", To: "v0.3.0", Result: SelfUpdateRolledBack, Reason: "NotReconciled", Time: t0})
	if u := s.Updater; u.Version != "v0.2.0" || len(u.FailedVersions) != 1 || u.FailedVersions[0].Reason != "NotReconciled" || !s.SelfUpdateFailed("v0.3.0") {
		t.Errorf("after failures: %+v", u)
	}
	for i := 0; i < MaxFailedSelfUpdates+3; i++ {
		s.RecordSelfUpdate(SelfUpdateRecord{To: fmt.Sprintf("v1.0.%d", i), Result: SelfUpdateFailed})
	}
	if len(s.Updater.FailedVersions) != MaxFailedSelfUpdates || s.SelfUpdateFailed("v0.3.0") || !s.SelfUpdateFailed(fmt.Sprintf("v1.0.%d", MaxFailedSelfUpdates+2)) {
		t.Errorf("not bounded newest first: %d records", len(s.Updater.FailedVersions))
	}
}

// TestSaveWritesOnlyWhatChanged: saving the status a file already holds
// writes nothing (a converged reconcile costs no disk write); any change
// is written, atomically, as a new file.
func TestSaveWritesOnlyWhatChanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status.yaml")
	s := New()
	s.CurrentVersion = "v1.0.0"
	if err := Save(path, s); err != nil {
		t.Fatal(err)
	}
	fi1, _ := os.Stat(path)
	if err := Save(path, s); err != nil {
		t.Fatal(err)
	}
	fi2, _ := os.Stat(path)
	if !os.SameFile(fi1, fi2) {
		t.Error("saving the same status replaced the file")
	}
	s.CurrentVersion = "v1.1.0"
	if err := Save(path, s); err != nil {
		t.Fatal(err)
	}
	fi3, _ := os.Stat(path)
	if os.SameFile(fi2, fi3) {
		t.Error("a changed status was not written as a new file")
	}
	if back, err := Load(path); err != nil || back.CurrentVersion != "v1.1.0" {
		t.Errorf("loaded %+v, %v", back, err)
	}
}
