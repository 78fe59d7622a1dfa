package preflight

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildEnv(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{"mytool": 0o755, "plain": 0o644} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	path := "PATH=" + bin + ":/usr/bin:/bin"
	tests := []struct {
		name     string
		env      []string
		commands [][]string
		want     []string // substrings of the error, in order; none: nil
		wantIs   error
	}{
		{"fine, HOME to be created", []string{"HOME=/nowhere", "HOME=" + filepath.Join(dir, "state", "home"), path},
			[][]string{{"mytool", "build"}, {"sh"}, {"./build.sh"}}, nil, nil},
		{"program only on the build PATH", []string{"PATH=/usr/bin:/bin", "HOME=" + dir, path}, [][]string{{"mytool"}}, nil, nil},
		{"HOME unset", []string{path}, nil, []string{"HOME is not set", "build.env"}, ErrBuildEnv},
		{"HOME empty", []string{"HOME=", path}, nil, []string{"HOME is not set"}, ErrBuildEnv},
		{"HOME relative", []string{"HOME=home", path}, nil, []string{"HOME=home is not an absolute path"}, ErrBuildEnv},
		{"GOCACHE under a file", []string{"HOME=" + dir, "GOCACHE=" + filepath.Join(file, "go-build"), path}, nil,
			[]string{"GOCACHE=" + filepath.Join(file, "go-build"), file + " is not a folder"}, ErrBuildEnv},
		{"not on the build PATH", []string{"HOME=" + dir, "PATH=/usr/bin:/bin"}, [][]string{{"mytool"}},
			[]string{`cannot find build command "mytool" on the build's PATH (/usr/bin:/bin)`, "build.env PATH"}, ErrCommandNotFound},
		{"absolute, missing", []string{"HOME=" + dir, path}, [][]string{{filepath.Join(bin, "gone")}},
			[]string{"gone: no such file"}, ErrCommandNotFound},
		{"absolute, not executable", []string{"HOME=" + dir, path}, [][]string{{filepath.Join(bin, "plain")}},
			[]string{"plain", "not executable"}, ErrCommandNotExecutable},
		{"empty command", []string{"HOME=" + dir, path}, [][]string{{}}, []string{"build command #1: it is empty"}, ErrCommandNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := BuildEnv(tt.env, tt.commands)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("BuildEnv = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("BuildEnv = %v, want it to wrap %v", err, tt.wantIs)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestBuildEnvCreatesNothing(t *testing.T) {
	home := filepath.Join(t.TempDir(), "state", "home")
	if err := BuildEnv([]string{"HOME=" + home, "PATH=/usr/bin:/bin"}, [][]string{{"sh"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(home)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("BuildEnv created %s: %v", filepath.Dir(home), err)
	}
}
