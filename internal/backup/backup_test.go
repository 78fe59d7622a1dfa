package backup

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/backup/manifest"
)

func makeBackups(t *testing.T, root string, ids ...string) {
	t.Helper()
	src := tempDir(t)
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
	root := tempDir(t)
	if list, err := List(filepath.Join(root, "missing")); err != nil || len(list) != 0 {
		t.Fatalf("List(missing) = %v, %v", list, err)
	}
	makeBackups(t, root, "b1", "b2", "b3")
	// A partial folder that even has a manifest, a folder without one, a
	// folder with a broken one, a truncated one, a backup whose cold pass
	// was interrupted, and a stray file.
	partial := filepath.Join(root, ".b4"+partialSuffix)
	mustMkdir(t, partial)
	data := mustRead(t, filepath.Join(root, "b1", ManifestName))
	mustWrite(t, filepath.Join(partial, ManifestName), data, 0o600)
	mustMkdir(t, filepath.Join(root, "no-manifest"))
	mustMkdir(t, filepath.Join(root, "broken"))
	mustWrite(t, filepath.Join(root, "broken", ManifestName), "{", 0o600)
	mustMkdir(t, filepath.Join(root, "truncated"))
	mustWrite(t, filepath.Join(root, "truncated", ManifestName), data[:len(data)/2], 0o600)
	if err := os.Rename(filepath.Join(root, "b3", ManifestName), filepath.Join(root, "b3", finishingName)); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, "stray"), "", 0o600)

	list, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(list); !reflect.DeepEqual(got, []string{"b1", "b2"}) {
		t.Errorf("List = %v, want [b1 b2]", got)
	}
	if list[1].CreatedAt.Before(list[0].CreatedAt) {
		t.Errorf("List not oldest first: %v", list)
	}
	for id, want := range map[string]error{"b3": ErrIncomplete, "truncated": ErrIncomplete, "nothing": ErrNotFound, ".b4" + partialSuffix: ErrInvalidID} {
		if err := Verify(context.Background(), root, id); !errors.Is(err, want) {
			t.Errorf("Verify(%s) = %v, want %v", id, err, want)
		}
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
		// Keep counts the protected ones: 2 in total.
		{"keep 2 protect oldest", 2, []string{"b1"}, []string{"b2", "b3", "b4"}, []string{"b1", "b5"}},
		{"protect one already kept", 2, []string{"b5", "unknown"}, []string{"b1", "b2", "b3"}, []string{"b4", "b5"}},
		{"keep 0", 0, nil, []string{"b1", "b2", "b3", "b4", "b5"}, []string{}},
		{"keep 0 protect two", 0, []string{"b2", "b4"}, []string{"b1", "b3", "b5"}, []string{"b2", "b4"}},
		{"keep more than exist", 10, nil, nil, []string{"b1", "b2", "b3", "b4", "b5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := tempDir(t)
			makeBackups(t, root, "b1", "b2", "b3", "b4", "b5")
			removed, err := Prune(root, Retention{Keep: tt.keep, Protect: tt.protect})
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

// Retention keeps the backup of the last known good version however old
// it is, and removing backups never damages the ones left: their files
// are hard links shared with the removed ones.
func TestPruneKeepsLastKnownGoodAndSharedFiles(t *testing.T) {
	trustCtimes(t)
	src, root := tempDir(t), tempDir(t)
	writeFiles(t, src, 5)
	for _, id := range []string{"lkg", "u2", "u3", "u4", "u5", "u6", "u7"} {
		if _, err := Create(context.Background(), src, root, id); err != nil {
			t.Fatal(err)
		}
		overwriteInPlace(t, filepath.Join(src, "f00"), "changed for "+id)
	}
	removed, err := Prune(root, Retention{Keep: 3, Protect: []string{"lkg", "u7"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(removed, []string{"u2", "u3", "u4", "u5"}) {
		t.Errorf("removed = %v", removed)
	}
	list, err := List(root)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(list); !reflect.DeepEqual(got, []string{"lkg", "u6", "u7"}) {
		t.Errorf("left = %v, want [lkg u6 u7]", got)
	}
	for _, id := range ids(list) {
		if err := Verify(context.Background(), root, id); err != nil {
			t.Errorf("Verify %s after prune: %v", id, err)
		}
	}
	// Pruning again, even to nothing, never touches the protected one.
	if removed, err := Prune(root, Retention{Protect: []string{"lkg"}}); err != nil || !reflect.DeepEqual(removed, []string{"u6", "u7"}) {
		t.Errorf("Prune(0, lkg) = %v, %v", removed, err)
	}
	if err := Verify(context.Background(), root, "lkg"); err != nil {
		t.Errorf("Verify lkg: %v", err)
	}
}

func TestPruneCleansLeftoverDeletionsAndLeavesPartials(t *testing.T) {
	root := tempDir(t)
	makeBackups(t, root, "b1")
	doomed := filepath.Join(root, ".b0"+deletingSuffix)
	mustMkdir(t, filepath.Join(doomed, DataDir, "ro"))
	if err := os.Chmod(filepath.Join(doomed, DataDir, "ro"), 0o500); err != nil {
		t.Fatal(err)
	}
	partial := filepath.Join(root, ".b2"+partialSuffix)
	mustMkdir(t, partial)

	removed, err := Prune(root, Retention{Keep: 1})
	if err != nil || len(removed) != 0 {
		t.Fatalf("Prune = %v, %v", removed, err)
	}
	if got := dirNames(t, root); !reflect.DeepEqual(got, []string{".b2" + partialSuffix, "b1"}) {
		t.Errorf("root holds %v, want the partial and b1", got)
	}
	if _, err := Prune(root, Retention{Keep: -1}); !errors.Is(err, ErrInvalidKeep) {
		t.Errorf("Prune(-1) err = %v, want ErrInvalidKeep", err)
	}
}

// Manifests written before version 2 (encoding/json, entries before
// totals, no identities) still list, verify and serve as a base.
func TestVersion1ManifestStillWorks(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	writeFiles(t, src, 3)
	b, err := Create(context.Background(), src, root, "old")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Read(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	type v1Entry struct {
		Path    string    `json:"path"`
		Type    string    `json:"type"`
		Size    int64     `json:"size,omitempty"`
		Mode    string    `json:"mode"`
		ModTime time.Time `json:"mtime"`
		UID     int       `json:"uid"`
		GID     int       `json:"gid"`
		SHA256  string    `json:"sha256,omitempty"`
	}
	v1 := struct {
		Kind      string          `json:"kind"`
		Version   int             `json:"version"`
		ID        string          `json:"id"`
		Source    string          `json:"source"`
		CreatedAt time.Time       `json:"createdAt"`
		Entries   []v1Entry       `json:"entries"`
		Totals    manifest.Totals `json:"totals"`
	}{manifest.Kind, 1, "old", src, m.CreatedAt, nil, m.Totals}
	for _, e := range m.Entries {
		v1.Entries = append(v1.Entries, v1Entry{e.Path, e.Type, e.Size, e.Mode, e.ModTime, e.UID, e.GID, e.SHA256})
	}
	data, err := json.MarshalIndent(v1, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Path, ManifestName), append(data, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}

	list, err := List(root)
	if err != nil || len(list) != 1 || list[0].Files != 3 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if err := Verify(context.Background(), root, "old"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	b2, err := Create(context.Background(), src, root, "new")
	if err != nil {
		t.Fatal(err)
	}
	if b2.Base != "old" || b2.Hashed != 3 || b2.Linked != 3 || b2.Copied != 0 {
		t.Errorf("incremental on a v1 base: %+v, want 3 files hashed and linked", b2)
	}
}
