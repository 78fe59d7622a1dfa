package gitrepo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// state is what one path is in a tree, the index or the work tree:
// absent, or a blob (or symlink, or gitlink) hash with its mode.
type state struct {
	present bool
	hash    plumbing.Hash
	mode    filemode.FileMode
}

var absent = state{}

func (s state) String() string {
	if !s.present {
		return "absent"
	}
	return fmt.Sprintf("%s %s", s.mode, s.hash)
}

// normMode folds the historical group-writable mode into the regular
// mode, as git does when it compares entries.
func normMode(m filemode.FileMode) filemode.FileMode {
	if m == filemode.Deprecated {
		return filemode.Regular
	}
	return m
}

// flattenTree maps every non-folder entry of t (files, symlinks,
// gitlinks) by slash-separated path.
func flattenTree(t *object.Tree) (map[string]state, error) {
	out := map[string]state{}
	w := object.NewTreeWalker(t, true, nil)
	defer w.Close()
	for {
		name, e, err := w.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("cannot walk tree %s: %w", t.Hash, err)
		}
		if e.Mode == filemode.Dir {
			continue
		}
		out[name] = state{present: true, hash: e.Hash, mode: normMode(e.Mode)}
	}
}

// stageMerged is the stage of a normal (not conflicted) index entry. It is
// 0 in the index format; go-git's index.Merged constant is 1 (the same as
// index.AncestorMode) and must not be used for this comparison.
const stageMerged index.Stage = 0

// snapshot is the tracked side of the checkout: HEAD's tree and the
// index, read once, plus what is needed to look at work tree files
// cheaply.
type snapshot struct {
	headHash plumbing.Hash
	detached bool // .git/HEAD names headHash itself, not a branch
	head     map[string]state
	idx      *index.Index
	entries  map[string]*index.Entry // stage 0 entries
	unmerged map[string]bool         // paths with conflict stages (a merge in progress)
	fileMode bool                    // core.fileMode: whether the executable bit counts
}

// readSnapshot reads HEAD, its tree and the index. The index is decoded
// on another goroutine while HEAD's tree is (both are CPU work in a large
// tree, and the index file is no part of r.repo's object storage).
func (r *Repo) readSnapshot() (*snapshot, error) {
	type indexResult struct {
		idx *index.Index
		err error
	}
	indexc := make(chan indexResult, 1)
	go func() {
		idx, err := readIndex(filepath.Join(r.gitDir, "index"))
		indexc <- indexResult{idx, err}
	}()
	headHash, detached, err := r.readHead()
	var head map[string]state
	if err == nil {
		head, err = r.commitStates(headHash)
	}
	ir := <-indexc
	if err != nil {
		return nil, err
	}
	idx := ir.idx
	if ir.err != nil {
		return nil, fmt.Errorf("cannot read git index of %s: %w", r.dir, ir.err)
	}
	s := &snapshot{
		headHash: headHash,
		detached: detached,
		head:     head,
		idx:      idx,
		entries:  make(map[string]*index.Entry, len(idx.Entries)),
		unmerged: map[string]bool{},
		fileMode: true,
	}
	for _, e := range idx.Entries {
		if e.Stage != stageMerged {
			s.unmerged[e.Name] = true
			continue
		}
		s.entries[e.Name] = e
	}
	cfg, err := r.repo.Config()
	if err != nil {
		return nil, fmt.Errorf("cannot read git config of %s: %w", r.dir, err)
	}
	if v := cfg.Raw.Section("core").Option("filemode"); v == "false" {
		s.fileMode = false
	}
	return s, nil
}

// readIndex decodes the index file at path, with its modification time
// (what racy-git checks compare with); a missing file is an empty index,
// as in a clone made with --no-checkout.
func readIndex(path string) (*index.Index, error) {
	idx := &index.Index{Version: 2}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return idx, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	idx.ModTime = fi.ModTime()
	if err := index.NewDecoder(f).Decode(idx); err != nil {
		return nil, fmt.Errorf("cannot decode %s: %w", path, err)
	}
	return idx, nil
}

// indexState is the stage-0 index entry of path as a state.
func (s *snapshot) indexState(path string) state {
	e, ok := s.entries[path]
	if !ok {
		return absent
	}
	return state{present: true, hash: e.Hash, mode: normMode(e.Mode)}
}

// worktreeState looks at path in the work tree. Like git, it trusts the
// index entry's size and mtime to skip hashing, unless the file may have
// changed in the same instant the index was written ("racy git"). It never
// follows a symlink and never reads anything but this one path.
func (r *Repo) worktreeState(s *snapshot, path string) (state, error) {
	abs := filepath.Join(r.dir, filepath.FromSlash(path))
	fi, err := os.Lstat(abs)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return absent, nil
		}
		return absent, fmt.Errorf("cannot stat %s: %w", abs, err)
	}
	known := s.entries[path]
	switch {
	case fi.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(abs)
		if err != nil {
			return absent, fmt.Errorf("cannot read symlink %s: %w", abs, err)
		}
		h := plumbing.ComputeHash(plumbing.BlobObject, []byte(target))
		return state{present: true, hash: h, mode: filemode.Symlink}, nil
	case fi.IsDir():
		if known != nil && known.Mode == filemode.Submodule {
			// Submodules are not supported; a present folder counts as
			// unchanged so an app that has one can still be inspected.
			return state{present: true, hash: known.Hash, mode: filemode.Submodule}, nil
		}
		return state{present: true, mode: filemode.Dir}, nil
	case !fi.Mode().IsRegular():
		return state{present: true, mode: filemode.Empty}, nil
	}
	mode := filemode.Regular
	if fi.Mode().Perm()&0o111 != 0 {
		mode = filemode.Executable
	}
	if !s.fileMode && known != nil && (known.Mode == filemode.Regular || known.Mode == filemode.Executable) {
		mode = known.Mode
	}
	if known != nil && normMode(known.Mode) == mode && statMatches(s.idx, known, fi) {
		return state{present: true, hash: known.Hash, mode: mode}, nil
	}
	h, err := hashFile(abs, fi.Size())
	if err != nil {
		return absent, err
	}
	return state{present: true, hash: h, mode: mode}, nil
}

