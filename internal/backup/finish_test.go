package backup

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// The cold pass brings the hot backup up to date with every kind of
// change, and only copies what changed.
func TestFinishAppliesEveryKindOfChange(t *testing.T) {
	trustCtimes(t)
	src, root := tempDir(t), tempDir(t)
	buildTree(t, src)
	writeFiles(t, filepath.Join(src, "many"), 10)
	mustMkdir(t, filepath.Join(src, "gone-dir", "sub"))
	mustWrite(t, filepath.Join(src, "gone-dir", "sub", "f"), "x", 0o644)
	mustMkdir(t, filepath.Join(src, "becomes-file"))
	mustWrite(t, filepath.Join(src, "becomes-file", "inner"), "x", 0o644)
	mustWrite(t, filepath.Join(src, "becomes-dir"), "x", 0o644)
	hot, err := Create(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatal(err)
	}

	// The app keeps running, then stops.
	overwriteInPlace(t, filepath.Join(src, "many", "f01"), "changed content\n")
	mustWrite(t, filepath.Join(src, "many", "new"), "new\n", 0o644)
	if err := os.Remove(filepath.Join(src, "many", "f02")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "gone-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(src, "becomes-file")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(src, "becomes-file"), "now a file\n", 0o644)
	if err := os.Remove(filepath.Join(src, "becomes-dir")); err != nil {
		t.Fatal(err)
	}
	mustMkdir(t, filepath.Join(src, "becomes-dir", "nested"))
	mustWrite(t, filepath.Join(src, "becomes-dir", "nested", "f"), "inside\n", 0o644)
	if err := os.Remove(filepath.Join(src, "rel-link")); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, "somewhere/else", filepath.Join(src, "rel-link"))
	if err := os.Chmod(filepath.Join(src, "a", "b"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "readonly"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(src, "readonly", "added"), "into a read-only folder\n", 0o644)
	if err := os.Chmod(filepath.Join(src, "readonly"), 0o555); err != nil {
		t.Fatal(err)
	}

	b, err := Finish(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	assertSameTree(t, "finished backup differs from source", stored(t, src), snapshot(t, b.Data))
	// f01, new, becomes-file, becomes-dir/nested/f, readonly/added.
	if b.Copied != 5 {
		t.Errorf("Copied = %d, want 5", b.Copied)
	}
	// f02, gone-dir, gone-dir/sub, gone-dir/sub/f, becomes-file (a dir),
	// becomes-file/inner, becomes-dir (a file).
	if b.Removed != 7 {
		t.Errorf("Removed = %d, want 7", b.Removed)
	}
	if b.FinishedAt.IsZero() || !b.CreatedAt.Equal(hot.CreatedAt) || b.FinishedAt.Before(b.CreatedAt) {
		t.Errorf("CreatedAt %v FinishedAt %v, want the hot pass's creation time and a later finish", b.CreatedAt, b.FinishedAt)
	}
	if err := Verify(context.Background(), root, "u1"); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if got := dirNames(t, b.Path); !reflect.DeepEqual(got, []string{ManifestName, DataDir}) {
		t.Errorf("backup folder holds %v, want only the manifest and data", got)
	}

	// Nothing changed since: a second Finish copies nothing.
	again, err := Finish(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if again.Copied != 0 || again.Removed != 0 || again.Hashed != 0 || again.Files != b.Files {
		t.Errorf("second Finish: %+v, want nothing copied, removed or hashed", again)
	}
	assertSameTree(t, "backup changed on a second Finish", stored(t, src), snapshot(t, again.Data))
}

// A file the app is writing while the hot pass copies it is torn in the
// hot backup; the cold pass, after the app finished the write, fixes it.
// The writes happen right after the hot pass looked at the file, within
// the same timestamp tick on a coarse clock: the pass must not trust the
// file's ctime (see identity), whatever the clock.
func TestFinishFixesTornWrite(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	db := filepath.Join(src, "app.db")
	oldContent, newContent := strings.Repeat("A", 8192), strings.Repeat("B", 8192)
	mustWrite(t, db, oldContent, 0o644)
	mustWrite(t, filepath.Join(src, "other"), "untouched\n", 0o644)

	setWriterHook(t, func(rel string, w io.Writer) io.Writer {
		if rel == "app.db" {
			// The app writes the first half of its new page: the hot
			// pass has opened the file and is about to read it.
			f, err := os.OpenFile(db, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte(newContent[:4096]), 0); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		return w
	})
	if _, err := Create(context.Background(), src, root, "u1"); err != nil {
		t.Fatal(err)
	}
	testHookWriter = nil
	torn := mustRead(t, filepath.Join(root, "u1", DataDir, "app.db"))
	if torn != newContent[:4096]+oldContent[4096:] {
		t.Fatalf("the hot copy is not torn as arranged: %q...", torn[:10])
	}

	// The app finishes its write and is stopped.
	f, err := os.OpenFile(db, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(newContent[4096:]), 4096); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b, err := Finish(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, filepath.Join(b.Data, "app.db")); got != newContent {
		t.Errorf("after the cold pass the backup holds %q..., want the finished write", got[:10])
	}
	if b.Copied != 1 {
		t.Errorf("Copied = %d, want only app.db", b.Copied)
	}
	if err := Verify(context.Background(), root, "u1"); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// A full disk during the cold pass leaves the hot backup complete and
// as it was: nothing in data/ changes before every new copy is written.
func TestFinishDiskFullKeepsHotBackup(t *testing.T) {
	trustCtimes(t)
	src, root := tempDir(t), tempDir(t)
	writeFiles(t, src, 5)
	hot, err := Create(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	hotTree := snapshot(t, hot.Data)
	overwriteInPlace(t, filepath.Join(src, "f00"), "new content for f00\n")
	overwriteInPlace(t, filepath.Join(src, "f04"), "new content for f04\n")
	setWriterHook(t, func(rel string, w io.Writer) io.Writer {
		if rel == "f04" {
			return &failingWriter{w: w, limit: 3}
		}
		return w
	})

	if _, err := Finish(context.Background(), src, root, "u1"); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	list, err := List(root)
	if err != nil || len(list) != 1 || !list[0].FinishedAt.IsZero() {
		t.Fatalf("List = %+v, %v; want the hot backup, still complete and unfinished", list, err)
	}
	assertSameTree(t, "a failed cold pass changed the hot backup", hotTree, snapshot(t, hot.Data))
	if err := Verify(context.Background(), root, "u1"); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if got := dirNames(t, hot.Path); !reflect.DeepEqual(got, []string{ManifestName, DataDir}) {
		t.Errorf("backup folder holds %v, want no staging left", got)
	}

	testHookWriter = nil
	b, err := Finish(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	assertSameTree(t, "backup differs after a successful retry", stored(t, src), snapshot(t, b.Data))
}

// A crash in the middle of the commit leaves a backup that does not count;
// Finish (or Create with its ID, when the update is redone) completes it.
func TestFinishResumesAfterCrashMidCommit(t *testing.T) {
	for _, via := range []string{"Finish", "Create"} {
		t.Run(via, func(t *testing.T) {
			trustCtimes(t)
			src, root := tempDir(t), tempDir(t)
			writeFiles(t, filepath.Join(src, "d"), 4)
			if _, err := Create(context.Background(), src, root, "u1"); err != nil {
				t.Fatal(err)
			}
			data := filepath.Join(root, "u1", DataDir)
			overwriteInPlace(t, filepath.Join(src, "d", "f00"), "changed after the hot pass\n")
			if err := os.Remove(filepath.Join(src, "d", "f01")); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(src, "d", "f02"), "replaced, changed back below\n", 0o644)

			// The state an interrupted commit leaves: manifest set aside,
			// some entries moved or removed, a staging folder.
			if err := os.Rename(filepath.Join(root, "u1", ManifestName), filepath.Join(root, "u1", finishingName)); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(data, "d", "f01")); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(data, "d", "f02")); err != nil { // a shared link: never written in place
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(data, "d", "f02"), "replaced, changed back below\n", 0o644)
			mustMkdir(t, filepath.Join(root, "u1", stagingName))
			mustWrite(t, filepath.Join(root, "u1", stagingName, "7"), "half", 0o600)
			// The service came back and the file was restored to what
			// the hot pass saw, with its old mtime: a content check would
			// wrongly keep the replacement.
			hotContent := "content of file 2\n"
			overwriteInPlace(t, filepath.Join(src, "d", "f02"), hotContent)
			m, err := manifest.ReadFile(filepath.Join(root, "u1", finishingName))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range m.Entries {
				if e.Path == "d/f02" {
					if err := os.Chtimes(filepath.Join(src, "d", "f02"), e.ModTime, e.ModTime); err != nil {
						t.Fatal(err)
					}
				}
			}

			if list, _ := List(root); len(list) != 0 {
				t.Fatalf("List = %v: a half-committed backup counts", ids(list))
			}
			if err := Verify(context.Background(), root, "u1"); !errors.Is(err, ErrIncomplete) {
				t.Errorf("Verify = %v, want ErrIncomplete", err)
			}
			var b Backup
			if via == "Finish" {
				b, err = Finish(context.Background(), src, root, "u1")
			} else {
				b, err = Create(context.Background(), src, root, "u1")
			}
			if err != nil {
				t.Fatal(err)
			}
			assertSameTree(t, "resumed backup differs from source", stored(t, src), snapshot(t, b.Data))
			if err := Verify(context.Background(), root, "u1"); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if got := dirNames(t, b.Path); !reflect.DeepEqual(got, []string{ManifestName, DataDir}) {
				t.Errorf("backup folder holds %v, want only the manifest and data", got)
			}
			if list, _ := List(root); len(list) != 1 {
				t.Errorf("List = %v, want the completed backup", ids(list))
			}
		})
	}
}

func TestFinishErrors(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	mustMkdir(t, filepath.Join(root, "foreign"))
	for id, want := range map[string]error{"missing": ErrNotFound, "foreign": ErrIncomplete, "../x": ErrInvalidID} {
		if _, err := Finish(context.Background(), src, root, id); !errors.Is(err, want) {
			t.Errorf("Finish(%s) = %v, want %v", id, err, want)
		}
	}
	if _, err := Create(context.Background(), src, root, "u1"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Finish(ctx, src, root, "u1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Finish with a cancelled context = %v", err)
	}
}

// The source disappearing between the passes makes an empty backup that
// records it, like a hot pass of a missing source.
func TestFinishSourceRemoved(t *testing.T) {
	base, root := tempDir(t), tempDir(t)
	src := filepath.Join(base, "data")
	writeFiles(t, filepath.Join(src, "d"), 2)
	if _, err := Create(context.Background(), src, root, "u1"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(src); err != nil {
		t.Fatal(err)
	}
	b, err := Finish(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Read(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !m.SourceMissing || len(m.Entries) != 0 || b.Removed != 3 || len(dirNames(t, b.Data)) != 0 {
		t.Errorf("manifest %+v, removed %d, data %v; want an empty backup of a missing source", m, b.Removed, dirNames(t, b.Data))
	}
	if err := Verify(context.Background(), root, "u1"); err != nil {
		t.Errorf("Verify: %v", err)
	}
}
