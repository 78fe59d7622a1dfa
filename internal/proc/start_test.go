package proc

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestCheckDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		wantMsg string // "" = no error
		wantIs  error
	}{
		{"daemon's folder", "", "", nil},
		{"existing folder", dir, "", nil},
		{"missing", filepath.Join(dir, "gone"),
			"cannot use working folder: stat " + filepath.Join(dir, "gone") + ": no such file or directory", fs.ErrNotExist},
		{"a file", file, "cannot use working folder: " + file + " is not a folder: invalid argument", fs.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckDir(tt.dir)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("CheckDir(%q) = %v", tt.dir, err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantMsg || !errors.Is(err, tt.wantIs) {
				t.Errorf("CheckDir(%q) = %v, want %q wrapping %v", tt.dir, err, tt.wantMsg, tt.wantIs)
			}
		})
	}
}

func TestLookPath(t *testing.T) {
	bin := t.TempDir()
	work := t.TempDir()
	write := func(path string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(bin, "tool"), 0o755)
	write(filepath.Join(work, "build.sh"), 0o755)
	write(filepath.Join(work, "scripts", "hook"), 0o755)
	write(filepath.Join(work, "plain.txt"), 0o644)
	t.Setenv("PATH", bin)

	tests := []struct {
		name    string
		argv0   string
		dir     string
		want    string // the path, when wantMsg is ""
		wantMsg string
		wantIs  error
	}{
		{"in PATH", "tool", work, filepath.Join(bin, "tool"), "", nil},
		{"PATH ignores dir", "build.sh", work, "", "executable file not found in $PATH", exec.ErrNotFound},
		{"relative to dir", "./build.sh", work, filepath.Join(work, "build.sh"), "", nil},
		{"relative without dot", "scripts/hook", work, filepath.Join(work, "scripts", "hook"), "", nil},
		{"cleaned", "./scripts/../build.sh", work, filepath.Join(work, "build.sh"), "", nil},
		{"absolute ignores dir", filepath.Join(bin, "tool"), work, filepath.Join(bin, "tool"), "", nil},
		{"missing", "./missing.sh", work, "",
			"stat " + filepath.Join(work, "missing.sh") + ": no such file or directory", fs.ErrNotExist},
		{"not executable", "./plain.txt", work, "",
			filepath.Join(work, "plain.txt") + " is not executable (chmod +x it): permission denied", fs.ErrPermission},
		{"folder", work + "/", "", "", work + " is a folder: invalid argument", fs.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LookPath(tt.argv0, tt.dir)
			if tt.wantMsg == "" {
				if err != nil || got != tt.want {
					t.Errorf("LookPath(%q, %q) = %q, %v; want %q", tt.argv0, tt.dir, got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.wantMsg || !errors.Is(err, tt.wantIs) {
				t.Errorf("LookPath(%q, %q) = %q, %v; want error %q wrapping %v", tt.argv0, tt.dir, got, err, tt.wantMsg, tt.wantIs)
			}
		})
	}
}

func TestLookPathRelativeDirIsMadeAbsolute(t *testing.T) {
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "run"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Dir(work))
	got, err := LookPath("./run", filepath.Base(work))
	if err != nil || got != filepath.Join(work, "run") {
		t.Errorf("LookPath with a relative dir = %q, %v; want %q", got, err, filepath.Join(work, "run"))
	}
}
