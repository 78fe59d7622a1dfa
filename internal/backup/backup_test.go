package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// buildTree writes a source folder with every kind of entry Create must
// handle, with distinct modes and old mtimes so preservation is visible.
func buildTree(t *testing.T, dir string) {
	t.Helper()
	mustMkdir(t, filepath.Join(dir, "a", "b", "c"))
	mustMkdir(t, filepath.Join(dir, "empty"))
	mustWrite(t, filepath.Join(dir, "a", "b", "c", "deep.txt"), "deep content\n", 0o644)
	mustWrite(t, filepath.Join(dir, "a", "top.db"), strings.Repeat("0123456789", 50_000), 0o644)
	mustWrite(t, filepath.Join(dir, "secret.env"), "TOKEN=not-really\n", 0o600)
	mustWrite(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\necho hi\n", 0o755)
	mustWrite(t, filepath.Join(dir, "empty.txt"), "", 0o644)
	// A file named like our manifest must survive: the copy lives in data/.
	mustWrite(t, filepath.Join(dir, ManifestName), `{"app":"own file"}`, 0o644)
	mustSymlink(t, "a/b/c/deep.txt", filepath.Join(dir, "rel-link"))
	mustSymlink(t, "../../nowhere", filepath.Join(dir, "a", "dangling"))
	mustSymlink(t, "/etc/hostname", filepath.Join(dir, "abs-link"))
	if err := unix.Mkfifo(filepath.Join(dir, "a", "pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "a", "b"), 0o750); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 { // the updater runs as root: owners must survive for a restore
		for _, p := range []string{"secret.env", "rel-link", "a/b"} {
			if err := os.Lchown(filepath.Join(dir, p), 1234, 5678); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Old, distinct mtimes; folders last so creating entries does not bump them.
	base := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	i := 0
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		i++
		ts := []unix.Timespec{unix.NsecToTimespec(base.UnixNano()), unix.NsecToTimespec(base.Add(time.Duration(i) * time.Hour).UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
		return nil
	})
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes every entry below dir (not following symlinks): type,
// mode, owner, mtime, and content hash or link target. Comparing two
// snapshots compares trees byte for byte and metadata for metadata.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st := fi.Sys().(*syscall.Stat_t)
		desc := fmt.Sprintf("%v uid=%d gid=%d mtime=%d", fi.Mode(), st.Uid, st.Gid, fi.ModTime().UnixNano())
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			desc += " sha256=" + hex.EncodeToString(sum[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " target=" + target
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(want, got map[string]string) []string {
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, "missing "+k)
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%s:\n  want %s\n  got  %s", k, w, g))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, "extra "+k)
		}
	}
	sort.Strings(diffs)
	return diffs
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestCreateCopiesTreeFaithfullyAndLeavesSourceAlone(t *testing.T) {
	src, root := filepath.Join(t.TempDir(), "data"), filepath.Join(t.TempDir(), "backups")
	mustMkdir(t, src)
	buildTree(t, src)
	before := snapshot(t, src)

	b, err := Create(context.Background(), src, root, "v1.2.3-20240101")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}

	if diffs := diffSnapshots(before, snapshot(t, src)); len(diffs) > 0 {
		t.Fatalf("source changed:\n%s", strings.Join(diffs, "\n"))
	}
	want := snapshot(t, src)
	delete(want, "a/pipe") // special files are skipped
	if diffs := diffSnapshots(want, snapshot(t, b.Data)); len(diffs) > 0 {
		t.Fatalf("backup differs from source:\n%s", strings.Join(diffs, "\n"))
	}

	if b.ID != "v1.2.3-20240101" || b.Path != filepath.Join(root, b.ID) || b.Data != filepath.Join(root, b.ID, DataDir) {
		t.Errorf("Backup = %+v", b)
	}
	if b.Files != 6 {
		t.Errorf("Files = %d, want 6", b.Files)
	}
	if wantBytes := int64(13 + 500_000 + 17 + 18 + 0 + 18); b.Bytes != wantBytes {
		t.Errorf("Bytes = %d, want %d", b.Bytes, wantBytes)
	}
	if time.Since(b.CreatedAt) > time.Minute || b.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want a recent UTC time", b.CreatedAt)
	}
	if got := dirNames(t, root); !reflect.DeepEqual(got, []string{b.ID}) {
		t.Errorf("root holds %v, want only the backup", got)
	}

	m, err := ReadManifest(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	wantTotals := Totals{Files: 6, Dirs: 5, Symlinks: 3, Skipped: 1, Bytes: b.Bytes}
	if m.Totals != wantTotals {
		t.Errorf("Totals = %+v, want %+v", m.Totals, wantTotals)
	}
	if len(m.Skipped) != 1 || m.Skipped[0].Path != "a/pipe" || !strings.Contains(m.Skipped[0].Reason, "named pipe") {
		t.Errorf("Skipped = %+v, want a/pipe as named pipe", m.Skipped)
	}
	if m.Kind != ManifestKind || m.Version != 1 || m.ID != b.ID || m.Source != src || m.SourceMissing {
		t.Errorf("manifest header = %+v", m)
	}
	entries := map[string]Entry{}
	for _, e := range m.Entries {
		entries[e.Path] = e
	}
	sum := sha256.Sum256([]byte("TOKEN=not-really\n"))
	checks := map[string]Entry{
		"secret.env": {Type: TypeFile, Size: 17, Mode: "0600", SHA256: hex.EncodeToString(sum[:])},
		"run.sh":     {Type: TypeFile, Size: 18, Mode: "0755"},
		"a/b":        {Type: TypeDir, Mode: "0750"},
		"a/dangling": {Type: TypeSymlink, Mode: "0777", Target: "../../nowhere"},
		".":          {Type: TypeDir, Mode: "0755"},
	}
	for p, w := range checks {
		g, ok := entries[p]
		if !ok {
			t.Errorf("manifest has no entry %s", p)
			continue
		}
		if g.Type != w.Type || g.Size != w.Size || g.Mode != w.Mode || g.Target != w.Target || (w.SHA256 != "" && g.SHA256 != w.SHA256) {
			t.Errorf("entry %s = %+v, want %+v", p, g, w)
		}
	}
	if len(m.Entries) != 6+5+3 {
		t.Errorf("manifest has %d entries, want 14", len(m.Entries))
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestCreateIsIdempotent(t *testing.T) {
	src, root := t.TempDir(), t.TempDir()
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
	if second != first {
		t.Errorf("second Create = %+v, want %+v", second, first)
	}
	if got := inode(t, copied); got != ino {
		t.Errorf("copied file was rewritten: inode %d -> %d", ino, got)
	}
	if got := inode(t, filepath.Join(first.Path, ManifestName)); got != manifestIno {
		t.Errorf("manifest was rewritten: inode %d -> %d", manifestIno, got)
	}
	if data, _ := os.ReadFile(copied); string(data) != "v1" {
		t.Errorf("backup content = %q, want v1", data)
	}
}

func TestCreateRedoesLeftoverPartial(t *testing.T) {
	src, root := t.TempDir(), t.TempDir()
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
	if data, _ := os.ReadFile(filepath.Join(b.Data, "db")); string(data) != "live" {
		t.Errorf("backup content = %q, want live", data)
	}
}

func TestCreateMissingSourceIsEmptyBackup(t *testing.T) {
	root := t.TempDir()
	b, err := Create(context.Background(), filepath.Join(t.TempDir(), "absent"), root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if b.Files != 0 || b.Bytes != 0 {
		t.Errorf("Backup = %+v, want empty", b)
	}
	m, err := ReadManifest(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !m.SourceMissing || len(m.Entries) != 0 {
		t.Errorf("manifest = %+v, want sourceMissing and no entries", m)
	}
	if got := dirNames(t, b.Data); len(got) != 0 {
		t.Errorf("data holds %v, want nothing", got)
	}
}

func TestCreateRejects(t *testing.T) {
	base := t.TempDir()
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

// failingWriter fails like a full disk once more than limit bytes went
// through it.
type failingWriter struct {
	w     io.Writer
	limit int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		n, _ := f.w.Write(p[:f.limit])
		f.limit = 0
		return n, syscall.ENOSPC
	}
	f.limit -= len(p)
	return f.w.Write(p)
}

func setWriterHook(t *testing.T, hook func(rel string, w io.Writer) io.Writer) {
	t.Helper()
	testHookWriter = hook
	t.Cleanup(func() { testHookWriter = nil })
}

func TestCreateWriteFailureLeavesNoBackup(t *testing.T) {
	src, root := t.TempDir(), t.TempDir()
	buildTree(t, src)
	setWriterHook(t, func(rel string, w io.Writer) io.Writer {
		if rel == "a/top.db" {
			return &failingWriter{w: w, limit: 1000}
		}
		return w
	})

	_, err := Create(context.Background(), src, root, "u1")
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if !strings.Contains(err.Error(), "top.db") {
		t.Errorf("error %q does not name the file", err)
	}
	if got := dirNames(t, root); len(got) != 0 {
		t.Errorf("root holds %v after a failed backup, want nothing", got)
	}
	if list, err := List(root); err != nil || len(list) != 0 {
		t.Errorf("List = %v, %v; want none", list, err)
	}

	testHookWriter = nil // the disk has space again: the same ID now succeeds
	b, err := Create(context.Background(), src, root, "u1")
	if err != nil || b.Files != 6 {
		t.Fatalf("retry: %+v, %v", b, err)
	}
}

func TestCreateCancelledMidCopyLeavesNoPartial(t *testing.T) {
	src, root := t.TempDir(), t.TempDir()
	for d := 0; d < 10; d++ {
		for f := 0; f < 100; f++ {
			mustMkdir(t, filepath.Join(src, fmt.Sprint("d", d)))
			mustWrite(t, filepath.Join(src, fmt.Sprint("d", d), fmt.Sprint("f", f)), strings.Repeat("x", 1024), 0o644)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	written, partialSeen := 0, false
	setWriterHook(t, func(rel string, w io.Writer) io.Writer {
		written++
		if written == 250 {
			_, err := os.Stat(filepath.Join(root, ".u1"+partialSuffix, DataDir, "d0", "f0"))
			partialSeen = err == nil
			cancel()
		}
		return w
	})

	_, err := Create(ctx, src, root, "u1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if !partialSeen {
		t.Error("cancellation did not happen mid-copy: no partial folder at file 250")
	}
	if written != 250 {
		t.Errorf("copy went on for %d files after cancel at 250", written-250)
	}
	if got := dirNames(t, root); len(got) != 0 {
		t.Errorf("root holds %v after cancel, want nothing", got)
	}
}

func TestCreateAlreadyCancelled(t *testing.T) {
	src, root := t.TempDir(), t.TempDir()
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

func TestCreateSkipsEntriesThatVanish(t *testing.T) {
	src, root := t.TempDir(), t.TempDir()
	mustWrite(t, filepath.Join(src, "a"), "stays", 0o644)
	mustWrite(t, filepath.Join(src, "b"), "goes", 0o644)
	mustMkdir(t, filepath.Join(src, "c", "sub"))
	mustWrite(t, filepath.Join(src, "c", "sub", "f"), "goes", 0o644)
	mustWrite(t, filepath.Join(src, "d"), "stays", 0o644)
	// Copying "a" happens after the folder was listed: removing b and c
	// then is exactly a live app deleting files during the backup.
	setWriterHook(t, func(rel string, w io.Writer) io.Writer {
		if rel == "a" {
			if err := os.Remove(filepath.Join(src, "b")); err != nil {
				t.Error(err)
			}
			if err := os.RemoveAll(filepath.Join(src, "c")); err != nil {
				t.Error(err)
			}
		}
		return w
	})

	b, err := Create(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got := dirNames(t, b.Data); !reflect.DeepEqual(got, []string{"a", "d"}) {
		t.Errorf("backup holds %v, want [a d]", got)
	}
	m, err := ReadManifest(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	want := []Skipped{{Path: "b", Reason: "vanished during backup"}, {Path: "c", Reason: "vanished during backup"}}
	if !reflect.DeepEqual(m.Skipped, want) || m.Totals.Skipped != 2 {
		t.Errorf("Skipped = %+v (total %d), want %+v", m.Skipped, m.Totals.Skipped, want)
	}
}

func TestCreateFollowsSymlinkedSourceRootOnly(t *testing.T) {
	base := t.TempDir()
	volume := filepath.Join(base, "volume")
	mustMkdir(t, volume)
	mustWrite(t, filepath.Join(volume, "db"), "x", 0o644)
	src := filepath.Join(base, "data")
	mustSymlink(t, volume, src)
	b, err := Create(context.Background(), src, filepath.Join(base, "backups"), "u1")
	if err != nil {
		t.Fatal(err)
	}
	if b.Files != 1 {
		t.Errorf("Files = %d, want 1 (the symlinked data folder is followed)", b.Files)
	}
}

func makeBackups(t *testing.T, root string, ids ...string) {
	t.Helper()
	src := t.TempDir()
	mustWrite(t, filepath.Join(src, "db"), "x", 0o644)
	for _, id := range ids {
		if _, err := Create(context.Background(), src, root, id); err != nil {
			t.Fatal(err)
		}
	}
}

func ids(list []Backup) []string {
	out := []string{}
	for _, b := range list {
		out = append(out, b.ID)
	}
	return out
}

func TestListIgnoresIncompleteFolders(t *testing.T) {
	root := t.TempDir()
	if list, err := List(filepath.Join(root, "missing")); err != nil || len(list) != 0 {
		t.Fatalf("List(missing) = %v, %v", list, err)
	}
	makeBackups(t, root, "b1", "b2")
	// A partial folder that even has a manifest, a folder without one, a
	// folder with a broken one, and a stray file.
	partial := filepath.Join(root, ".b3"+partialSuffix)
	mustMkdir(t, partial)
	data, _ := os.ReadFile(filepath.Join(root, "b1", ManifestName))
	mustWrite(t, filepath.Join(partial, ManifestName), string(data), 0o600)
	mustMkdir(t, filepath.Join(root, "no-manifest"))
	mustMkdir(t, filepath.Join(root, "broken"))
	mustWrite(t, filepath.Join(root, "broken", ManifestName), "{", 0o600)
	mustWrite(t, filepath.Join(root, "stray"), "", 0o600)

	list, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(list); !reflect.DeepEqual(got, []string{"b1", "b2"}) {
		t.Errorf("List = %v, want [b1 b2]", got)
	}
	if !list[0].CreatedAt.Before(list[1].CreatedAt) && list[0].CreatedAt != list[1].CreatedAt {
		t.Errorf("List not oldest first: %v", list)
	}
}

func TestPrune(t *testing.T) {
	tests := []struct {
		name        string
		keep        int
		protect     []string
		wantRemoved []string
		wantLeft    []string
	}{
		{"keep 2", 2, nil, []string{"b1", "b2", "b3"}, []string{"b4", "b5"}},
		{"keep 2 protect oldest", 2, []string{"b1"}, []string{"b2", "b3"}, []string{"b1", "b4", "b5"}},
		{"protect one already kept", 2, []string{"b5", "unknown"}, []string{"b1", "b2", "b3"}, []string{"b4", "b5"}},
		{"keep 0", 0, nil, []string{"b1", "b2", "b3", "b4", "b5"}, []string{}},
		{"keep more than exist", 10, nil, nil, []string{"b1", "b2", "b3", "b4", "b5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			makeBackups(t, root, "b1", "b2", "b3", "b4", "b5")
			removed, err := Prune(root, tt.keep, tt.protect...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(removed, tt.wantRemoved) {
				t.Errorf("removed = %v, want %v", removed, tt.wantRemoved)
			}
			list, err := List(root)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(list); !reflect.DeepEqual(got, tt.wantLeft) {
				t.Errorf("left = %v, want %v", got, tt.wantLeft)
			}
			if got := dirNames(t, root); !reflect.DeepEqual(got, tt.wantLeft) && !(len(got) == 0 && len(tt.wantLeft) == 0) {
				t.Errorf("root holds %v, want exactly %v", got, tt.wantLeft)
			}
		})
	}
}

func TestPruneCleansLeftoverDeletionsAndLeavesPartials(t *testing.T) {
	root := t.TempDir()
	makeBackups(t, root, "b1")
	doomed := filepath.Join(root, ".b0"+deletingSuffix)
	mustMkdir(t, filepath.Join(doomed, DataDir, "ro"))
	if err := os.Chmod(filepath.Join(doomed, DataDir, "ro"), 0o500); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(root, ".b2"+partialSuffix)
	mustMkdir(t, partial)

	removed, err := Prune(root, 1)
	if err != nil || len(removed) != 0 {
		t.Fatalf("Prune = %v, %v", removed, err)
	}
	if got := dirNames(t, root); !reflect.DeepEqual(got, []string{".b2" + partialSuffix, "b1"}) {
		t.Errorf("root holds %v, want the partial and b1", got)
	}
	if _, err := Prune(root, -1); !errors.Is(err, ErrInvalidKeep) {
		t.Errorf("Prune(-1) err = %v, want ErrInvalidKeep", err)
	}
}
