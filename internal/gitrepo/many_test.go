package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// manyFiles is a clone of a largeRepo of 600 files at v1, with precious
// untracked files: enough paths for Checkout's and LocalModifications'
// workers to share the work. Building it takes seconds: -short skips the
// tests that use it.
type manyFiles struct {
	origin, install string
	commits         map[string]string
}

func newManyFiles(t *testing.T) *manyFiles {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a 600-file repository (seconds); run without -short")
	}
	root := t.TempDir()
	origin, commits := largeRepo(t, root, 600)
	install := filepath.Join(root, "install")
	git(t, root, "clone", "-q", "--template=", "--no-checkout", origin, install)
	git(t, install, "-c", "advice.detachedHead=false", "checkout", "-q", "--detach", commits["v1"])
	addPrecious(t, install)
	return &manyFiles{origin: origin, install: install, commits: commits}
}

// noStagedFiles fails when a staged file is left anywhere in dir.
func noStagedFiles(t *testing.T, dir string) {
	t.Helper()
	for p := range treeDigest(t, dir) {
		if stagedName.MatchString(filepath.Base(p)) {
			t.Errorf("staged file left behind: %s", p)
		}
	}
}

// Many files, several workers: every change lands, in both directions and
// when every file changes, and nothing untracked is touched.
func TestCheckoutManyFiles(t *testing.T) {
	t.Parallel()
	m := newManyFiles(t)
	r := open(t, m.install)
	precious := filterPrefix(treeDigest(t, m.install), preciousRoots...)
	for _, tag := range []string{"v2", "v3", "v1", "v3"} {
		if err := r.Checkout(context.Background(), m.commits[tag]); err != nil {
			t.Fatalf("Checkout(%s): %v", tag, err)
		}
		assertCheckedOut(t, r, m.origin, m.commits[tag], m.commits[tag])
		noStagedFiles(t, m.install)
		if d := diffDigests(precious, filterPrefix(treeDigest(t, m.install), preciousRoots...)); d != "" {
			t.Fatalf("Checkout(%s) touched untracked files:\n%s", tag, d)
		}
	}
}

// A write failing while the workers stage files stops the checkout, and
// everything it wrote, staged or removed is put back.
func TestCheckoutManyFilesUndoesOnFailure(t *testing.T) {
	t.Parallel()
	m := newManyFiles(t)
	r := open(t, m.install)
	beforeTree, beforeGit := treeDigest(t, m.install), gitState(t, m.install)
	injected := errors.New("injected write failure")
	// v1 -> v2 removes 30 files, then writes 80: fail among the removals,
	// at the first write, and deep into the writes.
	for _, n := range []int{10, 31, 100} {
		failWrite(r, n, injected)
		if err := r.Checkout(context.Background(), m.commits["v2"]); !errors.Is(err, injected) {
			t.Fatalf("failure at write %d: Checkout error = %v, want the injected error", n, err)
		}
		if d := diffDigests(beforeTree, treeDigest(t, m.install)); d != "" {
			t.Fatalf("failure at write %d: work tree not restored:\n%s", n, d)
		}
		if after := gitState(t, m.install); after != beforeGit {
			t.Fatalf("failure at write %d: HEAD or index changed: %s -> %s", n, beforeGit, after)
		}
	}
	r.beforeWrite = nil
	if err := r.Checkout(context.Background(), m.commits["v2"]); err != nil {
		t.Fatal(err)
	}
	assertCheckedOut(t, r, m.origin, m.commits["v2"], m.commits["v2"])
}

