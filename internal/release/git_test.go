package release

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func gitRun(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestReadCheckout(t *testing.T) {
	dir := t.TempDir()
	gitRun(t, dir, nil, "init", "-q")
	os.WriteFile(filepath.Join(dir, "a.go"), []byte("package a\n"), 0o644)
	os.WriteFile(filepath.Join(dir, ".gitignore"), []byte("dist/\n"), 0o644)
	gitRun(t, dir, nil, "add", ".")
	date := []string{"GIT_COMMITTER_DATE=2026-11-29T10:00:00+02:00", "GIT_AUTHOR_DATE=2026-11-01T00:00:00Z",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
	gitRun(t, dir, date, "commit", "-q", "-m", "one")
	head := gitRun(t, dir, nil, "rev-parse", "HEAD")

	c, err := ReadCheckout(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Commit != head || !c.Time.Equal(time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)) || c.Time.Location() != time.UTC || len(c.Changes) != 0 {
		t.Errorf("clean checkout: %+v, want commit %s at 08:00 UTC (the committer's time)", c, head)
	}

	// Ignored files are no change; untracked and modified ones are.
	os.MkdirAll(filepath.Join(dir, "dist"), 0o755)
	os.WriteFile(filepath.Join(dir, "dist", "x"), []byte("x"), 0o644)
	if c, _ = ReadCheckout(context.Background(), dir); len(c.Changes) != 0 {
		t.Errorf("ignored dist/ counted as a change: %q", c.Changes)
	}
	os.WriteFile(filepath.Join(dir, "a.go"), []byte("package b\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "new.go"), []byte("package a\n"), 0o644)
	c, err = ReadCheckout(context.Background(), dir)
	if err != nil || strings.Join(c.Changes, ",") != " M a.go,?? new.go" {
		t.Errorf("changes %q (%v), want a.go modified and new.go untracked", c.Changes, err)
	}

	if _, err := ReadCheckout(context.Background(), t.TempDir()); err == nil || !strings.Contains(err.Error(), "git checkout") {
		t.Errorf("not a checkout: %v", err)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	got, err := SourceDateEpoch("1764500000")
	if err != nil || !got.Equal(time.Unix(1764500000, 0)) || got.Location() != time.UTC {
		t.Errorf("SourceDateEpoch = %v, %v", got, err)
	}
	for _, bad := range []string{"", "x", "-1", "1.5"} {
		if _, err := SourceDateEpoch(bad); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
			t.Errorf("SourceDateEpoch(%q): %v", bad, err)
		}
	}
}
