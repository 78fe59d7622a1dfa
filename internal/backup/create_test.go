package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/backup/manifest"
)

func TestCreateCopiesTreeFaithfullyAndLeavesSourceAlone(t *testing.T) {
	src, root := filepath.Join(tempDir(t), "data"), filepath.Join(tempDir(t), "backups")
	mustMkdir(t, src)
	buildTree(t, src)
	before := snapshot(t, src)

	b, err := Create(context.Background(), src, root, "v1.2.3-20240101")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}

	assertSameTree(t, "source changed", before, snapshot(t, src))
	assertSameTree(t, "backup differs from source (write bits aside)", stored(t, src), snapshot(t, b.Data))
	if b.ID != "v1.2.3-20240101" || b.Path != filepath.Join(root, b.ID) || b.Data != filepath.Join(root, b.ID, DataDir) {
		t.Errorf("Backup = %+v", b)
	}
	if b.Files != 11 || b.Copied != 11 || b.Linked != 0 || b.Base != "" {
		t.Errorf("Files %d Copied %d Linked %d Base %q, want 11 files copied and no base", b.Files, b.Copied, b.Linked, b.Base)
	}
	if time.Since(b.CreatedAt) > time.Minute || b.CreatedAt.Location() != time.UTC || !b.FinishedAt.IsZero() {
		t.Errorf("CreatedAt = %v, FinishedAt = %v: want a recent UTC time and no cold pass", b.CreatedAt, b.FinishedAt)
	}
	if got := dirNames(t, root); !reflect.DeepEqual(got, []string{b.ID}) {
		t.Errorf("root holds %v, want only the backup", got)
	}

	m, err := manifest.Read(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	specials := 1
	if canMknodDevice(t) {
		specials = 2
	}
	wantTotals := manifest.Totals{Files: 11, Dirs: 7, Symlinks: 4, Specials: specials, Skipped: 1, Bytes: b.Bytes}
	if m.Totals != wantTotals {
		t.Errorf("Totals = %+v, want %+v", m.Totals, wantTotals)
	}
	if len(m.Skipped) != 1 || m.Skipped[0].Path != "app.sock" || !strings.Contains(m.Skipped[0].Reason, "socket") {
		t.Errorf("Skipped = %+v, want app.sock as a socket", m.Skipped)
	}
	if m.Kind != manifest.Kind || m.Version != manifest.Version || m.ID != b.ID || m.Source != src || m.SourceMissing || m.Owners != (os.Geteuid() == 0) {
		t.Errorf("manifest header = %+v", m)
	}
	entries := map[string]manifest.Entry{}
	for _, e := range m.Entries {
		entries[e.Path] = e
	}
	sum := sha256.Sum256([]byte("TOKEN=not-really\n"))
	checks := map[string]manifest.Entry{
		"secret.env": {Type: manifest.TypeFile, Size: 17, Mode: "0600", SHA256: hex.EncodeToString(sum[:])},
		"suid":       {Type: manifest.TypeFile, Size: 7, Mode: "4755"},
		"a/b":        {Type: manifest.TypeDir, Mode: "0750"},
		"sticky":     {Type: manifest.TypeDir, Mode: "1777"},
		"a/dangling": {Type: manifest.TypeSymlink, Mode: "0777", Target: "../../nowhere"},
		"a/pipe":     {Type: manifest.TypeFIFO, Mode: "0640"},
		nameBinary:   {Type: manifest.TypeFile, Size: 9, Mode: "0640"},
		"odd-link":   {Type: manifest.TypeSymlink, Mode: "0777", Target: "\xff-target\nwith newline"},
		".":          {Type: manifest.TypeDir, Mode: "0755"},
	}
	for p, w := range checks {
		g, ok := entries[p]
		if !ok {
			t.Errorf("manifest has no entry %q", p)
			continue
		}
		if g.Type != w.Type || g.Size != w.Size || g.Mode != w.Mode || g.Target != w.Target || (w.SHA256 != "" && g.SHA256 != w.SHA256) {
			t.Errorf("entry %q = %+v, want %+v", p, g, w)
		}
	}
	if len(m.Entries) != 11+7+4+specials {
		t.Errorf("manifest has %d entries, want %d", len(m.Entries), 11+7+4+specials)
	}
	if err := Verify(context.Background(), root, b.ID); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestCreateIsIdempotent(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	mustWrite(t, filepath.Join(src, "db"), "v1", 0o644)
	first, err := Create(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(first.Data, "db")
	ino, manifestIno := inode(t, copied), inode(t, filepath.Join(first.Path, ManifestName))

	mustWrite(t, filepath.Join(src, "db"), "v2", 0o644) // must not leak into the existing backup
	second, err := Create(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(second, first) {
		t.Errorf("second Create = %+v, want %+v", second, first)
	}
	if got := inode(t, copied); got != ino {
		t.Errorf("copied file was rewritten: inode %d -> %d", ino, got)
	}
	if got := inode(t, filepath.Join(first.Path, ManifestName)); got != manifestIno {
		t.Errorf("manifest was rewritten: inode %d -> %d", manifestIno, got)
	}
	if got := mustRead(t, copied); got != "v1" {
		t.Errorf("backup content = %q, want v1", got)
	}
}

func TestCreateRedoesLeftoverPartial(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	mustWrite(t, filepath.Join(src, "db"), "live", 0o644)
	partial := filepath.Join(root, ".u1"+partialSuffix)
	mustMkdir(t, filepath.Join(partial, DataDir, "half"))
	mustWrite(t, filepath.Join(partial, DataDir, "db"), "torn", 0o644)
	if err := os.Chmod(filepath.Join(partial, DataDir, "half"), 0o500); err != nil {
		t.Fatal(err)
	}

	b, err := Create(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, root); !reflect.DeepEqual(got, []string{"u1"}) {
		t.Errorf("root holds %v, want only u1", got)
	}
	if got := dirNames(t, b.Data); !reflect.DeepEqual(got, []string{"db"}) {
		t.Errorf("backup holds %v, want only db", got)
	}
	if got := mustRead(t, filepath.Join(b.Data, "db")); got != "live" {
		t.Errorf("backup content = %q, want live", got)
	}
}

func TestCreateMissingSourceIsEmptyBackup(t *testing.T) {
	root := tempDir(t)
	b, err := Create(context.Background(), filepath.Join(tempDir(t), "absent"), root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if b.Files != 0 || b.Bytes != 0 {
		t.Errorf("Backup = %+v, want empty", b)
	}
	m, err := manifest.Read(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !m.SourceMissing || len(m.Entries) != 0 {
		t.Errorf("manifest = %+v, want sourceMissing and no entries", m)
	}
	if got := dirNames(t, b.Data); len(got) != 0 {
		t.Errorf("data holds %v, want nothing", got)
	}
	if err := Verify(context.Background(), root, "u1"); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestCreateRejects(t *testing.T) {
	base := tempDir(t)
	src := filepath.Join(base, "data")
	mustMkdir(t, src)
	file := filepath.Join(base, "file")
	mustWrite(t, file, "x", 0o644)
	root := filepath.Join(base, "backups")
	foreign := filepath.Join(root, "foreign")
	mustMkdir(t, foreign)

	tests := []struct {
		name, src, root, id string
		want                error
	}{
		{"empty id", src, root, "", ErrInvalidID},
		{"slash", src, root, "a/b", ErrInvalidID},
		{"dot-dot", src, root, "..", ErrInvalidID},
		{"leading dot", src, root, ".hidden", ErrInvalidID},
		{"newline", src, root, "a\nb", ErrInvalidID},
		{"too long", src, root, strings.Repeat("x", 201), ErrInvalidID},
		{"source is a file", file, root, "u1", ErrSourceNotFolder},
		{"root inside source", src, filepath.Join(src, "backups"), "u1", ErrRootInsideSource},
		{"root is source", src, src, "u1", ErrRootInsideSource},
		{"folder without manifest", src, root, "foreign", ErrIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Create(context.Background(), tt.src, tt.root, tt.id)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if got := dirNames(t, src); len(got) != 0 {
		t.Errorf("source gained %v", got)
	}
	if got := dirNames(t, root); !reflect.DeepEqual(got, []string{"foreign"}) {
		t.Errorf("root holds %v, want only the untouched foreign folder", got)
	}
}

// A full disk in the middle of a backup leaves nothing that counts, and
// once there is space the same ID succeeds.
func TestCreateDiskFullLeavesNoBackup(t *testing.T) {
	for _, size := range []struct {
		name  string
		file  string
		data  string
		limit int
	}{
		{"small file", "a/top.db", "", 1000},
		{"big file (O_DIRECT path)", "big.bin", strings.Repeat("0123456789abcdef", directMin/16+100), 1 << 20},
	} {
		t.Run(size.name, func(t *testing.T) {
			src, root := tempDir(t), tempDir(t)
			buildTree(t, src)
			if size.data != "" {
				mustWrite(t, filepath.Join(src, size.file), size.data, 0o644)
			}
			setWriterHook(t, func(rel string, w io.Writer) io.Writer {
				if rel == size.file {
					return &failingWriter{w: w, limit: size.limit}
				}
				return w
			})

			_, err := Create(context.Background(), src, root, "u1")
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("err = %v, want ENOSPC", err)
			}
			if !strings.Contains(err.Error(), filepath.Base(size.file)) {
				t.Errorf("error %q does not name the file", err)
			}
			if got := dirNames(t, root); len(got) != 0 {
				t.Errorf("root holds %v after a failed backup, want nothing", got)
			}
			if list, err := List(root); err != nil || len(list) != 0 {
				t.Errorf("List = %v, %v; want none", list, err)
			}

			testHookWriter = nil // the disk has space again: the same ID now succeeds
			if _, err := Create(context.Background(), src, root, "u1"); err != nil {
				t.Fatalf("retry: %v", err)
			}
			if err := Verify(context.Background(), root, "u1"); err != nil {
				t.Fatalf("Verify after retry: %v", err)
			}
		})
	}
}

func TestCreateCancelledMidCopyLeavesNoPartial(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	for d := 0; d < 10; d++ {
		writeFiles(t, filepath.Join(src, fmt.Sprint("d", d)), 100)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var written, afterCancel atomic.Int64
	var partialSeen, cancelled atomic.Bool
	setWriterHook(t, func(rel string, w io.Writer) io.Writer {
		if cancelled.Load() {
			afterCancel.Add(1)
		}
		if written.Add(1) == 250 {
			// The partial backup exists while files are being copied
			// (which folders of it exist yet depends on the workers).
			_, err := os.Stat(filepath.Join(root, ".u1"+partialSuffix, DataDir))
			partialSeen.Store(err == nil)
			cancel()
			cancelled.Store(true)
		}
		return w
	})

	_, err := Create(ctx, src, root, "u1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if !partialSeen.Load() {
		t.Error("cancellation did not happen mid-copy: no partial folder at file 250")
	}
	// Workers that had already opened a file when the context was
	// cancelled may start writing it; nothing else may start.
	if n := afterCancel.Load(); n > int64(workerCount) {
		t.Errorf("copy went on for %d files after cancel at 250", n)
	}
	if got := dirNames(t, root); len(got) != 0 {
		t.Errorf("root holds %v after cancel, want nothing", got)
	}
}

func TestCreateAlreadyCancelled(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	mustWrite(t, filepath.Join(src, "db"), "x", 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Create(ctx, src, root, "u1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if got := dirNames(t, root); len(got) != 0 {
		t.Errorf("root holds %v, want nothing", got)
	}
}

// A live app deletes files while the hot pass runs: the pass meets an
// entry that is gone between the listing and its stat, a folder that is
// gone before it is listed, and a file that is gone before it is opened.
func TestCreateSkipsEntriesThatVanish(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	mustWrite(t, filepath.Join(src, "a"), "stays", 0o644)
	mustWrite(t, filepath.Join(src, "b"), "goes before its stat", 0o644)
	mustMkdir(t, filepath.Join(src, "c", "sub"))
	mustWrite(t, filepath.Join(src, "c", "sub", "f"), "goes", 0o644)
	mustWrite(t, filepath.Join(src, "d"), "stays", 0o644)
	mustWrite(t, filepath.Join(src, "f"), "goes before it is opened", 0o644)
	setVisitHook(t, func(rel string) {
		var err error
		switch rel {
		case "a": // the root is listed, its entries not yet stat'ed
			err = os.Remove(filepath.Join(src, "b"))
		case "c": // c is listed as a folder and about to be listed itself
			err = os.RemoveAll(filepath.Join(src, "c"))
		}
		if err != nil {
			t.Error(err)
		}
	})
	setWriterHook(t, func(rel string, w io.Writer) io.Writer {
		if rel == "d" { // the root's files are copied in order: f is next
			if err := os.Remove(filepath.Join(src, "f")); err != nil {
				t.Error(err)
			}
		}
		return w
	})

	b, err := Create(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	m, err := manifest.Read(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	skipped := map[string]string{}
	for _, s := range m.Skipped {
		skipped[s.Path] = s.Reason
	}
	if len(skipped) != 3 || skipped["b"] != reasonVanished || skipped["c"] != reasonVanished || skipped["f"] != reasonVanished {
		t.Errorf("Skipped = %+v, want b, c and f vanished", m.Skipped)
	}
	if got := mustRead(t, filepath.Join(b.Data, "a")) + mustRead(t, filepath.Join(b.Data, "d")); got != "staysstays" {
		t.Errorf("a and d = %q", got)
	}
	for _, gone := range []string{"b", "c", "f"} {
		if _, err := os.Lstat(filepath.Join(b.Data, gone)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is in the backup: %v", gone, err)
		}
	}
	if err := Verify(context.Background(), root, "u1"); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

func TestCreateFollowsSymlinkedSourceRootOnly(t *testing.T) {
	base := tempDir(t)
	volume := filepath.Join(base, "volume")
	mustMkdir(t, volume)
	mustWrite(t, filepath.Join(volume, "db"), "x", 0o644)
	mustSymlink(t, "db", filepath.Join(volume, "link"))
	src := filepath.Join(base, "data")
	mustSymlink(t, volume, src)
	b, err := Create(context.Background(), src, filepath.Join(base, "backups"), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if b.Files != 1 {
		t.Errorf("Files = %d, want 1 (the symlinked data folder is followed)", b.Files)
	}
	if target, err := os.Readlink(filepath.Join(b.Data, "link")); err != nil || target != "db" {
		t.Errorf("link inside = %q, %v; want it kept as a symlink", target, err)
	}
}

// The incremental backup copies only what changed and hard-links the rest
// to the previous backup's copies.
func TestCreateIncrementalCopiesOnlyChangedFiles(t *testing.T) {
	trustCtimes(t)
	src, root := tempDir(t), tempDir(t)
	writeFiles(t, filepath.Join(src, "docs"), 20)
	mustMkdir(t, filepath.Join(src, "empty"))
	first, err := Create(context.Background(), src, root, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if first.Copied != 20 || first.Linked != 0 {
		t.Fatalf("first backup: Copied %d Linked %d, want 20 and 0", first.Copied, first.Linked)
	}

	overwriteInPlace(t, filepath.Join(src, "docs", "f03"), "changed, and longer than before\n")
	mustWrite(t, filepath.Join(src, "docs", "f07"), "replaced\n", 0o644)
	mustWrite(t, filepath.Join(src, "docs", "new"), "new file\n", 0o644)
	if err := os.Remove(filepath.Join(src, "docs", "f11")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "docs", "f12"), 0o600); err != nil { // metadata only
		t.Fatal(err)
	}

	second, err := Create(context.Background(), src, root, "b2")
	if err != nil {
		t.Fatal(err)
	}
	if second.Copied != 4 || second.Linked != 16 || second.Hashed != 0 || second.Base != "b1" || second.Files != 20 {
		t.Errorf("incremental: Copied %d Linked %d Hashed %d Base %q Files %d; want 4 copied (f03 f07 f12 new), 16 linked, 0 hashed, base b1, 20 files",
			second.Copied, second.Linked, second.Hashed, second.Base, second.Files)
	}
	for i := range 20 {
		name := fmt.Sprintf("docs/f%02d", i)
		if i == 11 {
			continue
		}
		inFirst, inSecond, live := filepath.Join(first.Data, name), filepath.Join(second.Data, name), filepath.Join(src, name)
		linked := inode(t, inFirst) == inode(t, inSecond)
		if want := i != 3 && i != 7 && i != 12; linked != want {
			t.Errorf("%s shared with the previous backup: %v, want %v", name, linked, want)
		}
		if inode(t, inSecond) == inode(t, live) {
			t.Errorf("%s in the backup is the live file", name)
		}
	}
	assertSameTree(t, "second backup differs from source", stored(t, src), snapshot(t, second.Data))
	for _, id := range []string{"b1", "b2"} {
		if err := Verify(context.Background(), root, id); err != nil {
			t.Errorf("Verify %s: %v", id, err)
		}
	}

	third, err := Create(context.Background(), src, root, "b3")
	if err != nil {
		t.Fatal(err)
	}
	if third.Copied != 0 || third.Linked != 20 || third.Base != "b2" {
		t.Errorf("nothing changed: Copied %d Linked %d Base %q, want 0, 20, b2", third.Copied, third.Linked, third.Base)
	}
}

// A write to the live file after a backup never reaches the backup, also
// when the backup hard-links an earlier backup's copy.
func TestLiveWritesNeverReachBackups(t *testing.T) {
	trustCtimes(t)
	src, root := tempDir(t), tempDir(t)
	live := filepath.Join(src, "db")
	mustWrite(t, live, "version one\n", 0o644)
	if _, err := Create(context.Background(), src, root, "b1"); err != nil {
		t.Fatal(err)
	}
	b2, err := Create(context.Background(), src, root, "b2")
	if err != nil {
		t.Fatal(err)
	}
	if b2.Linked != 1 {
		t.Fatalf("b2 Linked = %d, want the file linked to b1's copy", b2.Linked)
	}
	if inode(t, filepath.Join(b2.Data, "db")) == inode(t, live) {
		t.Fatal("the backup links the live file")
	}

	overwriteInPlace(t, live, "version two, written in place\n")

	for _, id := range []string{"b1", "b2"} {
		if got := mustRead(t, filepath.Join(root, id, DataDir, "db")); got != "version one\n" {
			t.Errorf("%s holds %q after a live write, want the backed-up content", id, got)
		}
		if err := Verify(context.Background(), root, id); err != nil {
			t.Errorf("Verify %s: %v", id, err)
		}
	}
}

// When a file's inode or ctime no longer vouch for it, the hash decides:
// same content is linked (read, not written), different content copied.
func TestCreateComparesHashWhenInDoubt(t *testing.T) {
	trustCtimes(t)
	src, root := tempDir(t), tempDir(t)
	mtime := time.Date(2022, 1, 2, 3, 4, 5, 6, time.UTC)
	for _, name := range []string{"same", "differs"} {
		mustWrite(t, filepath.Join(src, name), "original content\n", 0o644)
		if err := os.Chtimes(filepath.Join(src, name), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Create(context.Background(), src, root, "b1"); err != nil {
		t.Fatal(err)
	}
	// A restore or a copy tool rewrites the files as new inodes with the
	// old mtime; one of them with other content of the same size.
	for name, content := range map[string]string{"same": "original content\n", "differs": "ORIGINAL CONTENT\n"} {
		p := filepath.Join(src, name)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, p, content, 0o644)
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	b2, err := Create(context.Background(), src, root, "b2")
	if err != nil {
		t.Fatal(err)
	}
	if b2.Hashed != 2 || b2.Linked != 1 || b2.Copied != 1 {
		t.Errorf("Hashed %d Linked %d Copied %d, want 2 hashed, 1 linked, 1 copied", b2.Hashed, b2.Linked, b2.Copied)
	}
	if inode(t, filepath.Join(root, "b1", DataDir, "same")) != inode(t, filepath.Join(b2.Data, "same")) {
		t.Error("same content was not linked to the previous copy")
	}
	assertSameTree(t, "backup differs from source", stored(t, src), snapshot(t, b2.Data))
	// The identities are recorded again: the next backup need not hash.
	b3, err := Create(context.Background(), src, root, "b3")
	if err != nil {
		t.Fatal(err)
	}
	if b3.Hashed != 0 || b3.Linked != 2 {
		t.Errorf("b3: Hashed %d Linked %d, want 0 and 2", b3.Hashed, b3.Linked)
	}
}

// A base backup whose copy was damaged is not linked into a new backup.
func TestCreateDoesNotSpreadDamagedBaseCopy(t *testing.T) {
	trustCtimes(t)
	src, root := tempDir(t), tempDir(t)
	mustWrite(t, filepath.Join(src, "db"), "good content\n", 0o644)
	b1, err := Create(context.Background(), src, root, "b1")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(b1.Data, "db"), 3); err != nil {
		t.Fatal(err)
	}
	b2, err := Create(context.Background(), src, root, "b2")
	if err != nil {
		t.Fatal(err)
	}
	if b2.Copied != 1 || b2.Linked != 0 {
		t.Errorf("Copied %d Linked %d, want the damaged base copy replaced by a copy", b2.Copied, b2.Linked)
	}
	if got := mustRead(t, filepath.Join(b2.Data, "db")); got != "good content\n" {
		t.Errorf("b2 holds %q", got)
	}
}

func TestIdentityDistrustsRecentCtimes(t *testing.T) {
	at := time.Date(2024, 5, 6, 7, 8, 9, 500_000_000, time.UTC)
	tests := []struct {
		name  string
		ctime time.Time
		trust bool
	}{
		{"an hour old", at.Add(-time.Hour), true},
		{"just outside the margin", at.Add(-racy.margin - time.Millisecond), true},
		{"inside the margin", at.Add(-racy.margin / 2), false},
		{"after the stat time", at.Add(time.Millisecond), false},
		{"whole second, 1.5 s old: a coarse filesystem", time.Date(2024, 5, 6, 7, 8, 8, 0, time.UTC), false},
		{"whole second, 3 s old", time.Date(2024, 5, 6, 7, 8, 6, 0, time.UTC), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stat{ino: 42, ctime: tt.ctime.UnixNano()}
			ino, ctime := identity(&st, at)
			if got := ino != 0 && ctime != 0; got != tt.trust {
				t.Errorf("trusted = %v, want %v", got, tt.trust)
			}
		})
	}
}

// The manifests Create and Finish write list entries in the order
// manifest.Manifest.Entries documents (parents before children, the
// entries of one folder together, in byte order of their names): the
// order whose path check is the fast one.
func TestPassesWriteEntriesInManifestOrder(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	buildTree(t, src)
	if _, err := Create(context.Background(), src, root, "u1"); err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Read(filepath.Join(root, "u1"))
	if err != nil {
		t.Fatal(err)
	}
	checkManifestOrder(t, "Create", m.Entries)
	mustWrite(t, filepath.Join(src, "a", "b", "late.txt"), "late\n", 0o644)
	if err := os.RemoveAll(filepath.Join(src, "empty")); err != nil {
		t.Fatal(err)
	}
	if _, err := Finish(context.Background(), src, root, "u1"); err != nil {
		t.Fatal(err)
	}
	if m, err = manifest.Read(filepath.Join(root, "u1")); err != nil {
		t.Fatal(err)
	}
	checkManifestOrder(t, "Finish", m.Entries)
}

func checkManifestOrder(t *testing.T, pass string, entries []manifest.Entry) {
	t.Helper()
	done := map[string]bool{} // folders whose run of entries has ended
	run, prev := "", ""
	for i, e := range entries {
		if i == 0 {
			if e.Path != "." {
				t.Fatalf("%s: first entry %q, want the root", pass, e.Path)
			}
			continue
		}
		parent, name := path.Split(e.Path)
		if parent = strings.TrimSuffix(parent, "/"); parent == "" {
			parent = "."
		}
		if parent != run {
			if done[parent] {
				t.Fatalf("%s: entry %d %q: a second run of entries of %q", pass, i, e.Path, parent)
			}
			done[run], run = true, parent
		} else if name <= prev {
			t.Fatalf("%s: entry %d %q comes after %q", pass, i, e.Path, prev)
		}
		prev = name
	}
}
