package backup

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// makeOutcomes makes one backup per id, oldest first; those in finished
// also get their cold pass (consistent), the others stay hot-only.
func makeOutcomes(t *testing.T, root string, ids []string, finished map[string]bool) {
	t.Helper()
	src := tempDir(t)
	mustWrite(t, filepath.Join(src, "db"), "x", 0o644)
	for _, id := range ids {
		if _, err := Create(context.Background(), src, root, id); err != nil {
			t.Fatal(err)
		}
		if finished[id] {
			if _, err := Finish(context.Background(), src, root, id); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Retention prunes the backups of failed attempts first (and backups that
// never had their cold pass, whatever became of their update), oldest
// first, and only then the oldest backups of updates that succeeded; it
// never removes a protected backup and keeps Keep backups in total when
// it can. A backup whose outcome is unknown (its history entry is gone)
// counts as successful when it is consistent.
func TestPruneDropsFailedAttemptsFirst(t *testing.T) {
	// Oldest first: s1 succeeded; f2 failed before its cold pass; old
	// is consistent, its outcome forgotten; s3 succeeded; f4 failed after
	// its cold pass (health check); h5 is hot-only, outcome unknown; cur
	// is the update running now.
	all := []string{"s1", "f2", "old", "s3", "f4", "h5", "cur"}
	finished := map[string]bool{"s1": true, "old": true, "s3": true, "f4": true}
	outcomes := Retention{Succeeded: []string{"s1", "s3"}, Failed: []string{"f2", "f4"}}
	tests := []struct {
		name        string
		keep        int
		protect     []string
		wantRemoved []string
	}{
		{"keep 5", 5, []string{"cur"}, []string{"f2", "f4"}},
		{"keep 4", 4, []string{"cur"}, []string{"f2", "f4", "h5"}},
		{"keep 2", 2, []string{"cur"}, []string{"f2", "f4", "h5", "s1", "old"}},
		{"keep 2, last known good s1", 2, []string{"cur", "s1"}, []string{"f2", "f4", "h5", "old", "s3"}},
		{"keep 1", 1, []string{"cur"}, []string{"f2", "f4", "h5", "s1", "old", "s3"}},
		{"keep 0, two protected", 0, []string{"cur", "f4"}, []string{"f2", "h5", "s1", "old", "s3"}},
		{"keep more than exist", 10, []string{"cur"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := tempDir(t)
			makeOutcomes(t, root, all, finished)
			r := outcomes
			r.Keep, r.Protect = tt.keep, tt.protect
			removed, err := Prune(root, r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(removed, tt.wantRemoved) {
				t.Errorf("removed %v, want %v", removed, tt.wantRemoved)
			}
			list, err := List(root)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			gone := map[string]bool{}
			for _, id := range tt.wantRemoved {
				gone[id] = true
			}
			for _, id := range all {
				if !gone[id] {
					want = append(want, id)
				}
			}
			if got := ids(list); !reflect.DeepEqual(got, want) {
				t.Errorf("left %v, want %v", got, want)
			}
		})
	}
}

// Without outcomes (no history), a hot-only backup counts as a failed
// attempt and a consistent one as a success.
func TestPruneWithoutOutcomesPrunesHotOnlyFirst(t *testing.T) {
	root := tempDir(t)
	makeOutcomes(t, root, []string{"a", "b", "c", "d"}, map[string]bool{"a": true, "c": true})
	removed, err := Prune(root, Retention{Keep: 2, Protect: []string{"d"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(removed, []string{"b", "a"}) {
		t.Errorf("removed %v, want [b a]", removed)
	}
}

// A restore keeps the data it replaced beside data/, as
// data.replaced-<UTC time>. Those copies are listed, oldest first, and
// pruned to the newest Keep; anything else beside data/ is left alone,
// and a removal a crash interrupted is finished.
func TestReplacedDataIsListedAndPruned(t *testing.T) {
	base, root := tempDir(t), tempDir(t)
	data := filepath.Join(base, "data")
	mustMkdir(t, data)
	mustWrite(t, filepath.Join(data, "db"), "backed up\n", 0o644)
	ctx := context.Background()
	if _, err := Create(ctx, data, root, "b1"); err != nil {
		t.Fatal(err)
	}
	var replaced []string
	for _, content := range []string{"first\n", "second\n", "third\n"} {
		overwriteInPlace(t, filepath.Join(data, "db"), content)
		r, err := Restore(ctx, root, "b1", data)
		if err != nil {
			t.Fatal(err)
		}
		replaced = append(replaced, r)
	}
	// Not ours: a folder named by hand, a file; an interrupted removal.
	mustMkdir(t, filepath.Join(base, "data.replaced-by-hand"))
	mustWrite(t, filepath.Join(base, "data.replaced-20200101T000000Z"), "a file", 0o644)
	leftover := filepath.Join(base, ".data.replaced-20200101T000000Z"+deletingSuffix)
	mustMkdir(t, filepath.Join(leftover, "ro"))
	if err := os.Chmod(filepath.Join(leftover, "ro"), 0o500); err != nil {
		t.Fatal(err)
	}

	list, err := ListReplaced(data)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, r := range list {
		paths = append(paths, r.Path)
		if r.ReplacedAt.IsZero() || time.Since(r.ReplacedAt) > time.Hour {
			t.Errorf("%s: ReplacedAt %v, want the time in its name", r.Path, r.ReplacedAt)
		}
	}
	if !reflect.DeepEqual(paths, replaced) {
		t.Fatalf("ListReplaced = %v, want %v", paths, replaced)
	}
	if content := mustRead(t, filepath.Join(list[2].Path, "db")); content != "third\n" {
		t.Errorf("newest replaced copy holds %q, want the data of the last restore", content)
	}

	removed, err := PruneReplaced(data, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(removed, replaced[:1]) {
		t.Errorf("PruneReplaced(2) removed %v, want %v", removed, replaced[:1])
	}
	wantLeft := []string{"data", "data.replaced-20200101T000000Z", filepath.Base(replaced[1]), filepath.Base(replaced[2]), "data.replaced-by-hand"}
	if got := dirNames(t, base); !reflect.DeepEqual(got, wantLeft) {
		t.Errorf("%s holds %v, want %v", base, got, wantLeft)
	}
	if removed, err := PruneReplaced(data, 0); err != nil || !reflect.DeepEqual(removed, replaced[1:]) {
		t.Errorf("PruneReplaced(0) = %v, %v; want %v", removed, err, replaced[1:])
	}
	if _, err := PruneReplaced(data, -1); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("PruneReplaced(-1) = %v, want ErrInvalidKeep", err)
	}

	// A data folder that is a symlink to a volume: the copies are beside
	// the volume's folder, where Restore put them.
	volume := filepath.Join(base, "volume")
	if err := os.Rename(data, volume); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, volume, data)
	r, err := Restore(ctx, root, "b1", data)
	if err != nil {
		t.Fatal(err)
	}
	if list, err := ListReplaced(data); err != nil || len(list) != 1 || list[0].Path != r {
		t.Errorf("ListReplaced(symlink) = %+v, %v; want %s", list, err, r)
	}
}
