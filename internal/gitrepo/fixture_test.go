package gitrepo

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// gitEnv isolates the git CLI used to build fixtures from the machine's
// global and system configuration, so fixtures are identical everywhere.
func gitEnv() []string {
	return append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Fixture",
		"GIT_AUTHOR_EMAIL=fixture@example.invalid",
		"GIT_COMMITTER_NAME=Fixture",
		"GIT_COMMITTER_EMAIL=fixture@example.invalid",
		"GIT_TERMINAL_PROMPT=0",
	)
}

// git runs the git CLI in dir and returns its trimmed standard output.
func git(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// writeFile creates path (and its parents) inside dir with content.
func writeFile(t testing.TB, dir, rel, content string, perm os.FileMode) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	// WriteFile keeps the mode of an existing file; force it for fixtures.
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
}

// mergeConflict leaves the repository at dir, on branch main, in a merge
// that conflicts at path: branch other and main both change it.
func mergeConflict(t *testing.T, dir, path string) {
	t.Helper()
	git(t, dir, "checkout", "-q", "-b", "other")
	writeFile(t, dir, path, "other\n", 0o644)
	git(t, dir, "commit", "-q", "-am", "other")
	git(t, dir, "checkout", "-q", "main")
	writeFile(t, dir, path, "main\n", 0o644)
	git(t, dir, "commit", "-q", "-am", "main")
	if _, err := gitTry(dir, "merge", "-q", "other"); err == nil {
		t.Fatal("the merge did not conflict")
	}
}

const fixtureGitignore = "data/\nserver\nserver.*\nfrontend/dist*\n.env\n"

// fixture is a bare origin plus a clone of it used as the install.
type fixture struct {
	upstream string // non-bare repository where fixture commits are made
	origin   string // bare repository, the install's "origin"
	install  string // clone of origin, checked out at v1.0.0
	commits  map[string]string
}

// buildFixture builds, under root:
//
//	v1.0.0 (lightweight): README.md, main.go, .gitignore, old.txt, run.sh (0755), frontend/src/app.js
//	v1.1.0 (annotated):   main.go modified, old.txt deleted, docs/guide/new.md added,
//	                      run.sh content changed, frontend/src/app.js modified
//	v1.2.0 (annotated):   README.md modified, pkg/lib.go added
//
// and a clone at v1.0.0 (detached) as the install.
func buildFixture(t testing.TB, root string) *fixture {
	t.Helper()
	f := &fixture{
		upstream: filepath.Join(root, "upstream"),
		origin:   filepath.Join(root, "origin.git"),
		install:  filepath.Join(root, "install"),
		commits:  map[string]string{},
	}
	if err := os.MkdirAll(f.upstream, 0o755); err != nil {
		t.Fatal(err)
	}
	u := f.upstream
	git(t, u, "init", "-q", "--template=", "-b", "main")
	writeFile(t, u, ".gitignore", fixtureGitignore, 0o644)
	writeFile(t, u, "README.md", "# app v1.0.0\n", 0o644)
	writeFile(t, u, "main.go", "package main // v1.0.0\n", 0o644)
	writeFile(t, u, "old.txt", "removed in v1.1.0\n", 0o644)
	writeFile(t, u, "run.sh", "#!/bin/sh\necho v1.0.0\n", 0o755)
	writeFile(t, u, "frontend/src/app.js", "console.log('v1.0.0')\n", 0o644)
	git(t, u, "add", "-A")
	git(t, u, "commit", "-q", "-m", "v1.0.0")
	git(t, u, "tag", "v1.0.0")
	f.commits["v1.0.0"] = git(t, u, "rev-parse", "HEAD")

	writeFile(t, u, "main.go", "package main // v1.1.0\n", 0o644)
	git(t, u, "rm", "-q", "old.txt")
	writeFile(t, u, "docs/guide/new.md", "added in v1.1.0\n", 0o644)
	writeFile(t, u, "run.sh", "#!/bin/sh\necho v1.1.0\n", 0o755)
	writeFile(t, u, "frontend/src/app.js", "console.log('v1.1.0')\n", 0o644)
	git(t, u, "add", "-A")
	git(t, u, "commit", "-q", "-m", "v1.1.0")
	git(t, u, "tag", "-a", "v1.1.0", "-m", "release v1.1.0")
	f.commits["v1.1.0"] = git(t, u, "rev-parse", "HEAD")

	writeFile(t, u, "README.md", "# app v1.2.0\n", 0o644)
	writeFile(t, u, "pkg/lib.go", "package pkg\n", 0o644)
	git(t, u, "add", "-A")
	git(t, u, "commit", "-q", "-m", "v1.2.0")
	git(t, u, "tag", "-a", "v1.2.0", "-m", "release v1.2.0")
	f.commits["v1.2.0"] = git(t, u, "rev-parse", "HEAD")

	git(t, root, "clone", "-q", "--template=", "--bare", u, f.origin)
	git(t, root, "clone", "-q", "--template=", f.origin, f.install)
	git(t, f.install, "-c", "advice.detachedHead=false", "checkout", "-q", "v1.0.0")
	// Packed objects and no hook samples: fewer files to copy per test on
	// slow disks.
	for _, d := range []string{f.upstream, f.origin, f.install} {
		git(t, d, "repack", "-adq")
		git(t, d, "prune-packed")
	}
	return f
}

