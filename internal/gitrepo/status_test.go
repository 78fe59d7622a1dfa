package gitrepo

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLocalModifications(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []string
	}{
		{"clean with untracked and ignored files", func(t *testing.T, dir string) {
			addPrecious(t, dir)
			writeFile(t, dir, "notes-untracked.txt", "scratch", 0o644)
		}, nil},
		{"modified", func(t *testing.T, dir string) {
			writeFile(t, dir, "main.go", "package main // local edit\n", 0o644)
		}, []string{"main.go"}},
		{"same size edit", func(t *testing.T, dir string) {
			// Same length as the original, so only content hashing catches it.
			writeFile(t, dir, "main.go", "package main // v9.9.9\n", 0o644)
		}, []string{"main.go"}},
		{"deleted", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, "old.txt")); err != nil {
				t.Fatal(err)
			}
		}, []string{"old.txt"}},
		{"executable bit", func(t *testing.T, dir string) {
			if err := os.Chmod(filepath.Join(dir, "README.md"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, []string{"README.md"}},
		{"replaced by a symlink", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "README.md")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("main.go", p); err != nil {
				t.Fatal(err)
			}
		}, []string{"README.md"}},
		{"touched without change", func(t *testing.T, dir string) {
			future := time.Now().Add(time.Hour)
			if err := os.Chtimes(filepath.Join(dir, "main.go"), future, future); err != nil {
				t.Fatal(err)
			}
		}, nil},
		{"staged change", func(t *testing.T, dir string) {
			writeFile(t, dir, "main.go", "package main // staged\n", 0o644)
			git(t, dir, "add", "main.go")
		}, []string{"main.go"}},
		{"staged new file", func(t *testing.T, dir string) {
			writeFile(t, dir, "added.txt", "new", 0o644)
			git(t, dir, "add", "added.txt")
		}, []string{"added.txt"}},
		{"staged deletion, file kept", func(t *testing.T, dir string) {
			git(t, dir, "rm", "-q", "--cached", "old.txt")
		}, []string{"old.txt"}},
		{"intent to add", func(t *testing.T, dir string) {
			writeFile(t, dir, "later.txt", "later", 0o644)
			git(t, dir, "add", "-N", "later.txt")
		}, []string{"later.txt"}},
		{"skip-worktree, edited", func(t *testing.T, dir string) {
			// git does not look at the file of a skip-worktree entry.
			git(t, dir, "update-index", "--skip-worktree", "main.go")
			writeFile(t, dir, "main.go", "package main // sparse edit\n", 0o644)
		}, nil},
		{"skip-worktree, staged change", func(t *testing.T, dir string) {
			blob := gitInput(t, dir, "package main // staged\n", "hash-object", "-w", "--stdin")
			gitInput(t, dir, "100644 "+blob+"\tmain.go\n", "update-index", "--index-info")
			git(t, dir, "update-index", "--skip-worktree", "main.go")
		}, []string{"main.go"}},
		{"conflicted, file unchanged", func(t *testing.T, dir string) {
			blob := git(t, dir, "rev-parse", "HEAD:main.go")
			gitInput(t, dir, "0 "+strings.Repeat("0", 40)+"\tmain.go\n"+
				"100644 "+blob+" 1\tmain.go\n100644 "+blob+" 2\tmain.go\n100644 "+blob+" 3\tmain.go\n", "update-index", "--index-info")
		}, []string{"main.go"}},
		{"deleted from the index and the work tree", func(t *testing.T, dir string) {
			git(t, dir, "rm", "-q", "old.txt")
		}, []string{"old.txt"}},
		{"several, sorted", func(t *testing.T, dir string) {
			writeFile(t, dir, "run.sh", "#!/bin/sh\nexit 1\n", 0o755)
			writeFile(t, dir, "frontend/src/app.js", "changed", 0o644)
			if err := os.Remove(filepath.Join(dir, ".gitignore")); err != nil {
				t.Fatal(err)
			}
		}, []string{".gitignore", "frontend/src/app.js", "run.sh"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			tt.setup(t, f.install)
			got, err := open(t, f.install).LocalModifications()
			if err != nil {
				t.Fatal(err)
			}
			if !(len(got) == 0 && len(tt.want) == 0) && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LocalModifications = %q, want %q", got, tt.want)
			}
		})
	}
}

// gitInput runs git in dir with input on its standard input and returns
// its output, trimmed.
func gitInput(t *testing.T, dir, input string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, gitEnv(), strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// A file rewritten in the same instant the index was written must be
// hashed, not trusted on size and mtime ("racy git").
func TestLocalModificationsRacyEdit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := filepath.Join(f.install, "main.go")
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	// Same size, then give the file the index's own mtime.
	writeFile(t, f.install, "main.go", "package main // v0.0.0\n", 0o644)
	ifi, err := os.Stat(filepath.Join(f.install, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, ifi.ModTime(), ifi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if nfi, _ := os.Stat(p); nfi.Size() != fi.Size() {
		t.Fatalf("fixture: sizes differ (%d vs %d)", nfi.Size(), fi.Size())
	}
	got, err := open(t, f.install).LocalModifications()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, []string{"main.go"}) {
		t.Errorf("LocalModifications = %q, want [main.go]", got)
	}
}

func TestLocalModificationsHonoursCoreFileMode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	git(t, f.install, "config", "core.fileMode", "false")
	if err := os.Chmod(filepath.Join(f.install, "run.sh"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := open(t, f.install).LocalModifications()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("with core.fileMode=false, LocalModifications = %q, want none", got)
	}
}

// The git CLI is the reference: both must agree on a messy tree.
func TestLocalModificationsAgreesWithGit(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	addPrecious(t, f.install)
	writeFile(t, f.install, "main.go", "edited\n", 0o644)
	writeFile(t, f.install, "README.md", "staged\n", 0o644)
	git(t, f.install, "add", "README.md")
	if err := os.Remove(filepath.Join(f.install, "old.txt")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, f.install, "untracked.txt", "u", 0o644)
	got, err := open(t, f.install).LocalModifications()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"README.md", "main.go", "old.txt"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LocalModifications = %q, want %q", got, want)
	}
	status := git(t, f.install, "status", "--porcelain", "--untracked-files=no")
	if status != "M  README.md\n M main.go\n D old.txt" {
		t.Errorf("git status disagrees with the fixture:\n%s", status)
	}
}
