package main

import (
	"bytes"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snapshot maps every file under dir to its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		files[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestMigrationsAreAdditive checks the promise rollbacks rely on: migrating
// a data folder an older version wrote keeps every existing file byte for
// byte, except that the migrations log only grows.
func TestMigrationsAreAdditive(t *testing.T) {
	dir := t.TempDir()
	old := map[string]string{
		notesDB:         `{"notes": [{"id": 1, "text": "kept", "pinned": true}], "ownerFromNewerVersion": "x"}`,
		"uploads/a.txt": "user file",
		migrationsLog:   "1 create-notes-db v1.0.0 2024-01-01T00:00:00Z\n99 from-a-newer-version v9.0.0 2024-01-02T00:00:00Z\n",
	}
	for name, content := range old {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
	}

	if err := migrate(dir, migrations); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, dir)
	for name, content := range old {
		if name == migrationsLog {
			if !strings.HasPrefix(after[name], content) {
				t.Errorf("%s was rewritten, not appended to:\n%s", name, after[name])
			}
			continue
		}
		if after[name] != content {
			t.Errorf("%s changed:\ngot  %q\nwant %q", name, after[name], content)
		}
	}

	// A second boot has nothing left to do.
	if err := migrate(dir, migrations); err != nil {
		t.Fatal(err)
	}
	if again := snapshot(t, dir); !maps.Equal(again, after) {
		t.Errorf("second migrate changed the data folder:\nbefore %v\nafter  %v", after, again)
	}

	// Writing a note keeps the fields this version does not know.
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
	dir := filepath.Join(t.TempDir(), "data")
	if err := migrate(dir, migrations); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(dir, migrationsLog))
	if err != nil {
		t.Fatal(err)
	}
	if lines := bytes.Count(log, []byte("\n")); lines != len(migrations) {
		t.Errorf("%s has %d lines, want one per migration (%d):\n%s", migrationsLog, lines, len(migrations), log)
	}
	if _, err := os.Stat(filepath.Join(dir, notesDB)); err != nil {
		t.Errorf("migration 1 did not create %s: %v", notesDB, err)
	}
}