// statMatches reports whether fi still looks like the file the index
// entry was recorded from, and the index was written strictly after the
// file's last change, so an edit in the same instant cannot hide.
func statMatches(idx *index.Index, e *index.Entry, fi os.FileInfo) bool {
	if idx.ModTime.IsZero() || e.ModifiedAt.IsZero() {
		return false
	}
	if uint32(fi.Size()) != e.Size || !fi.ModTime().Equal(e.ModifiedAt) {
		return false
	}
	return fi.ModTime().Before(idx.ModTime)
}

func hashFile(path string, size int64) (plumbing.Hash, error) {
	f, err := os.Open(path)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("cannot open %s: %w", path, err)
	}
	defer f.Close()
	h := plumbing.NewHasher(plumbing.BlobObject, size)
	n, err := io.Copy(h, f)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if n != size {
		// The header already committed to size: a file that changed while
		// being read is reported as modified rather than mis-hashed.
		return plumbing.ZeroHash, nil
	}
	return h.Sum(), nil
}

// modification is one tracked path that differs from HEAD.
type modification struct {
	path     string
	index    state
	worktree state
}

// modifications lists the tracked paths whose index entry differs from
// HEAD (staged) or whose work tree file differs from the index (unstaged),
// sorted. Only paths in HEAD or the index are looked at: untracked and
// ignored files are never visited. The work tree is looked at by
// checkoutWorkers goroutines, as git's preload-index does: an lstat is
// mostly waiting on the kernel.
func (r *Repo) modifications(s *snapshot) ([]modification, error) {
	seen := make(map[string]bool, len(s.head)+len(s.entries))
	paths := make([]string, 0, len(s.head)+len(s.entries))
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	for p := range s.head {
		add(p)
	}
	for p := range s.entries {
		add(p)
	}
	for p := range s.unmerged {
		add(p)
	}
	workers := min(checkoutWorkers, 1+len(paths)/500)
	found := make([][]modification, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(paths); i += workers {
				m, dirty, err := r.modification(s, paths[i])
				if err != nil {
					errs[w] = err
					return
				}
				if dirty {
					found[w] = append(found[w], m)
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var mods []modification
	for _, f := range found {
		mods = append(mods, f...)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].path < mods[j].path })
	return mods, nil
}

// modification compares path in HEAD, the index and the work tree, and
// reports whether it is modified.
func (r *Repo) modification(s *snapshot, p string) (modification, bool, error) {
	is := s.indexState(p)
	e := s.entries[p]
	m := modification{path: p, index: is}
	dirty := s.unmerged[p] || is != s.head[p]
	if e != nil && e.IntentToAdd {
		dirty = true
	}
	switch {
	case e != nil && e.SkipWorktree:
		m.worktree = is // skip-worktree: git does not look at the file
	default:
		ws, err := r.worktreeState(s, p)
		if err != nil {
			return m, false, err
		}
		m.worktree = ws
		if e != nil {
			dirty = dirty || ws != is
		}
	}
	return m, dirty, nil
}

// LocalModifications returns the slash-separated paths, relative to the
// work tree root and sorted, of tracked files that are modified, deleted
// or have staged changes (including staged additions and deletions and
// unresolved merge conflicts) compared with HEAD. Untracked and ignored
// files are not modifications and are never read, so the cost depends on
// the number of tracked files, not on the size of data/. An empty result
// means Checkout will not refuse because of local edits.
func (r *Repo) LocalModifications() ([]string, error) {
	s, err := r.readSnapshot()
	if err != nil {
		return nil, err
	}
	mods, err := r.modifications(s)
	if err != nil {
		return nil, err
	}
	paths := make([]string, len(mods))
	for i, m := range mods {
		paths[i] = m.path
	}
	return paths, nil
}

// indexEntryFor builds a fresh index entry for the file now at path, so
// the next status can trust size and mtime instead of hashing.
func (r *Repo) indexEntryFor(path string, st state) (*index.Entry, error) {
	abs := filepath.Join(r.dir, filepath.FromSlash(path))
	fi, err := os.Lstat(abs)
	if err != nil {
		return nil, fmt.Errorf("cannot stat %s: %w", abs, err)
	}
	e := &index.Entry{
		Name:       path,
		Hash:       st.hash,
		Mode:       st.mode,
		ModifiedAt: fi.ModTime(),
		Size:       uint32(fi.Size()),
	}
	fillStat(e, fi)
	return e, nil
}
