package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// treeDigests hashes every entry under root, mode and content (a symlink
// by its target, a folder by its mode), keyed by relative path; a missing
// root is an empty map.
func treeDigests(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			out[rel] = "link:" + target
			return err
		case e.IsDir():
			out[rel] = "dir:" + info.Mode().String()
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = info.Mode().String() + ":" + info.ModTime().String() + ":" + hex.EncodeToString(sum[:])
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// sameTrees fails for every entry added, removed or changed between two
// treeDigests of what.
func sameTrees(t *testing.T, what string, before, after map[string]string) {
	t.Helper()
	for p, d := range before {
		if a, ok := after[p]; !ok {
			t.Errorf("%s: %s was removed", what, p)
		} else if a != d {
			t.Errorf("%s: %s changed: %s -> %s", what, p, d, a)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s: %s was added", what, p)
		}
	}
}

// pendingHost is a real checkout at v1.0.0 with a built binary in place
// (a stand-in: plan does not run it), a status.yaml as a daemon leaves it
// after installing v1.0.0 and then v1.1.0 failing, and desired.yaml asking
// for v1.1.0 again under a new spec: an update is pending.
//
// extraConfig is appended to updater.yaml.
func pendingHost(t *testing.T, extraConfig string) (cfgPath string, cfg *config.Config) {
	t.Helper()
	cfgPath, _ = writeConfig(t)
	if extraConfig != "" {
		b, _ := os.ReadFile(cfgPath)
		writeFile(t, cfgPath, string(b)+extraConfig)
	}
	dir := filepath.Dir(cfgPath)
	ctx := context.Background()
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(dir, "origin.git"), sandbox.DefaultReleases())
	if err != nil {
		t.Fatal(err)
	}
	install := filepath.Join(dir, "install")
	if err := sandbox.Clone(ctx, origin, install, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	cfg, err = config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg.BackendBinary(), "#!/bin/sh\n")
	writeFile(t, filepath.Join(install, "data", "notes.txt"), "keep me\n")
	head, err := exec.Command("git", "-C", install, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, "set", "v1.1.0", "--config", cfgPath); code != 0 {
		t.Fatalf("set: %d %s", code, out)
	}
	st := status.New()
	st.CurrentVersion, st.CurrentCommit = "v1.0.0", strings.TrimSpace(string(head))
	st.DesiredVersion = "v1.0.0"
	st.SetLastKnownGood(status.Revision{Version: "v0.9.0"})
	st.SetLastKnownGood(status.Revision{Version: "v1.0.0", Commit: st.CurrentCommit})
	finished := time.Date(2026, 11, 30, 20, 0, 0, 0, time.UTC)
	st.AddHistory(status.HistoryEntry{ID: "20261130T195900Z-v1.0.0", From: "v0.9.0", To: "v1.0.0", Result: status.ResultSucceeded,
		StartedAt: finished.Add(-time.Minute), FinishedAt: finished})
	if err := status.Save(reconciler.StatusPath(cfg), st); err != nil {
		t.Fatal(err)
	}
	return cfgPath, cfg
}

// TestPlanChangesNothing: on a host with an update pending, plan (text and
// JSON) names the state, the target and the steps, and leaves the install
// tree (.git and data/ included), desired.yaml, status.yaml and the state
// folder exactly as they were, modification times included.
func TestPlanChangesNothing(t *testing.T) {
	cfgPath, cfg := pendingHost(t, "")
	snap := func() map[string]map[string]string {
		return map[string]map[string]string{
			"install": treeDigests(t, cfg.InstallDir),
			"state":   treeDigests(t, cfg.StateDir),
			"desired": treeDigests(t, cfg.DesiredFile),
			"backups": treeDigests(t, cfg.BackupDir),
		}
	}
	before := snap()
	if len(before["install"]) == 0 || len(before["desired"]) != 1 || before["state"]["status.yaml"] == "" {
		t.Fatalf("the sandbox lacks what the test hashes: %v", before)
	}

	out, code := runCLI(t, "plan", "--config", cfgPath)
	t.Logf("plan:\n%s", out)
	steps := strings.Join(reconciler.StepNames(cfg), ", ")
	for _, want := range []string{"State:       UpdatePending", "Action:      Update", "Target:      v1.1.0 (commit ", "Running:     v1.0.0",
		"Steps:       " + steps, "Backup:      copies 1 files", "Rollback to: v0.9.0", "Nothing was changed"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("plan: exit %d, want %q in:\n%s", code, want, out)
		}
	}
	jsonOut, code := runCLI(t, "plan", "-o", "json", "--config", cfgPath)
	t.Logf("plan -o json:\n%s", jsonOut)
	var p reconciler.Plan
	if err := json.Unmarshal([]byte(jsonOut), &p); code != 0 || err != nil {
		t.Fatalf("plan -o json: exit %d, %v:\n%s", code, err, jsonOut)
	}
	origin := filepath.Join(filepath.Dir(cfgPath), "origin.git")
	wantCommit, err := exec.Command("git", "-C", origin, "rev-parse", "v1.1.0^{commit}").Output()
	if err != nil {
		t.Fatal(err)
	}
	if p.State != reconciler.StateUpdatePending || p.Action != "Update" || p.TargetVersion != "v1.1.0" ||
		p.TargetCommit != strings.TrimSpace(string(wantCommit)) || strings.Join(p.Steps, ", ") != steps ||
		p.Backup == nil || p.Backup.NeedBytes == 0 || p.RollbackTarget != "v0.9.0" || p.Reason != "" ||
		p.DesiredGeneration != desired.Read(cfg.DesiredFile).Generation {
		t.Errorf("plan -o json: %+v", p)
	}
	after := snap()
	for what := range before {
		sameTrees(t, what, before[what], after[what])
	}
}

