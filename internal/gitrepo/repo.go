package gitrepo

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	gogit "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// maxOpenPacks bounds the pack files a Repo keeps open.
const maxOpenPacks = 32

// Repo is an opened install checkout. Create it with Open. It is not safe
// for concurrent use.
type Repo struct {
	dir    string // absolute work tree root
	gitDir string // folder holding HEAD and index (.git, or .git/worktrees/<name>)
	// objectsDir is the object store's folder (in the common folder of a
	// linked work tree).
	objectsDir string
	repo       *gogit.Repository

	// beforeWrite, when set by tests, runs before each work tree change
	// Checkout makes; an error from it is treated like a failed write.
	beforeWrite func(path string) error
	// afterSync, when set by tests, runs after each sync of staged files
	// with the paths made durable.
	afterSync func(paths []string)
	// syncOff, set only by benchmarks, skips the syncs of the files a
	// checkout writes, to measure what durability costs. Never set it
	// anywhere else.
	syncOff bool
}

// Open opens the git work tree whose root is dir. It does not look in
// parent folders: the install must be the root of its own checkout, so
// the updater can never act on an unrelated enclosing repository.
//
// Errors: ErrNotGitCheckout (wrapped) when dir has no .git or is a bare
// repository; other errors when the repository cannot be read.
func Open(dir string) (*Repo, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(abs, ".git")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("cannot open %s: %w: no .git found; clone the app there (git clone <url> %s)",
				abs, ErrNotGitCheckout, abs)
		}
		return nil, fmt.Errorf("cannot open %s: %w", abs, err)
	}
	repo, err := gogit.PlainOpenWithOptions(abs, &gogit.PlainOpenOptions{EnableDotGitCommonDir: true})
	if err != nil {
		if errors.Is(err, gogit.ErrRepositoryNotExists) {
			return nil, fmt.Errorf("cannot open %s: %w", abs, ErrNotGitCheckout)
		}
		return nil, fmt.Errorf("cannot open git repository %s: %w", abs, err)
	}
	if _, err := repo.Worktree(); err != nil {
		if errors.Is(err, gogit.ErrIsBareRepository) {
			return nil, fmt.Errorf("cannot open %s: %w: it is a bare repository", abs, ErrNotGitCheckout)
		}
		return nil, fmt.Errorf("cannot open work tree %s: %w", abs, err)
	}
	st, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return nil, fmt.Errorf("cannot open %s: %w: storage is %T, not a folder", abs, ErrUnsupported, repo.Storer)
	}
	r := &Repo{dir: abs, gitDir: st.Filesystem().Root(), repo: repo}
	r.objectsDir = filepath.Join(r.commonDir(), "objects")
	return r, nil
}

// withOpenPacks runs fn with r reading objects through a storage that
// keeps pack files open (at most maxOpenPacks, least recently used closed
// first). PlainOpen's storage opens, reads and closes a pack file, with an
// lstat of every component of its path, for each object it loads, and a
// checkout loads thousands of trees and blobs. The packs are closed when
// fn returns, so a Repo holds no descriptor between calls.
func (r *Repo) withOpenPacks(fn func() error) error {
	st, ok := r.repo.Storer.(*filesystem.Storage)
	if !ok {
		return fn()
	}
	wt, err := r.repo.Worktree()
	if err != nil {
		return fmt.Errorf("cannot open work tree %s: %w", r.dir, err)
	}
	kept := filesystem.NewStorageWithOptions(st.Filesystem(), cache.NewObjectLRUDefault(),
		filesystem.Options{MaxOpenDescriptors: maxOpenPacks})
	repo, err := gogit.Open(kept, wt.Filesystem)
	if err != nil {
		return fmt.Errorf("cannot open git repository %s: %w", r.dir, err)
	}
	orig := r.repo
	r.repo = repo
	defer func() {
		r.repo = orig
		_ = kept.Close()
	}()
	return fn()
}

// Dir returns the absolute path of the work tree root.
func (r *Repo) Dir() string { return r.dir }

// Head returns the full hash of the commit HEAD points at, whether HEAD is
// detached or on a branch. It fails on a repository without commits.
func (r *Repo) Head() (string, error) {
	h, err := r.headHash()
	if err != nil {
		return "", err
	}
	return h.String(), nil
}

func (r *Repo) headHash() (plumbing.Hash, error) {
	ref, err := r.repo.Head()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("cannot read HEAD of %s: %w", r.dir, err)
	}
	return ref.Hash(), nil
}

// readHead returns the commit HEAD points at and whether .git/HEAD names
// it directly (detached) rather than through a branch.
func (r *Repo) readHead() (h plumbing.Hash, detached bool, err error) {
	ref, err := r.repo.Storer.Reference(plumbing.HEAD)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("cannot read HEAD of %s: %w", r.dir, err)
	}
	if ref.Type() == plumbing.HashReference {
		return ref.Hash(), true, nil
	}
	h, err = r.headHash()
	return h, false, err
}

// hasObject returns nil when the object store has h. A loose object is
// found with one lstat of its file (go-git opens it through a folder
// abstraction that lstats each component of its path on the way);
// anything else is go-git's to find (packs, alternates), with its errors
// (plumbing.ErrObjectNotFound).
func (r *Repo) hasObject(h plumbing.Hash) error {
	hex := h.String()
	if fi, err := os.Lstat(filepath.Join(r.objectsDir, hex[:2], hex[2:])); err == nil && fi.Mode().IsRegular() {
		return nil
	}
	return r.repo.Storer.HasEncodedObject(h)
}

