package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// fileSpec is one file of a generated commit.
type fileSpec struct {
	mode    string // fast-import's: 100644, 100755, 120000, 160000
	content string // a symlink's target; a gitlink's commit hash
}

// randomHistory builds, with git fast-import, a bare repository of n
// commits, each a random edit of the one before over a few folders:
// contents changed, files added and removed, the executable bit flipped,
// symlinks, gitlinks, a file turned into a folder of the same name and
// back, and whole folders copied elsewhere (equal subtrees at other
// paths). It returns the commits, oldest first.
func randomHistory(t *testing.T, rng *rand.Rand, n int) (*Repo, []plumbing.Hash) {
	t.Helper()
	root := t.TempDir()
	bare := filepath.Join(root, "origin.git")
	git(t, root, "init", "-q", "--bare", bare)
	files := map[string]fileSpec{}
	dirs := []string{"", "a/", "a/b/", "a/b/c/", "d/", "d/e/", "f/"}
	removeUnder := func(p string) {
		for q := range files {
			if strings.HasPrefix(q, p+"/") {
				delete(files, q)
			}
		}
	}
	// put adds p, first removing what stands in its way: a file where a
	// folder of p goes, or a folder where p goes.
	put := func(p string, f fileSpec) {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			delete(files, d)
		}
		removeUnder(p)
		files[p] = f
	}
	content := func() string { return fmt.Sprintf("content %d\n", rng.IntN(40)) }
	var sp bytes.Buffer
	var commits []plumbing.Hash
	for c := range n {
		for range 1 + rng.IntN(12) {
			names := slices.Sorted(maps.Keys(files))
			pick := func() string {
				if len(names) == 0 {
					return ""
				}
				return names[rng.IntN(len(names))]
			}
			switch op := rng.IntN(9); {
			case op <= 2 || len(names) == 0: // add
				put(dirs[rng.IntN(len(dirs))]+fmt.Sprintf("f%d", rng.IntN(8)), fileSpec{"100644", content()})
			case op == 3: // change content
				if p := pick(); files[p].mode == "100644" || files[p].mode == "100755" {
					files[p] = fileSpec{files[p].mode, content()}
				}
			case op == 4: // remove
				delete(files, pick())
			case op == 5: // flip the executable bit, or make a symlink or a gitlink
				p := pick()
				switch rng.IntN(4) {
				case 0:
					files[p] = fileSpec{"120000", "../target" + content()[8:10]}
				case 1:
					files[p] = fileSpec{"160000", fmt.Sprintf("%040x", rng.IntN(3)+1)}
				default:
					m := "100755"
					if files[p].mode == "100755" {
						m = "100644"
					}
					files[p] = fileSpec{m, files[p].content}
				}
			case op == 6: // a file becomes a folder of the same name
				if p := pick(); p != "" {
					put(p+"/inside", fileSpec{"100644", content()})
				}
			case op == 7: // a folder becomes a file of the same name
				if d := dirs[1+rng.IntN(len(dirs)-1)]; d != "" {
					put(strings.TrimSuffix(d, "/"), fileSpec{"100644", content()})
				}
			case op == 8: // copy a folder elsewhere: an equal subtree at another path
				src := dirs[1+rng.IntN(len(dirs)-1)]
				dst := fmt.Sprintf("copy%d/", rng.IntN(3))
				for q, f := range maps.Clone(files) { // put changes files
					if strings.HasPrefix(q, src) {
						put(dst+strings.TrimPrefix(q, src), f)
					}
				}
			}
		}
		msg := fmt.Sprintf("commit %d", c)
		fmt.Fprintf(&sp, "commit refs/heads/main\nmark :%d\ncommitter T <t@example.invalid> %d +0000\ndata %d\n%s\n", c+1, 1700000000+c, len(msg), msg)
		if c > 0 {
			fmt.Fprintf(&sp, "from :%d\n", c)
		}
		sp.WriteString("deleteall\n")
		for _, p := range slices.Sorted(maps.Keys(files)) {
			f := files[p]
			if f.mode == "160000" {
				fmt.Fprintf(&sp, "M 160000 %s %s\n", f.content, p)
				continue
			}
			fmt.Fprintf(&sp, "M %s inline %s\ndata %d\n%s\n", f.mode, p, len(f.content), f.content)
		}
	}
	cmd := exec.Command("git", "fast-import", "--quiet")
	cmd.Dir, cmd.Env, cmd.Stdin = bare, gitEnv(), &sp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fast-import: %v\n%s", err, out)
	}
	for i := range n {
		commits = append(commits, plumbing.NewHash(git(t, bare, "rev-parse", fmt.Sprintf("main~%d", n-1-i))))
	}
	clone := filepath.Join(root, "clone")
	git(t, root, "clone", "-q", "--no-checkout", bare, clone)
	return open(t, clone), commits
}

