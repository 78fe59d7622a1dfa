package gitrepo

import (
	"fmt"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// maxTreeDepth bounds how deep diffTrees descends: a deeper tree is
// malformed data (go-git's tree walker stops at the same depth).
const maxTreeDepth = 1024

// diffCommits lists the paths whose state differs between the trees of
// commits from and to, sorted by path: diffStates of the two flattened
// trees, without flattening them. A folder whose tree hash is the same on
// both sides holds the same files and is not read, as git's unpack-trees
// skips it; in a release that changes a few folders of a large tree, most
// of the tree is never decoded. Every name read on to's side is checked
// with checkTreeName (the names that stay are from's, which were).
func (r *Repo) diffCommits(from, to plumbing.Hash) ([]change, error) {
	a, err := r.commitTreeHash(from)
	if err != nil {
		return nil, err
	}
	b, err := r.commitTreeHash(to)
	if err != nil {
		return nil, err
	}
	var out []change
	if out, err = r.diffTrees("", a, b, 0, out); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

// diffTrees appends to out the changes between the trees from and to (the
// zero hash: no tree) of the folder prefix ("" or ending in "/").
func (r *Repo) diffTrees(prefix string, from, to plumbing.Hash, depth int, out []change) ([]change, error) {
	if from == to {
		return out, nil
	}
	if depth > maxTreeDepth {
		return nil, fmt.Errorf("%w: %s is more than %d folders deep", ErrUnsupported, prefix, maxTreeDepth)
	}
	a, err := r.treeEntries(from)
	if err != nil {
		return nil, err
	}
	b, err := r.treeEntries(to)
	if err != nil {
		return nil, err
	}
	inB := make(map[string]*object.TreeEntry, len(b))
	for i := range b {
		if err := checkTreeName(b[i].Name); err != nil {
			return nil, fmt.Errorf("%w in folder %q", err, prefix)
		}
		if inB[b[i].Name] != nil {
			return nil, fmt.Errorf("%w: tree %s names %q twice", ErrUnsupported, to, prefix+b[i].Name)
		}
		inB[b[i].Name] = &b[i]
	}
	for i := range a {
		other := inB[a[i].Name]
		delete(inB, a[i].Name)
		if out, err = r.diffEntries(prefix+a[i].Name, &a[i], other, depth, out); err != nil {
			return nil, err
		}
	}
	for i := range b {
		if inB[b[i].Name] == nil {
			continue // met beside its entry in from
		}
		if out, err = r.diffEntries(prefix+b[i].Name, nil, &b[i], depth, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// diffEntries appends the changes at path p between entry x of from's
// tree and y of to's (nil: no entry of that name). A name can be a folder
// on one side and a file on the other: the folder's files and the file
// are compared apart, as flattened trees have them.
func (r *Repo) diffEntries(p string, x, y *object.TreeEntry, depth int, out []change) ([]change, error) {
	subX, fileX := splitEntry(x)
	subY, fileY := splitEntry(y)
	if subX != subY {
		var err error
		if out, err = r.diffTrees(p+"/", subX, subY, depth+1, out); err != nil {
			return nil, err
		}
	}
	if fileX != fileY {
		out = append(out, change{path: p, from: fileX, to: fileY})
	}
	return out, nil
}

// splitEntry is e as a folder (its tree hash) or as a file (its state,
// with the mode normalised as flattenTree does); zero and absent for nil.
func splitEntry(e *object.TreeEntry) (plumbing.Hash, state) {
	switch {
	case e == nil:
		return plumbing.ZeroHash, absent
	case e.Mode == filemode.Dir:
		return e.Hash, absent
	default:
		return plumbing.ZeroHash, state{present: true, hash: e.Hash, mode: normMode(e.Mode)}
	}
}

// treeEntries returns the entries of tree h, none for the zero hash.
func (r *Repo) treeEntries(h plumbing.Hash) ([]object.TreeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	t, err := r.repo.TreeObject(h)
	if err != nil {
		return nil, fmt.Errorf("cannot read tree %s: %w", h, err)
	}
	return t.Entries, nil
}

// checkTreeName rejects a tree entry name that must never reach the file
// system: empty, ".", "..", holding a slash, a NUL or another control
// character, or naming .git on some file system: case-insensitively, with
// the code points HFS+ ignores, with the trailing dots and spaces or the
// ":stream" suffix NTFS ignores, or as its 8.3 short name git~1. A name
// with backslashes is judged part by part, as Windows would split it. Git
// (core.protectHFS, core.protectNTFS) and go-git refuse the same.
func checkTreeName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w: unsafe name %q in tree: %s", ErrUnsupported, name, why)
	}
	if name == "" {
		return bad("empty")
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '/':
			return bad("it holds a slash")
		case c < 0x20 || c == 0x7f:
			return bad("it holds a control character")
		}
	}
	for part := range strings.SplitSeq(name, `\`) {
		switch {
		case part == "." || part == "..":
			return bad("it leaves its folder")
		case namesDotGit(part):
			return bad("it names .git")
		}
	}
	return nil
}

// namesDotGit reports whether part names .git on a file system that
// ignores case, HFS+'s ignorable code points or NTFS's trailing dots,
// spaces and stream suffixes.
func namesDotGit(part string) bool {
	part = strings.Map(func(r rune) rune {
		if hfsIgnorable(r) {
			return -1
		}
		return r
	}, part)
	if i := strings.IndexByte(part, ':'); i >= 0 {
		part = part[:i]
	}
	part = strings.TrimRight(part, ". ")
	return strings.EqualFold(part, ".git") || strings.EqualFold(part, "git~1")
}

// hfsIgnorable reports whether HFS+ drops r when it compares names: the
// zero-width and direction-control code points of Apple's TN1150.
func hfsIgnorable(r rune) bool {
	return r >= 0x200c && r <= 0x200f || r >= 0x202a && r <= 0x202e || r >= 0x206a && r <= 0x206f || r == 0xfeff
}
