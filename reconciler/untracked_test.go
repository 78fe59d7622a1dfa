package reconciler_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// backups counts the complete backups of the host.
func (h *host) backups() int {
	h.t.Helper()
	list, err := backup.List(h.cfg.BackupDir)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(list)
}

// TestUntrackedFileInTheWayStalls: a file someone left where the release
// adds a tracked one cannot go away by retrying. The update stalls naming
// the path to move, takes no backup per try (retention would prune the real
// history), and goes ahead once the file is moved.
func TestUntrackedFileInTheWayStalls(t *testing.T) {
	t.Parallel()
	h := newHost(t, good("v1.3.0"))
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	before := h.backups()
	// v1.3.0 adds backend/release_note.go; an admin's copy is in the way.
	blocker := filepath.Join(h.install, "backend", "release_note.go")
	mustWrite(t, blocker, "package main\n\n// my local experiment\n")

	h.set("v1.3.0")
	st := h.converge()
	c := st.Get(status.TypeStalled)
	if c == nil || c.Reason != reconciler.ReasonUntrackedInTheWay || !strings.Contains(c.Message, "backend/release_note.go") || !strings.Contains(c.Message, "retry") {
		t.Fatalf("Stalled = %+v, want %s naming backend/release_note.go and the way out", c, reconciler.ReasonUntrackedInTheWay)
	}
	if _, failed := st.Failure("v1.3.0"); failed {
		t.Errorf("the release was blamed for the host's file: %+v", st.FailedVersions)
	}
	h.serving("v1.1.0")
	if b, _ := os.ReadFile(blocker); !strings.Contains(string(b), "my local experiment") {
		t.Errorf("the file in the way was touched: %q", b)
	}
	first := h.backups()
	if first > before+1 {
		t.Errorf("%d backups for one refused update", first-before)
	}
	// Stalled means stalled: more reconciles take no backup and run no step.
	for range 3 {
		h.events = nil
		if _, err := h.r.Reconcile(h.ctx); err != nil {
			t.Fatalf("a stall is not an error to retry: %v", err)
		}
		if len(h.events) != 0 {
			t.Fatalf("steps ran while stalled: %v", h.events)
		}
	}
	if n := h.backups(); n != first {
		t.Errorf("backups grew from %d to %d while stalled", first, n)
	}

	// Moved away: the update goes ahead.
	if err := os.Rename(blocker, filepath.Join(h.install, "data", "release_note.go.mine")); err != nil {
		t.Fatal(err)
	}
	if st := h.converge(); !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.3.0" {
		t.Fatalf("after moving the file: %s, current %s", condition(st, status.TypeReady), st.CurrentVersion)
	}
	h.serving("v1.3.0")
}

// TestReleaseThatTracksDataIsRefused: a release whose repository tracks a
// file inside dataDir would have the checkout write the app's data; it is
// refused before the checkout, naming the file and the fix, and data/ is
// left as it was.
func TestReleaseThatTracksDataIsRefused(t *testing.T) {
	t.Parallel()
	// A release whose .gitignore stopped ignoring data/ and that commits a file there.
	h := newHost(t, isolated(sandbox.Release{Tag: "v1.3.0", Files: map[string]string{
		".gitignore":     "/server\n/server.*\n/frontend/dist*\n.env\nnode_modules/\n",
		"data/notes.txt": "the release's own notes\n",
	}}))
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	before := h.precious()
	h.set("v1.3.0")
	st := h.converge()
	c := st.Get(status.TypeStalled)
	if c == nil || c.Reason != reconciler.ReasonDataTracked || !strings.Contains(c.Message, "data/notes.txt") || !strings.Contains(c.Message, "git rm -r --cached") {
		t.Fatalf("Stalled = %+v, want %s naming data/notes.txt and the fix", c, reconciler.ReasonDataTracked)
	}
	if _, failed := st.Failure("v1.3.0"); failed {
		t.Errorf("recorded as a failed release: %+v", st.FailedVersions)
	}
	preserved(t, "data", before, h.precious())
	h.serving("v1.1.0")
	if h.head() != h.tagCommit("v1.1.0") {
		t.Errorf("HEAD moved: %s", h.head())
	}
}

// TestTrackedBackupPathIsRefused: an extra path in backup.paths is state
// the app writes beside data/, which a restore puts back; git must not
// track it, or a checkout would write it and a restore undo the checkout.
// An update is refused, before its backup, when the running version
// tracks one (backend/main.go) or the next starts tracking one
// (migrations/0001_init.sql), naming the path and the fix; the host
// stays as it was.
func TestTrackedBackupPathIsRefused(t *testing.T) {
	t.Parallel()
	h := newHost(t, isolated(sandbox.Release{Tag: "v1.3.0", Files: map[string]string{
		"migrations/0001_init.sql": "CREATE TABLE notes (id INTEGER);\n",
	}}))
	h.cfg.Backup.Paths = []string{".env", "migrations"}
	mustWrite(t, filepath.Join(h.install, "migrations", "0002_local.sql"), "ALTER TABLE notes ADD text TEXT;\n")
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	before := h.backups()

	stalls := func(version, path string) {
		t.Helper()
		h.set(version)
		st := h.converge()
		c := st.Get(status.TypeStalled)
		if c == nil || c.Reason != reconciler.ReasonDataTracked || !strings.Contains(c.Message, path) ||
			!strings.Contains(c.Message, "backup.paths") || !strings.Contains(c.Message, "git rm") {
			t.Fatalf("Stalled = %+v, want %s naming %s, backup.paths and the fix", c, reconciler.ReasonDataTracked, path)
		}
		if _, failed := st.Failure(version); failed {
			t.Errorf("recorded as a failed release: %+v", st.FailedVersions)
		}
		h.serving("v1.1.0")
		if h.head() != h.tagCommit("v1.1.0") {
			t.Errorf("HEAD moved: %s", h.head())
		}
		if n := h.backups(); n != before {
			t.Errorf("%d backups taken for a refused update", n-before)
		}
	}
	// The next version tracks a file in an extra path.
	stalls("v1.3.0", "migrations/0001_init.sql")
	if b, err := os.ReadFile(filepath.Join(h.install, "migrations", "0002_local.sql")); err != nil || !strings.Contains(string(b), "ALTER") {
		t.Errorf("the extra path was touched: %q, %v", b, err)
	}
	// The running version tracks the extra path itself.
	h.cfg.Backup.Paths = []string{"backend/main.go"}
	stalls("v1.2.0", "backend/main.go")
}