// With the work tree looked at by several workers, an edited file and a
// racily clean one (same size, the index's own mtime) are still found,
// and Checkout refuses, naming both.
func TestLocalModificationsManyFiles(t *testing.T) {
	t.Parallel()
	m := newManyFiles(t)
	edited, racy := "src/pkg007/mod00/file00007.go", "src/pkg199/mod01/file00599.go"
	writeFile(t, m.install, edited, "edited\n", 0o644)
	p := filepath.Join(m.install, filepath.FromSlash(racy))
	old, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, m.install, racy, strings.ToUpper(string(old)), 0o644)
	ifi, err := os.Stat(filepath.Join(m.install, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, ifi.ModTime(), ifi.ModTime()); err != nil {
		t.Fatal(err)
	}
	r := open(t, m.install)
	want := []string{edited, racy}
	if got, err := r.LocalModifications(); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("LocalModifications = %q, %v; want %q", got, err, want)
	}
	unchanged(t, m.install, func() {
		err := r.Checkout(context.Background(), m.commits["v3"])
		var lme *LocalModificationsError
		if !errors.As(err, &lme) || !errors.Is(err, ErrLocalModifications) || !reflect.DeepEqual(lme.Paths, want) {
			t.Fatalf("Checkout = %v, want ErrLocalModifications naming %q", err, want)
		}
	})
}

// TestStageBatchesKeepFoldersTogether: the staging workers get the paths of
// one folder together, in the order of the checkout, no batch larger than
// stageBatch, and every path exactly once.
func TestStageBatchesKeepFoldersTogether(t *testing.T) {
	var todo []change
	add := func(p string) { todo = append(todo, change{path: p}) }
	add("a.txt")
	add("a/b.txt") // git's order: "a/b.txt" < "a/b/c" < "a/z"
	add("a/b/c")
	add("a/z")
	for i := range stageBatch + 2 {
		add(fmt.Sprintf("big/f%04d", i))
	}
	add("z")

	got := stageBatches(todo)
	var want [][]int
	want = append(want, []int{0, 5 + stageBatch + 1}, []int{1, 3}, []int{2})
	first := make([]int, stageBatch)
	for i := range first {
		first[i] = 4 + i
	}
	want = append(want, first, []int{4 + stageBatch, 5 + stageBatch})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stageBatches:\n got %v\nwant %v", got, want)
	}
}

// TestCheckoutRenamesOnlyWhatASyncCovered: with the renames of a checkout
// overlapping its staging (several syncs, here one per 40 files), every
// staged file is made durable before it is renamed, every file renamed was
// in a sync, and the checkout lands whole.
func TestCheckoutRenamesOnlyWhatASyncCovered(t *testing.T) {
	m := newManyFiles(t)
	r := open(t, m.install)
	was := syncEvery
	syncEvery = 40
	t.Cleanup(func() { syncEvery = was })

	synced := map[string]bool{}
	syncs := 0
	r.afterSync = func(paths []string) {
		syncs++
		for _, p := range paths {
			fi, err := os.Lstat(p)
			switch {
			case err != nil:
				t.Errorf("sync %d: %s is gone when its sync returns: renamed before it was durable? %v", syncs, p, err)
			case fi.IsDir():
				// a folder a removal changed, made durable with the first batch
			case !stagedName.MatchString(filepath.Base(p)):
				t.Errorf("sync %d: %s is not a staged file", syncs, p)
			case synced[p]:
				t.Errorf("sync %d: %s synced twice", syncs, p)
			default:
				synced[p] = true
			}
		}
	}
	if err := r.Checkout(context.Background(), m.commits["v3"]); err != nil {
		t.Fatal(err)
	}
	assertCheckedOut(t, r, m.origin, m.commits["v3"], m.commits["v3"])
	noStagedFiles(t, m.install)
	written := strings.Fields(git(t, m.install, "diff", "--name-only", "--no-renames", "--diff-filter=AMT", m.commits["v1"], m.commits["v3"]))
	if len(synced) != len(written) {
		t.Errorf("%d staged files were synced, %d paths written", len(synced), len(written))
	}
	if min := len(written) / syncEvery; syncs < min {
		t.Errorf("%d syncs for %d files, want at least %d: the renames did not overlap the staging", syncs, len(written), min)
	}
	t.Logf("%d files written in %d syncs", len(written), syncs)
}