// TestSetRefusesAChangedDesiredFile: two writers read the same generation;
// the first one's set goes through, the second one's is refused with exit
// 3 and a message naming --force, desired.yaml left as the first wrote it;
// --force then overwrites it. Without --if-generation, set checks the
// generation it read itself.
func TestSetRefusesAChangedDesiredFile(t *testing.T) {
	cfgPath, desiredFile := writeConfig(t)
	out, code := runCLI(t, "set", "v1.0.0", "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "(generation sha256:") {
		t.Fatalf("set: %d %s", code, out)
	}
	read := desired.Read(desiredFile).Generation

	// Both writers start from what they read; the first one wins.
	if out, code := runCLI(t, "set", "v1.1.0", "--if-generation", read, "--config", cfgPath); code != 0 {
		t.Fatalf("first writer: %d %s", code, out)
	}
	won, _ := os.ReadFile(desiredFile)
	out, code = runCLI(t, "set", "v1.2.0", "--if-generation", read, "--config", cfgPath)
	t.Logf("second writer:\n%s", out)
	if now, _ := os.ReadFile(desiredFile); code != exitConflict || !strings.Contains(out, "--force") || !strings.Contains(out, desiredFile) || string(now) != string(won) {
		t.Errorf("second writer: exit %d (want %d), file now:\n%s\n%s", code, exitConflict, now, out)
	}
	if out, code := runCLI(t, "set", "v1.2.0", "--force", "--if-generation", read, "--config", cfgPath); code != exitFailure || !strings.Contains(out, "contradict") {
		t.Errorf("--force with --if-generation: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "set", "v1.2.0", "--force", "--config", cfgPath); code != 0 {
		t.Errorf("--force: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(desiredFile); !strings.Contains(string(b), "version: v1.2.0") {
		t.Errorf("--force did not write:\n%s", b)
	}

	// Writers racing without --if-generation: each set checks the
	// generation it read, so each write either lands on what its writer
	// saw or is refused with exit 3; none fails otherwise, and the file
	// ends as one of them wrote it.
	var wg sync.WaitGroup
	codes := make([]int, 8)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, codes[i] = runCLI(t, "set", []string{"v2.0.0", "v3.0.0"}[i%2], "--config", cfgPath)
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 0 && c != exitConflict {
			t.Errorf("racing writer %d: exit %d", i, c)
		}
	}
	if d := desired.Read(desiredFile); d.Version != "v2.0.0" && d.Version != "v3.0.0" {
		t.Errorf("after the race: %+v", d)
	}
}

// TestStatusHistoryAndVersion: status prints the summary by default and
// the file with -o yaml|json; history lists newest first (-o json as the
// API answers); version says what the binary was built as.
func TestStatusHistoryAndVersion(t *testing.T) {
	cfgPath, cfg := pendingHost(t, "")
	st, err := status.Load(reconciler.StatusPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	st.Set(status.Condition{Type: status.TypeReady, Status: status.False, Reason: "VersionFailed", Message: "v1.1.0 failed at step health"}, time.Now())
	st.Set(status.Condition{Type: status.TypeStalled, Status: status.True, Reason: "VersionFailed", Message: "v1.1.0 failed at step health"}, time.Now())
	st.RecordFailure(status.FailedVersion{Version: "v1.1.0", Step: "health", Reason: "Unhealthy", FailedAt: time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC)})
	st.AddHistory(status.HistoryEntry{ID: "20261130T205900Z-v1.1.0", From: "v1.0.0", To: "v1.1.0", Result: status.ResultRolledBack, FailedStep: "health",
		Message: "not healthy", StartedAt: time.Date(2026, 11, 30, 20, 59, 0, 0, time.UTC), FinishedAt: time.Date(2026, 11, 30, 21, 0, 0, 0, time.UTC)})
	st.Operation = &status.Operation{ID: "20261130T210500Z-v1.1.0", From: status.Revision{Version: "v1.0.0"}, To: status.Revision{Version: "v1.1.0"},
		Step: "build-backend", Phase: status.PhaseDo, Attempt: 2, StartedAt: time.Date(2026, 11, 30, 21, 5, 0, 0, time.UTC)}
	st.Fleet = &status.FleetStatus{Repo: "https://git.example.com/ops/fleet.git", Branch: "main", Commit: strings.Repeat("3", 40),
		Path: "fleet/desired.yaml", Cohort: 17, Result: status.FleetPaused, Reason: "RolloutPaused", SyncedAt: time.Date(2026, 11, 30, 21, 6, 0, 0, time.UTC),
		Paused: &status.FleetPause{Version: "v1.1.0", Message: "v1.1.0 failed on this host (pauseOnFailure)"}}
	if err := status.Save(reconciler.StatusPath(cfg), st); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "status", "--config", cfgPath)
	t.Logf("status:\n%s", out)
	if strings.Contains(out, "Not ready:") {
		t.Errorf("status repeats the Stalled condition as Not ready:\n%s", out)
	}
	for _, want := range []string{"Running:     v1.0.0 (commit ", ", since 2026-11-30T20:00:00Z", "Stalled:     VersionFailed: v1.1.0 failed at step health", "In flight:   v1.0.0 -> v1.1.0, step build-backend, attempt 2", "Last:        update v1.0.0 -> v1.1.0 RolledBack",
		"Failed:      v1.1.0 at step health (Unhealthy)", "Rollback to: v0.9.0",
		"Fleet:       Paused (RolloutPaused) https://git.example.com/ops/fleet.git at 333333333333 fleet/desired.yaml, cohort 17, 2026-11-30T21:06:00Z",
		"Paused:      v1.1.0 failed on this host (pauseOnFailure)"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("status: exit %d, want %q in:\n%s", code, want, out)
		}
	}
	for _, format := range []string{"yaml", "json"} {
		out, code := runCLI(t, "status", "-o", format, "--config", cfgPath)
		if code != 0 || !strings.Contains(out, "VersionStatus") || !strings.Contains(out, "build-backend") {
			t.Errorf("status -o %s: exit %d\n%s", format, code, out)
		}
	}

	out, code = runCLI(t, "history", "--config", cfgPath)
	t.Logf("history:\n%s", out)
	if first, second := strings.Index(out, "20261130T205900Z-v1.1.0"), strings.Index(out, "20261130T195900Z-v1.0.0"); code != 0 || first < 0 || second < first ||
		!strings.Contains(out, "RolledBack") {
		t.Errorf("history: exit %d, want the rollback first:\n%s", code, out)
	}
	out, code = runCLI(t, "history", "-o", "json", "--config", cfgPath)
	var h struct {
		History []status.HistoryEntry `json:"history"`
	}
	if err := json.Unmarshal([]byte(out), &h); code != 0 || err != nil || len(h.History) != 2 || h.History[0].Result != status.ResultRolledBack {
		t.Errorf("history -o json: exit %d, %v\n%s", code, err, out)
	}

	out, code = runCLI(t, "version")
	t.Logf("version:\n%s", out)
	if code != 0 || !strings.Contains(out, "Version:    v0.0.0-test") || !strings.Contains(out, "Go:         go") || strings.Contains(out, "development build") {
		t.Errorf("version: exit %d\n%s", code, out)
	}
	out, code = runCLI(t, "version", "-o", "json")
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || v.Version != "v0.0.0-test" || v.Dev || v.GoVersion == "" {
		t.Errorf("version -o json: exit %d, %v\n%s", code, err, out)
	}
}

