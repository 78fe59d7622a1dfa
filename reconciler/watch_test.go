package reconciler

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeWatcher records what a watchSet asks of fsnotify.
type fakeWatcher struct {
	watched       map[string]bool
	adds, removes []string
	// onAdd, if set, runs after a watch is added: what happens on disk
	// while the set moves its watches.
	onAdd func(path string)
}

func newFakeWatcher() *fakeWatcher { return &fakeWatcher{watched: map[string]bool{}} }

func (f *fakeWatcher) Add(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	f.watched[path] = true
	f.adds = append(f.adds, path)
	if f.onAdd != nil {
		f.onAdd(path)
	}
	return nil
}

func (f *fakeWatcher) Remove(path string) error {
	delete(f.watched, path)
	f.removes = append(f.removes, path)
	return nil
}

func (f *fakeWatcher) WatchList() []string { return slices.Collect(maps.Keys(f.watched)) }

func TestWatchSetResolvesChains(t *testing.T) {
	link := func(t *testing.T, target, name string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, name); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, root string)
		// Paths relative to root; "." is root itself.
		folders, names []string
	}{{
		name:    "plain file",
		setup:   func(t *testing.T, root string) { writeLoopFile(t, filepath.Join(root, "etc/desired.yaml"), "x") },
		folders: []string{"etc"},
		names:   []string{"etc/desired.yaml"},
	}, {
		name:    "missing file",
		setup:   func(t *testing.T, root string) { os.MkdirAll(filepath.Join(root, "etc"), 0o755) },
		folders: []string{"etc"},
		names:   []string{"etc/desired.yaml"},
	}, {
		name:    "missing folder: its parent is watched for its return",
		setup:   func(t *testing.T, root string) {},
		folders: []string{"."},
		names:   []string{"etc", "etc/desired.yaml"},
	}, {
		name: "ConfigMap mount",
		setup: func(t *testing.T, root string) {
			writeLoopFile(t, filepath.Join(root, "etc/..2026_11_30_10_00_00.1/desired.yaml"), "x")
			link(t, "..2026_11_30_10_00_00.1", filepath.Join(root, "etc/..data"))
			link(t, "..data/desired.yaml", filepath.Join(root, "etc/desired.yaml"))
		},
		folders: []string{"etc", "etc/..2026_11_30_10_00_00.1"},
		names:   []string{"etc/..2026_11_30_10_00_00.1/desired.yaml", "etc/..data", "etc/desired.yaml"},
	}, {
		name: "absolute link through a linked folder",
		setup: func(t *testing.T, root string) {
			writeLoopFile(t, filepath.Join(root, "repo/hosts/web1/desired.yaml"), "x")
			link(t, "repo/hosts", filepath.Join(root, "hosts"))
			link(t, filepath.Join(root, "hosts/web1/desired.yaml"), filepath.Join(root, "etc/desired.yaml"))
		},
		folders: []string{".", "etc", "repo/hosts/web1"},
		names:   []string{"etc/desired.yaml", "hosts", "repo/hosts/web1/desired.yaml"},
	}, {
		name: "dangling link: the missing target's parent is watched",
		setup: func(t *testing.T, root string) {
			link(t, "../gone/desired.yaml", filepath.Join(root, "etc/desired.yaml"))
		},
		folders: []string{".", "etc"},
		names:   []string{"etc/desired.yaml", "gone", "gone/desired.yaml"},
	}, {
		name: "link loop: what was met is watched",
		setup: func(t *testing.T, root string) {
			link(t, "loop", filepath.Join(root, "etc/desired.yaml"))
			link(t, "desired.yaml", filepath.Join(root, "etc/loop"))
		},
		folders: []string{"etc"},
		names:   []string{"etc/desired.yaml", "etc/loop"},
	}, {
		name:    "a file where the folder should be",
		setup:   func(t *testing.T, root string) { writeLoopFile(t, filepath.Join(root, "etc"), "x") },
		folders: []string{"."},
		names:   []string{"etc", "etc/desired.yaml"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := realPath(t, t.TempDir())
			tt.setup(t, root)
			ws := newWatchSet([]string{filepath.Join(root, "etc/desired.yaml")})
			if _, _, err := ws.sync(newFakeWatcher()); err != nil {
				t.Fatal(err)
			}
			rel := func(paths []string) []string {
				var out []string
				for _, p := range paths {
					r, err := filepath.Rel(root, p)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, r)
				}
				slices.Sort(out)
				return out
			}
			if got := rel(ws.folders()); !slices.Equal(got, tt.folders) {
				t.Errorf("folders = %q, want %q", got, tt.folders)
			}
			if got := rel(slices.Collect(maps.Keys(ws.names))); !slices.Equal(got, tt.names) {
				t.Errorf("names = %q, want %q", got, tt.names)
			}
		})
	}
}

