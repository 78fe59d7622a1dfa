package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// storedMode is the mode a backup gives its copy of an entry whose
// recorded mode is recorded: the same without write bits.
func storedModeOf(t *testing.T, recorded string) string {
	t.Helper()
	bits, err := parseMode(recorded)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%04o", bits&^0o222)
}

// checkReadOnly fails unless every entry of backup b but its symlinks has
// the recorded mode minus its write bits, and the recorded mode is the
// source's (looked up in src when it still has the entry).
func checkReadOnly(t *testing.T, b Backup, src string) {
	t.Helper()
	m, err := manifest.Read(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !m.ReadOnly {
		t.Errorf("manifest of %s does not say its copies are read-only", b.ID)
	}
	for _, e := range m.Entries {
		if e.Type == manifest.TypeSymlink {
			continue
		}
		st, err := lstat(joinRel(b.Data, e.Path))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := modeString(st.mode), storedModeOf(t, e.Mode); got != want {
			t.Errorf("backup %s, %q (%s): mode %s, want %s (the recorded %s without write bits)", b.ID, e.Path, e.Type, got, want, e.Mode)
		}
		if sst, err := lstat(joinRel(src, e.Path)); err == nil && modeString(sst.mode) != e.Mode {
			t.Errorf("backup %s, %q: manifest records mode %s, the source has %s", b.ID, e.Path, e.Mode, modeString(sst.mode))
		}
	}
}

// Everything in a backup is read-only: files, folders, pipes and device
// nodes carry the recorded mode minus its write bits, whether copied by
// the hot pass, hard-linked from an earlier backup or staged by the cold
// pass. The manifest keeps the source's mode, so a restore gives the
// original modes back; Verify wants the read-only mode exactly, so a copy
// made writable again is reported.
func TestBackupCopiesAreReadOnly(t *testing.T) {
	trustCtimes(t)
	base, root := tempDir(t), tempDir(t)
	src := filepath.Join(base, "data")
	mustMkdir(t, src)
	buildTree(t, src)
	ctx := context.Background()
	b1, err := Create(ctx, src, root, "b1")
	if err != nil {
		t.Fatal(err)
	}
	checkReadOnly(t, b1, src)
	mustWrite(t, filepath.Join(src, "a", "b", "late.txt"), "written between the passes\n", 0o640)
	overwriteInPlace(t, filepath.Join(src, "secret.env"), "TOKEN=changed\n")
	ageTree(t, src)
	if b1, err = Finish(ctx, src, root, "b1"); err != nil {
		t.Fatal(err)
	}
	checkReadOnly(t, b1, src)
	b2, err := Create(ctx, src, root, "b2")
	if err != nil {
		t.Fatal(err)
	}
	if b2.Linked == 0 {
		t.Fatalf("second backup linked nothing: %+v", b2)
	}
	checkReadOnly(t, b2, src)
	if err := Verify(ctx, root, "b2"); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	want := snapshot(t, src)
	if _, err := Restore(ctx, root, "b2", src); err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, "restored data (modes included) differs from the data backed up", want, snapshot(t, src))

	// A copy made writable again, even with nothing else changed, is
	// reported.
	if err := os.Chmod(filepath.Join(b2.Data, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if err := Verify(ctx, root, "b2"); !errors.As(err, &ce) || ce.Path != "run.sh" || !strings.Contains(ce.Problem, "mode 0755, want 0555") {
		t.Errorf("Verify of a copy made writable = %v, want run.sh named with mode 0755, want 0555", err)
	}
}

// helperEnv makes the test binary, run again by TestEditorCannotOpenABackup
// CopyForWriting under another user, open the file it names for writing
// and report the result.
const helperEnv = "BACKUP_TEST_OPEN_FOR_WRITING"

func TestHelperOpenForWriting(t *testing.T) {
	p := os.Getenv(helperEnv)
	if p == "" {
		t.Skip("helper process only")
	}
	if _, err := os.ReadFile(p); err != nil {
		fmt.Printf("read: %v\n", err)
		return
	}
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		var errno syscall.Errno
		errors.As(err, &errno)
		fmt.Printf("write: %s\n", unix.ErrnoName(errno))
		return
	}
	f.Close()
	fmt.Println("write: opened")
}

// An editor, or sqlite3 folding its WAL back on close, run by the owner of
// a backup's copy, cannot open it for writing: EACCES. The copy is a hard
// link shared with other backups, so a write would change them all. Tests
// run as root here, where mode bits do not stop writes; the "editor" is
// then this test binary run again as the file's owner, an unprivileged
// user, which can read the copy but not open it for writing.
func TestEditorCannotOpenABackupCopyForWriting(t *testing.T) {
	const owner = 65534 // nobody
	base, root := tempDir(t), tempDir(t)
	src := filepath.Join(base, "data")
	mustMkdir(t, src)
	db := filepath.Join(src, "app.db")
	mustWrite(t, db, "SQLite format 3\x00", 0o644)
	if os.Geteuid() == 0 {
		if err := os.Chown(db, owner, owner); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Create(context.Background(), src, root, "b1")
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(b.Data, "app.db")
	if os.Geteuid() != 0 {
		f, err := os.OpenFile(copyPath, os.O_WRONLY, 0)
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, unix.EACCES) {
			t.Fatalf("opening a backup copy for writing as its owner: %v, want EACCES", err)
		}
		return
	}
	// The unprivileged user must reach the file and a copy of this test
	// binary: let it through every folder on the way (not those of the
	// backup's data/, whose modes are under test and let others search
	// them).
	bin := filepath.Join(tempDir(t), "backup.test")
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, from := range []string{b.Path, filepath.Dir(bin)} {
		for dir := from; dir != "/" && dir != filepath.Clean(os.TempDir()); dir = filepath.Dir(dir) {
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	cmd := exec.Command(bin, "-test.run=^TestHelperOpenForWriting$")
	cmd.Env = append(os.Environ(), helperEnv+"="+copyPath)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: owner, Gid: owner}}
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(err.Error(), "operation not permitted") {
		t.Skipf("cannot run a process as uid %d here: %v", owner, err)
	}
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "write: EACCES") {
		t.Errorf("the owner of a backup copy opening it for writing:\n%s\nwant EACCES", out)
	}
	st, err := os.Stat(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm()&0o222 != 0 || st.Sys().(*syscall.Stat_t).Uid != owner {
		t.Errorf("copy: %v, uid %d; want read-only and owned by %d", st.Mode(), st.Sys().(*syscall.Stat_t).Uid, owner)
	}
}

// An editor run by root (or sqlite3 folding its WAL back) makes a copy
// writable and changes it in place. The copy is a hard link shared by
// every backup since, so they all change: Verify of each names every
// changed file, with its mode change and its content change, not just the
// first. The message lists at most 20 paths; the error holds them all.
func TestVerifyNamesEveryFileChangedInPlace(t *testing.T) {
	trustCtimes(t)
	src, root := tempDir(t), tempDir(t)
	writeFiles(t, src, 30)
	ctx := context.Background()
	for _, id := range []string{"b1", "b2"} {
		if _, err := Create(ctx, src, root, id); err != nil {
			t.Fatal(err)
		}
		if _, err := Finish(ctx, src, root, id); err != nil {
			t.Fatal(err)
		}
	}
	b2 := filepath.Join(root, "b2", DataDir)
	if inode(t, filepath.Join(b2, "f00")) != inode(t, filepath.Join(root, "b1", DataDir, "f00")) {
		t.Fatal("the backups do not share their unchanged files")
	}
	const changed = 25
	var want []string
	for i := range changed {
		name := fmt.Sprintf("f%02d", i)
		p := filepath.Join(b2, name)
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		// The same length: only the hash can tell.
		overwriteInPlace(t, p, strings.ToUpper(mustRead(t, p)))
		want = append(want, name)
	}
	for _, id := range []string{"b1", "b2"} {
		err := Verify(ctx, root, id)
		var ce *CorruptError
		if !errors.As(err, &ce) {
			t.Fatalf("Verify(%s) = %v, want a CorruptError", id, err)
		}
		msg := err.Error()
		for _, name := range want[:20] {
			if !strings.Contains(msg, fmt.Sprintf("%q", name)) {
				t.Errorf("Verify(%s): the message does not name %s: %s", id, name, msg)
			}
		}
		if !strings.Contains(msg, "and 5 more") || strings.Contains(msg, `"f20"`) {
			t.Errorf("Verify(%s): the message should list 20 paths and say \"and 5 more\": %s", id, msg)
		}
		var got []string
		for _, bad := range ce.Mismatches {
			got = append(got, bad.Path)
			for _, p := range []string{"mode 0644, want 0444", "sha256"} {
				if !strings.Contains(bad.Problem, p) {
					t.Errorf("Verify(%s), %s: %q does not say %q", id, bad.Path, bad.Problem, p)
				}
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("Verify(%s) names %v, want %v", id, got, want)
		}
	}
}

// A backup from before copies were read-only (writable copies, no
// readOnly in its manifest) still verifies, and a new backup still links
// to its copies: the link makes them read-only, which the old backup's
// Verify accepts too.
func TestBackupFromBeforeReadOnlyCopies(t *testing.T) {
	trustCtimes(t)
	src, root := tempDir(t), tempDir(t)
	writeFiles(t, src, 5)
	ctx := context.Background()
	old, err := Create(ctx, src, root, "old")
	if err != nil {
		t.Fatal(err)
	}
	// As the code before wrote it: the recorded modes, no readOnly.
	m, err := manifest.Read(old.Path)
	if err != nil {
		t.Fatal(err)
	}
	m.ReadOnly = false
	for _, e := range m.Entries {
		if err := setPathMeta(joinRel(old.Data, e.Path), &e, m.Owners, asRecorded); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Write(old.Path); err != nil {
		t.Fatal(err)
	}
	if err := Verify(ctx, root, "old"); err != nil {
		t.Fatalf("Verify of a backup with writable copies: %v", err)
	}
	b, err := Create(ctx, src, root, "new")
	if err != nil {
		t.Fatal(err)
	}
	if b.Linked != 5 || b.Copied != 0 {
		t.Errorf("Create on an old base: %d linked, %d copied; want 5 linked", b.Linked, b.Copied)
	}
	checkReadOnly(t, b, src)
	for _, id := range []string{"old", "new"} {
		if err := Verify(ctx, root, id); err != nil {
			t.Errorf("Verify(%s): %v", id, err)
		}
	}
	if st, err := lstat(filepath.Join(old.Data, "f00")); err != nil || modeString(st.mode) != "0444" {
		t.Errorf("old copy of f00: mode %s (%v), want 0444 once linked", modeString(st.mode), err)
	}
	// A copy of an old backup made writable again (or left so) passes;
	// one with another mode does not.
	if err := os.Chmod(filepath.Join(old.Data, "f01"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	if err := Verify(ctx, root, "old"); !errors.As(err, &ce) || ce.Path != "f01" || !strings.Contains(ce.Problem, "mode 0600, manifest says 0644 (or 0444, read-only)") {
		t.Errorf("Verify(old) after chmod 0600 = %v", err)
	}
}
