package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fileState is what the additive promise is checked against: the bytes, and
// the file's identity and modification time, so a rewrite with identical
// bytes (a new inode from a rename, or an in-place write) is caught too.
type fileState struct {
	content string
	info    fs.FileInfo
}

// snapshot maps every file under dir, by slash-separated relative path, to
// its state.
func snapshot(t *testing.T, dir string) map[string]fileState {
	t.Helper()
	files := map[string]fileState{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = fileState{content: string(data), info: info}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// assertAdditive fails unless every file of before is in after, byte for
// byte and untouched, and returns the sorted names after added.
func assertAdditive(t *testing.T, before, after map[string]fileState) []string {
	t.Helper()
	for name, b := range before {
		a, ok := after[name]
		switch {
		case !ok:
			t.Errorf("%s was deleted", name)
		case a.content != b.content:
			t.Errorf("%s changed:\ngot  %q\nwant %q", name, a.content, b.content)
		case !os.SameFile(a.info, b.info) || !a.info.ModTime().Equal(b.info.ModTime()) || a.info.Mode() != b.info.Mode():
			t.Errorf("%s was rewritten (same bytes, but a new file, mode or modification time)", name)
		}
	}
	var added []string
	for name := range after {
		if _, ok := before[name]; !ok {
			added = append(added, name)
		}
	}
	slices.Sort(added)
	return added
}

// writeTree writes files, by slash-separated relative path, under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrationsAreAdditive checks the promise rollbacks rely on, strictly:
// migrating a data folder another version wrote keeps every existing file
// byte for byte and untouched, and only adds files.
func TestMigrationsAreAdditive(t *testing.T) {
	// createExtra stands for a migration of a later release, so the test
	// also covers a migration that adds a file.
	createExtra := func(dataDir string) error {
		return createIfMissing(filepath.Join(dataDir, "extra.json"), []byte("{}\n"))
	}
	ms := append(slices.Clone(migrations), migration{id: 3, name: "create-extra", up: createExtra})
	kept := map[string]string{
		"uploads/a.txt": "user file",
		// Records of a newer version, and names that are not records.
		"migrations/0099-from-a-newer-version.json": `{"id": 99, "name": "from-a-newer-version"}`,
		"migrations/README.txt":                     "not a record",
		"migrations/12-too-short.json":              "not a record",
		// A record write a crash interrupted: migration 3 is not applied.
		"migrations/.0003-create-extra.json.tmp-123": "{",
	}

	tests := []struct {
		name  string
		old   map[string]string
		added []string
	}{{
		name: "migration 1 recorded",
		old: map[string]string{
			notesDB:                                `{"notes": [{"id": 1, "text": "kept", "pinned": true}], "ownerFromNewerVersion": "x"}`,
			"migrations/0001-create-notes-db.json": `{"id": 1}`,
		},
		added: []string{"extra.json", "migrations/0003-create-extra.json"},
	}, {
		// The process died after migration 1 created the database but
		// before it was recorded: it runs again and keeps the database.
		name: "migration 1 applied but not recorded",
		old: map[string]string{
			notesDB: `{"notes": [{"id": 1, "text": "kept", "pinned": true}], "ownerFromNewerVersion": "x"}`,
		},
		added: []string{"extra.json", "migrations/0001-create-notes-db.json", "migrations/0003-create-extra.json"},
	}, {
		// A record under another name for id 1 still means applied: ids,
		// not names, identify migrations.
		name: "migration 1 recorded under an older name",
		old: map[string]string{
			notesDB:                         `{"notes": []}`,
			"migrations/0001-old-name.json": `{"id": 1}`,
		},
		added: []string{"extra.json", "migrations/0003-create-extra.json"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, kept)
			writeTree(t, dir, tt.old)
			before := snapshot(t, dir)

			if err := migrate(dir, ms); err != nil {
				t.Fatal(err)
			}
			after := snapshot(t, dir)
			if added := assertAdditive(t, before, after); !slices.Equal(added, tt.added) {
				t.Errorf("added %q, want %q", added, tt.added)
			}

			// A second boot has nothing left to do.
			if err := migrate(dir, ms); err != nil {
				t.Fatal(err)
			}
			if added := assertAdditive(t, after, snapshot(t, dir)); len(added) != 0 {
				t.Errorf("second migrate added %q, want nothing", added)
			}
		})
	}
}

// TestAddNoteKeepsUnknownFields checks that writing a note keeps the fields
// this version does not know, so a newer version's data survives a rollback.
func TestAddNoteKeepsUnknownFields(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		notesDB: `{"notes": [{"id": 1, "text": "kept", "pinned": true}], "ownerFromNewerVersion": "x"}`,
	})
	if err := migrate(dir, migrations); err != nil {
		t.Fatal(err)
	}
	if _, err := newServer(config{dataDir: dir}).appendNote("added"); err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(filepath.Join(dir, notesDB))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"pinned": true`, `"ownerFromNewerVersion": "x"`, `"text": "added"`} {
		if !bytes.Contains(db, []byte(want)) {
			t.Errorf("%s lost %s after adding a note:\n%s", notesDB, want, db)
		}
	}
}

func TestMigrateFreshFolder(t *testing.T) {
	version = "v9.9.9"
	t.Cleanup(func() { version = "dev" })
	dir := filepath.Join(t.TempDir(), "data")
	if err := migrate(dir, migrations); err != nil {
		t.Fatal(err)
	}

	var want []string
	for _, m := range migrations {
		want = append(want, "migrations/"+recordName(m))
	}
	want = append(want, notesDB)
	slices.Sort(want)
	files := snapshot(t, dir)
	if got := slices.Sorted(maps.Keys(files)); !slices.Equal(got, want) {
		t.Fatalf("files = %q, want %q", got, want)
	}
	if got := recordName(migrations[0]); got != "0001-create-notes-db.json" {
		t.Errorf("record name of migration 1 = %q, want 0001-create-notes-db.json", got)
	}
	for _, m := range migrations {
		name := "migrations/" + recordName(m)
		var rec migrationRecord
		if err := json.Unmarshal([]byte(files[name].content), &rec); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rec.ID != m.id || rec.Name != m.name || rec.Version != "v9.9.9" || rec.AppliedAt == "" {
			t.Errorf("%s = %+v, want id %d, name %s, version v9.9.9 and appliedAt", name, rec, m.id, m.name)
		}
	}
}

func TestAppliedMigrations(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		dirs  []string
		want  []int
	}{
		{name: "empty"},
		{name: "records", files: []string{"0001-a.json", "0002-b.json", "10000-big.json"}, want: []int{1, 2, 10000}},
		{name: "newer unknown id", files: []string{"0001-a.json", "0042-from-v9.json"}, want: []int{1, 42}},
		{
			name:  "not records",
			files: []string{"1-short.json", "0001-a.txt", "0001.json", "x0001-a.json", "notes", ".0002-b.json.tmp-1"},
			dirs:  []string{"0003-folder.json"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, name := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), nil, 0o640); err != nil {
					t.Fatal(err)
				}
			}
			for _, name := range tt.dirs {
				if err := os.Mkdir(filepath.Join(dir, name), 0o750); err != nil {
					t.Fatal(err)
				}
			}
			applied, err := appliedMigrations(dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(maps.Keys(applied)); !slices.Equal(got, tt.want) {
				t.Errorf("applied = %v, want %v", got, tt.want)
			}
		})
	}

	applied, err := appliedMigrations(filepath.Join(t.TempDir(), "missing"))
	if err != nil || len(applied) != 0 {
		t.Errorf("missing folder: applied = %v, err = %v, want none and no error", applied, err)
	}
}