// TestPlanKeepsTheReleaseCacheAsItIs: with releases from GitHub, plan asks
// GitHub when nothing is cached but writes no cache file; once check has
// cached an answer, plan reads it (no request within the TTL) and leaves
// the file as it was.
func TestPlanKeepsTheReleaseCacheAsItIs(t *testing.T) {
	var requests atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"v1"`)
		fmt.Fprint(w, `[{"id":2,"tag_name":"v1.1.0","name":"v1.1.0","draft":false,"prerelease":false,"published_at":"2026-11-01T00:00:00Z","assets":[]},`+
			`{"id":1,"tag_name":"v1.0.0","name":"v1.0.0","draft":false,"prerelease":false,"published_at":"2026-10-01T00:00:00Z","assets":[]}]`)
	}))
	defer api.Close()
	cfgPath, cfg := pendingHost(t, fmt.Sprintf("releases:\n  source: github\n  github:\n    apiURL: %s\n", api.URL))
	if out, code := runCLI(t, "repo", "set", "acme/app", "--config", cfgPath); code != 0 {
		t.Fatalf("repo set: %d %s", code, out)
	}
	if out, code := runCLI(t, "set", "latest", "--config", cfgPath); code != 0 {
		t.Fatalf("set latest: %d %s", code, out)
	}
	cache := filepath.Join(cfg.StateDir, "github-releases.json")
	state := treeDigests(t, cfg.StateDir)
	out, code := runCLI(t, "plan", "-o", "json", "--config", cfgPath)
	var p reconciler.Plan
	if err := json.Unmarshal([]byte(out), &p); code != 0 || err != nil || p.TargetVersion != "v1.1.0" || p.DesiredVersion != "latest" {
		t.Fatalf("plan: exit %d, %v\n%s", code, err, out)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("plan wrote the release cache: %v", err)
	}
	sameTrees(t, "state folder after a plan without a cache", state, treeDigests(t, cfg.StateDir))

	if out, code := runCLI(t, "check", "--config", cfgPath); code != exitUpdateAvailable {
		t.Fatalf("check: %d %s", code, out)
	}
	asked := requests.Load()
	state = treeDigests(t, cfg.StateDir)
	if state["github-releases.json"] == "" {
		t.Fatalf("check cached nothing: %v", state)
	}
	if out, code := runCLI(t, "plan", "--config", cfgPath); code != 0 || !strings.Contains(out, "Target:      v1.1.0") {
		t.Errorf("plan from the cache: exit %d\n%s", code, out)
	}
	if n := requests.Load(); n != asked {
		t.Errorf("plan asked GitHub %d times within the cache's TTL", n-asked)
	}
	sameTrees(t, "state folder after a plan from the cache", state, treeDigests(t, cfg.StateDir))
}

// TestShellCompletion: the shell's completion requests answer on a host
// without updater.yaml, and offer the output formats of -o.
func TestShellCompletion(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "none", "updater.yaml")
	out, code := runCLI(t, "__complete", "--config", missing, "")
	for _, want := range []string{"plan\t", "history\t", "version\t", "status\t"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completing a command: exit %d, want %q in:\n%s", code, want, out)
		}
	}
	out, code = runCLI(t, "__complete", "status", "--config", missing, "-o", "")
	if code != 0 || !strings.Contains(out, "text\nyaml\njson\n") {
		t.Errorf("completing -o: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !os.IsNotExist(err) {
		t.Errorf("completion created %s: %v", filepath.Dir(missing), err)
	}
	if out, code := runCLI(t, "completion", "bash"); code != 0 || !strings.Contains(out, "bash completion") {
		t.Errorf("completion bash: exit %d\n%.200s", code, out)
	}
}

// TestReadOnlyCommandsCreateNothingOnANewHost: plan, status and history on
// a host where the daemon never ran leave the state folder uncreated.
func TestReadOnlyCommandsCreateNothingOnANewHost(t *testing.T) {
	cfgPath, desiredFile := writeConfig(t)
	dir := filepath.Dir(cfgPath)
	ctx := context.Background()
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(dir, "origin.git"), sandbox.DefaultReleases())
	if err != nil {
		t.Fatal(err)
	}
	if err := sandbox.Clone(ctx, origin, filepath.Join(dir, "install"), "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, desiredFile, "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: v1.1.0\n")
	out, code := runCLI(t, "plan", "--config", cfgPath)
	t.Logf("plan on a new host:\n%s", out)
	if code != 0 || !strings.Contains(out, "State:       NothingInstalled") || !strings.Contains(out, "Rollback to: none: no version has passed its health check on this host yet") {
		t.Errorf("plan: exit %d\n%s", code, out)
	}
	for _, cmd := range []string{"status", "history"} {
		if out, code := runCLI(t, cmd, "--config", cfgPath); code != exitFailure || !strings.Contains(out, "no status yet") {
			t.Errorf("%s: exit %d\n%s", cmd, code, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Errorf("a read-only command created the state folder: %v", err)
	}
}
