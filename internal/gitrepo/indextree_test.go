package gitrepo

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestIndexTreeMatchesWriteTree: the tree hash indexTree computes from an
// index is the one git write-tree writes for it, for names that sort
// differently as files and as folders ("a-b", "a.txt" beside folder "a"),
// executables, symlinks, gitlinks and deep folders; and none is claimed
// for an index no tree can be written from (a conflict, intent-to-add).
func TestIndexTreeMatchesWriteTree(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "repo")
	git(t, filepath.Dir(dir), "init", "-q", "-b", "main", dir)
	for _, p := range []string{"a-b", "a.txt", "a/x", "a/y/z.go", "ab", "b/c/d/e/f.txt", "z"} {
		writeFile(t, dir, p, p+"\n", 0o644)
	}
	writeFile(t, dir, "a/run.sh", "#!/bin/sh\n", 0o755)
	if err := os.Symlink("a.txt", filepath.Join(dir, "a/link")); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+plumbing.ZeroHash.String()[:38]+"ab,a/sub")

	check := func(what string, wantOK bool) {
		t.Helper()
		idx, _, err := readIndex(filepath.Join(dir, ".git", "index"))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := indexTree(idx.Entries)
		if ok != wantOK {
			t.Fatalf("%s: indexTree says a tree can be written: %v, want %v", what, ok, wantOK)
		}
		if ok {
			if want := git(t, dir, "write-tree"); got.String() != want {
				t.Fatalf("%s: indexTree = %s, git write-tree = %s", what, got, want)
			}
		}
	}
	check("added", true)
	git(t, dir, "commit", "-q", "-m", "one")
	check("committed", true)
	git(t, dir, "rm", "-q", "--cached", "a/y/z.go")
	check("a staged deletion", true)

	writeFile(t, dir, "later.txt", "later\n", 0o644)
	git(t, dir, "add", "-N", "later.txt")
	check("intent-to-add", false)
	git(t, dir, "rm", "-q", "--cached", "later.txt")
	git(t, dir, "reset", "-q")

	mergeConflict(t, dir, "z")
	check("a conflict", false)

	if _, ok := indexTree(nil); ok {
		t.Error("indexTree claims a tree for an empty index")
	}
}

// TestSnapshotTakesHeadFromACleanIndex: on a clean checkout HEAD's paths
// come from the index (no tree of HEAD is decoded) and are the paths of
// HEAD's tree; a staged change makes the snapshot read HEAD's tree, and
// the change is a modification either way.
func TestSnapshotTakesHeadFromACleanIndex(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := open(t, f.install)
	headHash, err := parseHash(f.commits["v1.0.0"])
	if err != nil {
		t.Fatal(err)
	}
	tree, err := r.commitTree(headHash)
	if err != nil {
		t.Fatal(err)
	}
	want, err := flattenTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.readSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if !s.indexIsHead {
		t.Fatal("a clean index was not taken for HEAD's tree")
	}
	if diff := diffStates(want, s.head); len(diff) != 0 {
		t.Fatalf("HEAD from the index differs from HEAD's tree: %v", diff)
	}
	if _, err := r.modifications(s); err != nil {
		t.Fatal(err)
	}

	writeFile(t, f.install, "main.go", "package main // staged\n", 0o644)
	git(t, f.install, "add", "main.go")
	s, err = r.readSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	if s.indexIsHead {
		t.Fatal("an index with a staged change was taken for HEAD's tree")
	}
	if diff := diffStates(want, s.head); len(diff) != 0 {
		t.Fatalf("HEAD read from its tree differs: %v", diff)
	}
	mods, err := r.modifications(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != 1 || mods[0].path != "main.go" {
		t.Fatalf("modifications = %v, want main.go", mods)
	}
}
