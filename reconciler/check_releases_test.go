package reconciler_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// runGit runs git in dir with a fixed identity and no user configuration.
func runGit(t *testing.T, dir string, args ...string) {
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

// TestCheckListsNewerReleasesWithNotes: the check lists the running
// release and the newer ones of the channel, newest first, each with its
// annotated tag's message as notes, read from a local remote before the
// tags are fetched.
func TestCheckListsNewerReleasesWithNotes(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	work, origin, install := filepath.Join(root, "work"), filepath.Join(root, "origin.git"), filepath.Join(root, "install")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	runGit(t, work, "init", "-q", "--template=", "-b", "main")
	for _, tag := range []string{"v0.9.0", "v1.0.0"} {
		runGit(t, work, "commit", "-q", "--allow-empty", "-m", tag)
		runGit(t, work, "tag", "-a", tag, "-m", "Release "+tag)
	}
	runGit(t, root, "clone", "-q", "--template=", "--bare", work, origin)
	runGit(t, root, "clone", "-q", "--template=", origin, install)
	// Released after the install was cloned: only the remote has them.
	runGit(t, work, "commit", "-q", "--allow-empty", "-m", "next")
	runGit(t, work, "tag", "-a", "v1.1.0", "-m", "Faster backups\n\nHard links instead of copies.")
	runGit(t, work, "tag", "-a", "v2.0.0-rc.1", "-m", "A prerelease")
	runGit(t, work, "tag", "v1.2.0") // lightweight: no notes
	runGit(t, work, "push", "-q", origin, "--tags")

	state := filepath.Join(root, "state")
	cfg, err := config.Parse(filepath.Join(root, "updater.yaml"), []byte(fmt.Sprintf(`apiVersion: updates.better-paas.io/v1
kind: UpdaterConfig
installDir: %s
stateDir: %s
releases:
  source: git-tags
build:
  backend:
    command: ["go", "build", "-o", "$(OUTPUT)", "./backend"]
health:
  url: http://127.0.0.1:8080/api/health
`, install, state)))
	if err != nil {
		t.Fatal(err)
	}
	st := status.New()
	st.CurrentVersion = "v1.0.0"
	if err := status.Save(reconciler.StatusPath(cfg), st); err != nil {
		t.Fatal(err)
	}
	res, err := reconciler.Check(context.Background(), cfg, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Releases {
		got = append(got, fmt.Sprintf("%s %q %q %t", r.Version, r.Name, r.Notes, r.PublishedAt.IsZero()))
	}
	want := []string{
		`v1.2.0 "v1.2.0" "" true`,
		`v1.1.0 "v1.1.0" "Faster backups\n\nHard links instead of copies." false`,
		`v1.0.0 "v1.0.0" "Release v1.0.0" false`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("releases:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.LatestVersion != "v1.2.0" || !res.UpdateAvailable {
		t.Errorf("check = %+v", res)
	}
}