var (
	templateOnce sync.Once
	templateRoot string
	template     *fixture
	templateErr  error
)

// newFixture returns a private copy of the fixture. Building it with the
// git CLI costs about half a second, so it is built once per test binary
// and copied (cp -a keeps modes and times) into the test's own folder.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	templateOnce.Do(func() {
		templateRoot, templateErr = os.MkdirTemp("", "gitrepo-fixture-")
		if templateErr != nil {
			return
		}
		template = buildFixture(t, templateRoot)
	})
	if templateErr != nil || template == nil {
		t.Fatalf("cannot build fixture: %v", templateErr)
	}
	root := t.TempDir()
	if err := copyTree(templateRoot, root); err != nil {
		t.Fatalf("cannot copy fixture: %v", err)
	}
	f := &fixture{
		upstream: filepath.Join(root, "upstream"),
		origin:   filepath.Join(root, "origin.git"),
		install:  filepath.Join(root, "install"),
		commits:  template.commits,
	}
	// Point the copy's origin at the copied bare repository.
	cfg := filepath.Join(f.install, ".git", "config")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b = []byte(strings.ReplaceAll(string(b), template.origin, f.origin))
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// copyTree copies src into the existing folder dst keeping modes,
// modification times and symlinks, like cp -a, without a child process.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(target, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, b, info.Mode().Perm()); err != nil {
				return err
			}
			if err := os.Chmod(target, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Chtimes(target, info.ModTime(), info.ModTime())
		}
	})
}

// addPrecious creates the files the updater must never touch: data/ with
// nested files and an empty folder, .env, the build outputs and an empty
// ignored folder.
func addPrecious(t testing.TB, dir string) {
	t.Helper()
	writeFile(t, dir, "data/app.db", "sqlite bytes\x00\x01\x02", 0o600)
	writeFile(t, dir, "data/uploads/2024/01/photo.jpg", "jpeg bytes", 0o644)
	writeFile(t, dir, "data/uploads/notes.txt", "user notes", 0o640)
	writeFile(t, dir, ".env", "SECRET=do-not-touch\n", 0o600)
	writeFile(t, dir, "server", "\x7fELF current binary", 0o755)
	writeFile(t, dir, "server.bak", "\x7fELF previous binary", 0o755)
	writeFile(t, dir, "frontend/dist/index.html", "<html>built</html>", 0o644)
	for _, d := range []string{"data/empty", "frontend/dist/assets/empty"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

// treeDigest maps every path under dir (except .git) to a digest of its type,
// mode and content, so two digests are equal only if the trees are
// byte-identical. Folders are included, so an empty folder that disappears
// is noticed.
func treeDigest(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == ".git" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil // a linked work tree's .git file
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			out[rel] = "dir " + info.Mode().String()
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "link " + target
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			out[rel] = info.Mode().String() + " " + hex.EncodeToString(sum[:])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// filterPrefix keeps the entries of m whose path is one of roots or lies under one.
func filterPrefix(m map[string]string, roots ...string) map[string]string {
	out := map[string]string{}
	for p, v := range m {
		for _, r := range roots {
			if p == r || strings.HasPrefix(p, r+"/") {
				out[p] = v
				break
			}
		}
	}
	return out
}

// TestMain fixes the umask so files created by the git CLI (fixtures,
// reference clones) and by Checkout have comparable modes.
func TestMain(m *testing.M) {
	syscall.Umask(0o022)
	code := m.Run()
	if templateRoot != "" {
		_ = os.RemoveAll(templateRoot)
	}
	os.Exit(code)
}

// open opens dir with Open and fails the test on error.
func open(t testing.TB, dir string) *Repo {
	t.Helper()
	r, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return r
}

// preciousRoots are the untracked and ignored paths addPrecious creates.
var preciousRoots = []string{"data", ".env", "server", "server.bak", "frontend/dist"}

// withoutPrefix drops the entries of m under any of roots.
func withoutPrefix(m map[string]string, roots ...string) map[string]string {
	drop := filterPrefix(m, roots...)
	out := map[string]string{}
	for p, v := range m {
		if _, ok := drop[p]; !ok {
			out[p] = v
		}
	}
	return out
}

// referenceTree is what a fresh git CLI checkout of rev looks like: the
// ground truth Checkout must reproduce for tracked paths.
func referenceTree(t testing.TB, origin, rev string) map[string]string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ref")
	git(t, filepath.Dir(dir), "clone", "-q", "--template=", "--no-checkout", origin, dir)
	git(t, dir, "-c", "advice.detachedHead=false", "checkout", "-q", rev)
	return treeDigest(t, dir)
}

// diffDigests describes how two digests differ, for failure messages.
func diffDigests(want, got map[string]string) string {
	var lines []string
	for p, w := range want {
		if g, ok := got[p]; !ok {
			lines = append(lines, "missing "+p)
		} else if g != w {
			lines = append(lines, "changed "+p+": want "+w+", got "+g)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			lines = append(lines, "unexpected "+p)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// gitState captures HEAD and index bytes, to prove a refused or undone
// Checkout left the repository alone.
func gitState(t testing.TB, dir string) string {
	t.Helper()
	head, err := os.ReadFile(filepath.Join(dir, ".git", "HEAD"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(idx)
	return string(head) + " index " + hex.EncodeToString(sum[:])
}
