package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/reconciler"
)

// git runs git in dir with a fixed identity and no user configuration.
func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Fixture", "GIT_AUTHOR_EMAIL=fixture@example.invalid",
		"GIT_COMMITTER_NAME=Fixture", "GIT_COMMITTER_EMAIL=fixture@example.invalid")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestReleasesListsNewerReleasesWithNotes: the check of a real git remote
// (tags v1.0.0 to v1.2.0, annotated) answers the running version, the
// newest, and the releases from the running one up with their notes.
func TestReleasesListsNewerReleasesWithNotes(t *testing.T) {
	root := t.TempDir()
	work, origin, install := filepath.Join(root, "work"), filepath.Join(root, "origin.git"), filepath.Join(root, "install")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, work, "init", "-q", "--template=", "-b", "main")
	for _, tag := range []string{"v1.0.0", "v1.1.0", "v1.2.0"} {
		git(t, work, "commit", "-q", "--allow-empty", "-m", tag)
		git(t, work, "tag", "-a", tag, "-m", "Notes of "+tag+"\n\n- one thing")
	}
	git(t, root, "clone", "-q", "--template=", "--bare", work, origin)
	git(t, root, "clone", "-q", "--template=", origin, install)

	f := newFixture(t, fixtureOptions{install: install}) // status.yaml: v1.1.0 runs
	a := f.do(request{method: http.MethodGet, path: "/api/v1/releases?refresh=true", token: f.token})
	if a.code != http.StatusOK {
		t.Fatalf("releases: %d %s", a.code, a.body)
	}
	var res reconciler.CheckResult
	f.decode(a, &res)
	if res.CurrentVersion != "v1.1.0" || res.LatestVersion != "v1.2.0" || !res.UpdateAvailable || res.FetchedAt.IsZero() || !strings.Contains(res.Source, origin) {
		t.Errorf("check = %+v", res)
	}
	if len(res.Releases) != 2 || res.Releases[0].Version != "v1.2.0" || res.Releases[1].Version != "v1.1.0" ||
		res.Releases[0].Notes != "Notes of v1.2.0\n\n- one thing" || res.Releases[0].Name != "v1.2.0" || res.Releases[0].PublishedAt.IsZero() {
		t.Errorf("releases = %+v", res.Releases)
	}
	for _, field := range []string{`"version"`, `"name"`, `"publishedAt"`, `"url"`, `"notes"`, `"prerelease"`, `"fetchedAt"`, `"updateAvailable"`} {
		if !strings.Contains(string(a.body), field) {
			t.Errorf("answer lacks %s", field)
		}
	}
	if a := f.do(request{method: http.MethodGet, path: "/api/v1/releases?refresh=soon", token: f.token}); a.code != http.StatusBadRequest || a.errorCode() != "bad_request" {
		t.Errorf("refresh=soon: %d %s", a.code, a.body)
	}
}

// TestReleasesUnavailable: a check that cannot be made (installDir is no
// checkout) is 503 unavailable with the reason.
func TestReleasesUnavailable(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	a := f.do(request{method: http.MethodGet, path: "/api/v1/releases", token: f.token})
	if a.code != http.StatusServiceUnavailable || a.errorCode() != "unavailable" || !strings.Contains(string(a.body), "installDir") {
		t.Errorf("releases without a checkout: %d %s", a.code, a.body)
	}
}

// TestBackupsAnswersWhatBackupsListPrints: GET backups is
// reconciler.ListBackups, the JSON of `backups list -o json`.
func TestBackupsAnswersWhatBackupsListPrints(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	if err := os.MkdirAll(f.cfg.DataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.cfg.DataDir, "app.db"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Create(context.Background(), f.cfg.DataDir, f.cfg.BackupDir, "op-1"); err != nil {
		t.Fatal(err)
	}
	a := f.do(request{method: http.MethodGet, path: "/api/v1/backups", token: f.token})
	if a.code != http.StatusOK {
		t.Fatalf("backups: %d %s", a.code, a.body)
	}
	want, err := reconciler.ListBackups(context.Background(), f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	if strings.TrimSpace(string(a.body)) != string(wantJSON) {
		t.Errorf("backups:\n%s\nwant\n%s", a.body, wantJSON)
	}
	var got reconciler.BackupList
	f.decode(a, &got)
	if len(got.Backups) != 1 || got.Backups[0].ID != "op-1" || got.Backups[0].Files != 1 || got.Backups[0].Bytes != 4 || got.Replaced == nil {
		t.Errorf("backups = %+v", got)
	}
}
