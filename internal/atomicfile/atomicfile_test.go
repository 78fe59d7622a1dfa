package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileReplacesContentAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.yaml")
	for _, content := range []string{"first\n", "second\n"} {
		if err := WriteFile(path, []byte(content), 0o640); err != nil {
			t.Fatalf("WriteFile: %v", err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != content {
			t.Fatalf("content = %q, want %q", got, content)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only status.yaml: %v", len(entries), entries)
	}
}

func TestWriteFileIntoMissingFolderFailsWithoutSideEffects(t *testing.T) {
	dir := t.TempDir()
	err := WriteFile(filepath.Join(dir, "missing", "f"), []byte("x"), 0o600)
	if err == nil {
		t.Fatal("WriteFile into a missing folder succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 0 {
		t.Errorf("left entries behind: %v", entries)
	}
}

func TestRename(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if err := os.WriteFile(a, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Rename(a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Errorf("old name still exists: %v", err)
	}
	if got, _ := os.ReadFile(b); string(got) != "x" {
		t.Errorf("new name holds %q", got)
	}
}

// TestWriteFileIfChecksBeforeTheRename: a failing check leaves path as it
// was and no temporary file behind; a passing one writes.
func TestWriteFileIfChecksBeforeTheRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "desired.yaml")
	if err := WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stale := errors.New("stale")
	if err := WriteFileIf(path, []byte("new\n"), 0o644, func() error { return stale }); !errors.Is(err, stale) {
		t.Fatalf("WriteFileIf = %v, want the check's error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("content = %q after a failed check", b)
	}
	if err := WriteFileIf(path, []byte("new\n"), 0o644, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new\n" {
		t.Errorf("content = %q after a passing check", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only desired.yaml", len(entries))
	}
}

// TestCreateFileRefusesAnExistingFile: the first create wins with its
// mode, the second gets fs.ErrExist and changes nothing.
func TestCreateFileRefusesAnExistingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "api-token")
	if err := CreateFile(path, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := CreateFile(path, []byte("second\n"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second CreateFile = %v, want fs.ErrExist", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat = %v %v, want mode 0600", fi, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "first\n" {
		t.Errorf("content = %q, want the first", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("folder holds %d entries, want only api-token", len(entries))
	}
}