// TagsAt returns the names of the local tags, lightweight or annotated,
// whose peeled commit is commit (a full hash), sorted. An empty result is
// not an error.
func (r *Repo) TagsAt(commit string) ([]string, error) {
	want, err := parseHash(commit)
	if err != nil {
		return nil, err
	}
	iter, err := r.repo.Tags()
	if err != nil {
		return nil, fmt.Errorf("cannot list tags of %s: %w", r.dir, err)
	}
	var names []string
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		h, err := r.peel(ref.Hash())
		if err != nil {
			return fmt.Errorf("cannot peel tag %s: %w", ref.Name().Short(), err)
		}
		if h == want {
			names = append(names, ref.Name().Short())
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list tags of %s: %w", r.dir, err)
	}
	sort.Strings(names)
	return names, nil
}

// ResolveTag returns the full hash of the commit the local tag names,
// peeling annotated tags. ErrTagNotFound (wrapped) when the tag is not in
// the local repository: FetchTag it first.
func (r *Repo) ResolveTag(tag string) (string, error) {
	name, err := tagRefName(tag)
	if err != nil {
		return "", err
	}
	ref, err := r.repo.Reference(name, true)
	if err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return "", fmt.Errorf("cannot resolve tag %s in %s: %w", tag, r.dir, ErrTagNotFound)
		}
		return "", fmt.Errorf("cannot resolve tag %s in %s: %w", tag, r.dir, err)
	}
	h, err := r.peel(ref.Hash())
	if err != nil {
		return "", fmt.Errorf("cannot resolve tag %s in %s: %w", tag, r.dir, err)
	}
	return h.String(), nil
}

// peel follows annotated tag objects (also tags of tags) to the object
// they finally name, normally a commit.
func (r *Repo) peel(h plumbing.Hash) (plumbing.Hash, error) {
	if p, ok := peeled(h); ok {
		return p, nil
	}
	p, err := r.peelObject(h)
	if err == nil {
		rememberPeeled(h, p)
	}
	return p, err
}

// peelObject is peel, reading the objects.
func (r *Repo) peelObject(h plumbing.Hash) (plumbing.Hash, error) {
	for range 16 { // git itself gives up on deeper chains
		obj, err := r.repo.Storer.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("cannot load object %s: %w", h, err)
		}
		if obj.Type() != plumbing.TagObject {
			// A lightweight tag, or the end of an annotated chain.
			return h, nil
		}
		tag, err := object.DecodeTag(r.repo.Storer, obj)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("cannot decode tag object %s: %w", h, err)
		}
		h = tag.Target
	}
	return plumbing.ZeroHash, fmt.Errorf("tag chain too deep at %s", h)
}

// RemoteURL returns the first URL configured for remote (for example
// "origin"). ErrRemoteNotFound (wrapped) when no such remote exists. The
// URL may carry credentials: pass it through RedactURL before logging.
func (r *Repo) RemoteURL(remote string) (string, error) {
	rem, err := r.repo.Remote(remote)
	if err != nil {
		if errors.Is(err, gogit.ErrRemoteNotFound) {
			return "", fmt.Errorf("cannot read remote %q of %s: %w", remote, r.dir, ErrRemoteNotFound)
		}
		return "", fmt.Errorf("cannot read remote %q of %s: %w", remote, r.dir, err)
	}
	urls := rem.Config().URLs
	if len(urls) == 0 {
		return "", fmt.Errorf("cannot read remote %q of %s: %w: it has no url", remote, r.dir, ErrRemoteNotFound)
	}
	return urls[0], nil
}

// commitTree loads the tree of commit h; ErrCommitNotFound when the commit
// is not in the object store.
func (r *Repo) commitTree(h plumbing.Hash) (*object.Tree, error) {
	th, err := r.commitTreeHash(h)
	if err != nil {
		return nil, err
	}
	t, err := r.repo.TreeObject(th)
	if err != nil {
		return nil, fmt.Errorf("cannot load tree of commit %s: %w", h, err)
	}
	return t, nil
}

// commitTreeHash is the hash of commit h's root tree.
func (r *Repo) commitTreeHash(h plumbing.Hash) (plumbing.Hash, error) {
	c, err := r.repo.CommitObject(h)
	if err != nil {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return plumbing.ZeroHash, fmt.Errorf("cannot load commit %s: %w: fetch the tag that names it first", h, ErrCommitNotFound)
		}
		return plumbing.ZeroHash, fmt.Errorf("cannot load commit %s: %w", h, err)
	}
	return c.TreeHash, nil
}

// parseHash accepts only a full 40-hex-digit commit hash: abbreviations are
// ambiguous and the reconciler always has the full hash.
func parseHash(s string) (plumbing.Hash, error) {
	if len(s) != 40 || !plumbing.IsHash(s) {
		return plumbing.ZeroHash, fmt.Errorf("cannot parse commit %q: want a full 40-digit hex hash", s)
	}
	return plumbing.NewHash(strings.ToLower(s)), nil
}

// tagRefName validates tag as git does for refs/tags/<tag>. Besides
// rejecting names git would, this keeps refspec syntax (":" and "*") out
// of the refspec FetchTag builds, so a tag name cannot widen the fetch.
func tagRefName(tag string) (plumbing.ReferenceName, error) {
	name := plumbing.NewTagReferenceName(tag)
	if tag == "" || strings.HasPrefix(tag, "refs/") || name.Validate() != nil {
		return "", fmt.Errorf("cannot use tag name %q: not a valid git tag name", tag)
	}
	return name, nil
}