// inotify follows the folder, not its name: when an ancestor is renamed
// away and the path recreated, the old watch still answers to the name
// but watches the moved folder. The set tells them apart by identity.
func TestWatchSetRewatchesAFolderReplacedUnderItsName(t *testing.T) {
	root := realPath(t, t.TempDir())
	config := filepath.Join(root, "app", "config")
	writeLoopFile(t, filepath.Join(config, "desired.yaml"), "x")
	ws := newWatchSet([]string{filepath.Join(config, "desired.yaml")})
	w := newFakeWatcher()
	if added, _, err := ws.sync(w); err != nil || !slices.Equal(added, []string{config}) {
		t.Fatalf("sync = %q, %v", added, err)
	}
	// Nothing changed: no watch is touched.
	if added, removed, err := ws.sync(w); err != nil || added != nil || removed != nil || len(w.adds) != 1 {
		t.Fatalf("idle sync = %q, %q, %v; adds %q", added, removed, err, w.adds)
	}

	if err := os.Rename(filepath.Join(root, "app"), filepath.Join(root, "app.old")); err != nil {
		t.Fatal(err)
	}
	writeLoopFile(t, filepath.Join(config, "desired.yaml"), "y")
	added, _, err := ws.sync(w)
	if err != nil || !slices.Equal(added, []string{config}) {
		t.Fatalf("sync after the ancestor was replaced = %q, %v", added, err)
	}
	if !slices.Equal(w.removes, []string{config}) {
		t.Errorf("removes = %q, want the stale watch removed first", w.removes)
	}
}

func TestWatchSetDigest(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "desired.yaml")
	ws := newWatchSet([]string{file})
	missing := ws.digest()
	writeLoopFile(t, file, "")
	empty := ws.digest()
	if empty == missing {
		t.Error("an empty file sums as a missing one")
	}
	writeLoopFile(t, file, "spec: {version: v1.0.0}\n")
	v1 := ws.digest()
	overwriteInPlace(t, file, "spec: {version: v1.0.0}\n")
	if ws.digest() != v1 {
		t.Error("the same content written again changed the digest")
	}
	writeLoopFile(t, file, "spec: {version: v1.1.0}\n")
	if ws.digest() == v1 {
		t.Error("a changed version did not change the digest")
	}
	// Past 64 KiB only the size is summed.
	big := strings.Repeat("#", digestLimit)
	writeLoopFile(t, file, big+"a")
	b1 := ws.digest()
	writeLoopFile(t, file, big+"b")
	if ws.digest() != b1 {
		t.Error("a byte past 64 KiB was read")
	}
	writeLoopFile(t, file, big+"bb")
	if ws.digest() == b1 {
		t.Error("a longer file did not change the digest")
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if ws.digest() != missing {
		t.Error("a removed file does not sum as missing")
	}
}

// A folder created after the set resolved its chain but before it watched
// the folder's parent raises no event: the set resolves again after adding
// a watch, so it is not left watching the parent.
func TestWatchSetSeesAFolderCreatedWhileWatchingItsParent(t *testing.T) {
	root := realPath(t, t.TempDir())
	etc := filepath.Join(root, "etc")
	dir := filepath.Join(etc, "better-paas")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	ws := newWatchSet([]string{filepath.Join(dir, "desired.yaml")})
	w := newFakeWatcher()
	w.onAdd = func(path string) {
		if path == etc {
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Error(err)
			}
		}
	}
	added, removed, err := ws.sync(w)
	if err != nil {
		t.Fatal(err)
	}
	if got := ws.folders(); !slices.Equal(got, []string{dir}) {
		t.Errorf("folders = %q, want %q", got, []string{dir})
	}
	if !slices.Equal(added, []string{etc, dir}) || !slices.Equal(removed, []string{etc}) {
		t.Errorf("added %q, removed %q", added, removed)
	}
}