// TestDiffCommitsMatchesFlattenedTrees: between any two commits of random
// histories, diffCommits finds exactly the changes a comparison of the
// two flattened trees finds, in the same order.
func TestDiffCommitsMatchesFlattenedTrees(t *testing.T) {
	for seed := range uint64(4) {
		r, commits := randomHistory(t, rand.New(rand.NewPCG(seed, 15)), 12)
		compared, changed := 0, 0
		for _, from := range commits {
			for _, to := range commits {
				a, err := r.commitStates(from)
				if err != nil {
					t.Fatal(err)
				}
				b, err := r.commitStates(to)
				if err != nil {
					t.Fatal(err)
				}
				want := diffStates(a, b)
				got, err := r.diffCommits(from, to)
				if err != nil {
					t.Fatalf("seed %d: diffCommits(%s, %s): %v", seed, from, to, err)
				}
				if len(got) == 0 && len(want) == 0 {
					compared++
					continue
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("seed %d: diffCommits(%s, %s):\n got %v\nwant %v", seed, from, to, got, want)
				}
				compared++
				changed += len(want)
			}
		}
		if changed == 0 {
			t.Fatalf("seed %d: %d pairs compared and no change found: the history is not random", seed, compared)
		}
	}
}

// TestCheckoutRefusesUnsafeTreeNames: a target tree holding a name that
// would write outside its folder or into .git on some file system, at the
// top or in a folder HEAD does not have, is refused before anything is
// written.
func TestCheckoutRefusesUnsafeTreeNames(t *testing.T) {
	for _, name := range []string{"..", ".", ".git", ".GIT", "git~1", "GIT~1", ".git.", ".git ", ".git...  ",
		".git::$INDEX_ALLOCATION", ".g\u200cit", "\u200d.git\ufeff", `a\..\b`, `sub\.git`, "new\nline", "tab\there", "del\x7f"} {
		for _, nested := range []bool{false, true} {
			t.Run(fmt.Sprintf("%q nested=%v", name, nested), func(t *testing.T) {
				f := newFixture(t)
				r := open(t, f.install)
				before := gitState(t, f.install)
				target := commitWithEntry(t, r, f.commits["v1.0.0"], name, nested)
				err := r.Checkout(context.Background(), target.String())
				if !errors.Is(err, ErrUnsupported) {
					t.Fatalf("Checkout of a tree naming %q: %v, want ErrUnsupported", name, err)
				}
				if after := gitState(t, f.install); after != before {
					t.Fatalf("a refused checkout changed the install:\nbefore %s\nafter  %s", before, after)
				}
				if _, err := os.Lstat(filepath.Join(f.install, "evil")); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("the refused checkout wrote the folder of the unsafe name: %v", err)
				}
			})
		}
	}
}

// encodable is a git object go-git can encode: a tree, a commit.
type encodable interface {
	Encode(plumbing.EncodedObject) error
}

// commitWithEntry stores, in r's object store, a commit whose tree is
// parent's plus a file named name: at the top, or nested in a new folder
// evil/.
func commitWithEntry(t *testing.T, r *Repo, parent, name string, nested bool) plumbing.Hash {
	t.Helper()
	store := func(o encodable) plumbing.Hash {
		obj := r.repo.Storer.NewEncodedObject()
		if err := o.Encode(obj); err != nil {
			t.Fatal(err)
		}
		h, err := r.repo.Storer.SetEncodedObject(obj)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	blob := r.repo.Storer.NewEncodedObject()
	blob.SetType(plumbing.BlobObject)
	w, _ := blob.Writer()
	_, _ = w.Write([]byte("unsafe\n"))
	_ = w.Close()
	blobHash, err := r.repo.Storer.SetEncodedObject(blob)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := r.repo.CommitObject(plumbing.NewHash(parent))
	if err != nil {
		t.Fatal(err)
	}
	root, err := pc.Tree()
	if err != nil {
		t.Fatal(err)
	}
	entry := object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: blobHash}
	if nested {
		sub := store(&object.Tree{Entries: []object.TreeEntry{entry}})
		entry = object.TreeEntry{Name: "evil", Mode: filemode.Dir, Hash: sub}
	}
	entries := append(slices.Clone(root.Entries), entry)
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	tree := store(&object.Tree{Entries: entries})
	sig := object.Signature{Name: "T", Email: "t@example.invalid"}
	return store(&object.Commit{Author: sig, Committer: sig, Message: "unsafe", TreeHash: tree, ParentHashes: []plumbing.Hash{pc.Hash}})
}

// TestCheckTreeName: the names git checks out are accepted, including
// ones that only look like .git or a parent folder.
func TestCheckTreeName(t *testing.T) {
	for _, name := range []string{"a", ".gitignore", ".gitmodules", "git", ".github", "git~2", "...", "..a", "a..", ".git-x", "x.git", "Ünïcode", "with space"} {
		if err := checkTreeName(name); err != nil {
			t.Errorf("checkTreeName(%q) = %v, want nil", name, err)
		}
	}
}
