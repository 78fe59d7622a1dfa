package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// A backup restores byte for byte: every kind of entry, with modes,
// owners, times, odd names, after both passes; the data it replaces is
// kept aside, untouched.
func TestRestoreIsByteIdentical(t *testing.T) {
	base, root := tempDir(t), tempDir(t)
	data := filepath.Join(base, "data")
	mustMkdir(t, data)
	socket := buildTree(t, data)
	if _, err := Create(context.Background(), data, root, "u1"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(data, "a", "b", "late.txt"), "written between the passes\n", 0o600)
	ageTree(t, data)
	if _, err := Finish(context.Background(), data, root, "u1"); err != nil {
		t.Fatal(err)
	}
	backedUp := snapshot(t, data)

	// The update damages the data.
	overwriteInPlace(t, filepath.Join(data, "secret.env"), "TOKEN=broken\n")
	if err := os.RemoveAll(filepath.Join(data, "a")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(data, "migration.log"), "v2 schema\n", 0o644)
	damaged := snapshot(t, data)

	replaced, err := Restore(context.Background(), root, "u1", data)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	assertSameTree(t, "restored data differs from the backup", backedUp, snapshot(t, data))
	if !strings.HasPrefix(filepath.Base(replaced), "data"+replacedInfix) || filepath.Dir(replaced) != base {
		t.Errorf("replaced = %q, want %s/data%s<time>", replaced, base, replacedInfix)
	}
	assertSameTree(t, "the replaced data was changed", damaged, snapshot(t, replaced))
	if _, err := os.Lstat(filepath.Join(replaced, filepath.Base(socket))); err != nil {
		t.Errorf("the socket of the replaced data is gone: %v", err)
	}
	if got := dirNames(t, base); !reflect.DeepEqual(got, []string{"data", filepath.Base(replaced)}) {
		t.Errorf("%s holds %v, want data and the replaced folder only", base, got)
	}
	// The restored files are copies: writing them leaves the backup intact.
	overwriteInPlace(t, filepath.Join(data, "secret.env"), "TOKEN=written after restore\n")
	if err := Verify(context.Background(), root, "u1"); err != nil {
		t.Errorf("Verify after writing the restored data: %v", err)
	}
}

// A damaged backup is never restored, and the current data stays.
func TestRestoreRefusesCorruptBackup(t *testing.T) {
	base, root := tempDir(t), tempDir(t)
	data := filepath.Join(base, "data")
	writeFiles(t, data, 3)
	b, err := Create(context.Background(), data, root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(b.Data, "f01")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	overwriteInPlace(t, p, "content of file X\n") // same size
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(data, "current"), "the current data\n", 0o644)
	before := snapshot(t, data)

	replaced, err := Restore(context.Background(), root, "u1", data)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Path != "f01" || replaced != "" {
		t.Fatalf("Restore = %q, %v; want a CorruptError for f01", replaced, err)
	}
	assertSameTree(t, "a failed restore changed the current data", before, snapshot(t, data))
	if got := dirNames(t, base); !reflect.DeepEqual(got, []string{"data"}) {
		t.Errorf("%s holds %v, want no restore folder left", base, got)
	}
}

func TestRestoreEdgeCases(t *testing.T) {
	t.Run("data folder missing", func(t *testing.T) {
		base, root := tempDir(t), tempDir(t)
		data := filepath.Join(base, "data")
		writeFiles(t, data, 2)
		if _, err := Create(context.Background(), data, root, "u1"); err != nil {
			t.Fatal(err)
		}
		want := snapshot(t, data)
		if err := os.RemoveAll(data); err != nil {
			t.Fatal(err)
		}
		replaced, err := Restore(context.Background(), root, "u1", data)
		if err != nil || replaced != "" {
			t.Fatalf("Restore = %q, %v", replaced, err)
		}
		assertSameTree(t, "restored data", want, snapshot(t, data))
	})
	t.Run("leftover restore folder from a crash", func(t *testing.T) {
		base, root := tempDir(t), tempDir(t)
		data := filepath.Join(base, "data")
		writeFiles(t, data, 2)
		if _, err := Create(context.Background(), data, root, "u1"); err != nil {
			t.Fatal(err)
		}
		want := snapshot(t, data)
		leftover := filepath.Join(base, ".data"+restoringSuffix)
		mustMkdir(t, filepath.Join(leftover, "half"))
		mustWrite(t, filepath.Join(leftover, "f00"), "torn", 0o644)
		replaced, err := Restore(context.Background(), root, "u1", data)
		if err != nil {
			t.Fatal(err)
		}
		assertSameTree(t, "restored data", want, snapshot(t, data))
		if got := dirNames(t, base); !reflect.DeepEqual(got, []string{"data", filepath.Base(replaced)}) {
			t.Errorf("%s holds %v", base, got)
		}
	})
	t.Run("data folder is a symlink to a volume", func(t *testing.T) {
		base, root := tempDir(t), tempDir(t)
		volume := filepath.Join(base, "volume", "data")
		writeFiles(t, volume, 2)
		link := filepath.Join(base, "data")
		mustSymlink(t, volume, link)
		if _, err := Create(context.Background(), link, root, "u1"); err != nil {
			t.Fatal(err)
		}
		want := snapshot(t, volume)
		overwriteInPlace(t, filepath.Join(volume, "f00"), "damaged")
		replaced, err := Restore(context.Background(), root, "u1", link)
		if err != nil {
			t.Fatal(err)
		}
		if target, err := os.Readlink(link); err != nil || target != volume {
			t.Errorf("symlink = %q, %v; want it kept", target, err)
		}
		assertSameTree(t, "restored volume", want, snapshot(t, volume))
		if filepath.Dir(replaced) != filepath.Dir(volume) {
			t.Errorf("replaced = %q, want beside the volume's folder", replaced)
		}
	})
	t.Run("errors", func(t *testing.T) {
		root := tempDir(t)
		data := filepath.Join(root, "inside")
		for id, want := range map[string]error{"missing": ErrNotFound, ".x": ErrInvalidID} {
			if _, err := Restore(context.Background(), root, id, data); !errors.Is(err, want) {
				t.Errorf("Restore(%s) = %v, want %v", id, err, want)
			}
		}
		makeBackups(t, root, "u1")
		if _, err := Restore(context.Background(), filepath.Join(root), "u1", root); !errors.Is(err, ErrRootInsideSource) {
			t.Errorf("Restore over the backup root = %v, want ErrRootInsideSource", err)
		}
	})
}
