package sandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestGitServerServesTheFleetRepo: commits of a FleetRepo are fetched
// over smart HTTP by git itself, each client's traffic is counted under
// its own prefix, and a stopped server refuses connections until it is
// started again on the same URL.
func TestGitServerServesTheFleetRepo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	root := filepath.Join(t.TempDir(), "git")
	repo, err := NewFleetRepo(ctx, filepath.Join(root, "fleet.git"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewGitServer(root)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	url := srv.URL("host-01", "fleet.git")

	// Before the first commit the repo has no branch.
	if refs, err := git(ctx, "", nil, "ls-remote", url); err != nil || refs != "" {
		t.Fatalf("ls-remote of the empty repo = %q, %v; want nothing", refs, err)
	}
	commit, err := repo.Commit(ctx, "first", map[string]string{"fleet/desired.yaml": "one\n", "hosts/host-01/desired.yaml": "mine\n"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Commit(ctx, "second", map[string]string{"hosts/host-01/desired.yaml": ""}); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	if _, err := git(ctx, "", nil, "clone", "--quiet", url, clone); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(clone, "fleet", "desired.yaml")); err != nil || string(b) != "one\n" {
		t.Errorf("fleet/desired.yaml over HTTP = %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(clone, "hosts", "host-01", "desired.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file committed as \"\" is still there: %v", err)
	}
	blob, err := repo.Blob(ctx, commit, "fleet/desired.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := git(ctx, clone, nil, "rev-parse", commit+":fleet/desired.yaml"); err != nil || got != blob {
		t.Errorf("Blob = %s, the clone says %s (%v)", blob, got, err)
	}
	if tr := srv.Traffic("host-01"); tr.Requests < 2 || tr.BytesOut == 0 || tr.BytesIn == 0 {
		t.Errorf("host-01's traffic = %+v, want the advertisement and the pack counted", tr)
	}
	if tr := srv.Traffic("host-02"); tr != (GitTraffic{}) {
		t.Errorf("host-02 fetched nothing, yet its traffic = %+v", tr)
	}

	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := git(ctx, "", nil, "ls-remote", url); err == nil {
		t.Fatal("ls-remote of a stopped server succeeded")
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if srv.URL("host-01", "fleet.git") != url {
		t.Fatalf("the URL changed across Stop and Start: %s, %s", url, srv.URL("host-01", "fleet.git"))
	}
	if refs, err := git(ctx, "", nil, "ls-remote", url, "refs/heads/main"); err != nil || refs == "" {
		t.Fatalf("ls-remote after Start = %q, %v", refs, err)
	}
	if _, err := repo.Commit(ctx, "escape", map[string]string{"../outside": "x"}); err == nil {
		t.Error("a path leaving the repo was committed")
	}
}

func TestProcessUsage(t *testing.T) {
	t.Parallel()
	u, err := ProcessUsage(os.Getpid())
	if runtime.GOOS != "linux" {
		if !errors.Is(err, ErrUsageUnsupported) {
			t.Fatalf("ProcessUsage on %s = %v, want ErrUsageUnsupported", runtime.GOOS, err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if u.CPU < 0 || u.PeakRSS < 1<<20 {
		t.Errorf("usage of this test = %+v: want CPU ≥ 0 and a peak RSS of at least 1 MiB", u)
	}
	if _, err := ProcessUsage(-1); err == nil {
		t.Error("usage of pid -1 read")
	}
}
