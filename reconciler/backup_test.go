package reconciler_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// TestBackupsAreIncrementalConsistentAndRestorable: each update backs up
// data/ incrementally (unchanged files hard-linked to the previous backup,
// never to the live file), finishes it while the service is stopped, and a
// backup can be verified and restored without losing the data it replaces.
func TestBackupsAreIncrementalConsistentAndRestorable(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.set("v1.0.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("setup: %s", condition(st, status.TypeReady))
	}
	mustWrite(t, filepath.Join(h.install, "data", "later.txt"), "written by v1.0.0\n")
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("update: %s", condition(st, status.TypeReady))
	}

	list, err := backup.List(h.cfg.BackupDir)
	if err != nil || len(list) != 2 {
		t.Fatalf("backups = %+v, %v; want one per update", list, err)
	}
	first, second := list[0], list[1]
	if second.Base != first.ID || second.FinishedAt.IsZero() {
		t.Errorf("second backup: base %q (want %q), finished %v", second.Base, first.ID, second.FinishedAt)
	}
	photo := filepath.Join("uploads", "photo.jpg")
	if inode(t, filepath.Join(second.Data, photo)) != inode(t, filepath.Join(first.Data, photo)) {
		t.Error("an unchanged file was copied again instead of hard-linked to the previous backup")
	}
	if inode(t, filepath.Join(second.Data, photo)) == inode(t, filepath.Join(h.install, "data", photo)) {
		t.Error("a backup shares its file with the live data")
	}
	if b, _ := os.ReadFile(filepath.Join(second.Data, "later.txt")); string(b) != "written by v1.0.0\n" {
		t.Errorf("a file written since the first backup is missing from the second: %q", b)
	}
	if err := backup.Verify(h.ctx, h.cfg.BackupDir, second.ID); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	// A user deletes and damages data; the backup brings it back, with
	// the modes the files had (the copies in a backup are read-only).
	inBackup := snapshot(t, second.Data)
	modes := snapshot(t, filepath.Join(h.install, "data"))
	os.Remove(filepath.Join(h.install, "data", "notes.txt"))
	mustWrite(t, filepath.Join(h.install, "data", photo), "damaged")
	res, err := h.r.RestoreBackup(h.ctx, second.ID, false)
	if err != nil {
		t.Fatalf("RestoreBackup: %v", err)
	}
	restored := snapshot(t, filepath.Join(h.install, "data"))
	for p, entry := range inBackup {
		got := restored[p]
		if _, sum, _ := strings.Cut(entry, ":"); !strings.HasPrefix(entry, "dir:") && !strings.HasSuffix(got, ":"+sum) {
			t.Errorf("restored data: %s is %q, the backup holds %q", p, got, entry)
		}
		if want, _, _ := strings.Cut(modes[p], ":"); p != "." && want != "" && !strings.HasPrefix(got, want+":") {
			t.Errorf("restored data: %s has mode %q, it had %q", p, got, want)
		}
	}
	replaced := res.Data
	if b, _ := os.ReadFile(filepath.Join(replaced, photo)); string(b) != "damaged" {
		t.Errorf("the replaced data was not kept: %q", b)
	}
	h.serving("v1.1.0")

	// Verify notices a flipped byte.
	target := filepath.Join(second.Data, "later.txt")
	os.Chmod(target, 0o644)
	if err := os.WriteFile(target, []byte("written by v1.0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := backup.Verify(h.ctx, h.cfg.BackupDir, second.ID); !errors.Is(err, backup.ErrCorrupt) {
		t.Errorf("Verify of a damaged backup = %v, want ErrCorrupt", err)
	}
}

// TestRestoreBackupBringsBackBackupPaths: the extra paths of backup.paths
// (.env, a file; migrations/, a folder) are in every update's backup,
// finished while the service is stopped, and `backups restore` brings
// them back with data/, keeping what it replaced beside each.
func TestRestoreBackupBringsBackBackupPaths(t *testing.T) {
	t.Parallel()
	h := newHost(t)
	h.cfg.Backup.Paths = []string{".env", "migrations"}
	mustWrite(t, filepath.Join(h.install, "migrations", "0001_local.sql"), "CREATE TABLE notes (id INTEGER);\n")
	h.set("v1.1.0")
	if st := h.converge(); !st.IsTrue(status.TypeReady) {
		t.Fatalf("update: %s", condition(st, status.TypeReady))
	}
	list, err := backup.List(h.cfg.BackupDir)
	if err != nil || len(list) != 1 {
		t.Fatalf("backups = %+v, %v; want one", list, err)
	}
	b := list[0]
	if strings.Join(b.Paths, " ") != ".env migrations" || b.FinishedAt.IsZero() {
		t.Fatalf("backup holds extra paths %q, finished %v; want .env and migrations, finished", b.Paths, b.FinishedAt)
	}
	if got, _ := os.ReadFile(b.PathCopy(".env")); string(got) != "SECRET=1\n" {
		t.Errorf("backup of .env = %q", got)
	}
	if err := backup.Verify(h.ctx, h.cfg.BackupDir, b.ID); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	// The app rewrites .env and loses a migration.
	mustWrite(t, filepath.Join(h.install, ".env"), "SECRET=2\n")
	if err := os.Remove(filepath.Join(h.install, "migrations", "0001_local.sql")); err != nil {
		t.Fatal(err)
	}
	res, err := h.r.RestoreBackup(h.ctx, b.ID, false)
	if err != nil {
		t.Fatalf("RestoreBackup: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(h.install, ".env")); string(got) != "SECRET=1\n" {
		t.Errorf("restored .env = %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(h.install, "migrations", "0001_local.sql")); !strings.Contains(string(got), "CREATE TABLE") {
		t.Errorf("restored migration = %q", got)
	}
	if len(res.Paths) != 2 {
		t.Fatalf("restored paths = %+v, want .env and migrations", res.Paths)
	}
	for _, p := range res.Paths {
		if p.Replaced == "" {
			t.Errorf("%s: the replaced one was not kept: %+v", p.Path, p)
		}
	}
	if got, _ := os.ReadFile(res.Paths[0].Replaced); res.Paths[0].Path != ".env" || string(got) != "SECRET=2\n" {
		t.Errorf("replaced .env kept as %+v holding %q", res.Paths[0], got)
	}
	if msg := reconciler.RestoreSummary(h.cfg, b.ID, res); !strings.Contains(msg, res.Paths[1].Replaced) {
		t.Errorf("summary %q does not say where the replaced migrations are", msg)
	}
	h.serving("v1.1.0")
}
