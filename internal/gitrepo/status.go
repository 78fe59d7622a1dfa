package gitrepo

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

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
	// indexFile is the index file idx was decoded from, nil when there
	// was none: what a checkout that cannot move HEAD puts back.
	indexFile []byte
	entries   map[string]*index.Entry // stage 0 entries
	unmerged  map[string]bool         // paths with conflict stages (a merge in progress)
	fileMode  bool                    // core.fileMode: whether the executable bit counts
	// indexIsHead says the index holds exactly HEAD's tree (headStates
	// took head from it): no staged change, no conflict.
	indexIsHead bool
	// worktree waits for the look at the work tree readSnapshot started
	// and returns it (see scanWorktree).
	worktree func() (map[string]state, error)
}

// readSnapshot reads HEAD, its tree and the index, and starts looking at
// the work tree file of every path the index names. The work tree is
// looked at (kernel work, checkoutWorkers goroutines) while this goroutine
// reads HEAD's tree (headStates: CPU work); the look does not need r.repo's
// object storage. modifications(s) waits for the look.
func (r *Repo) readSnapshot() (*snapshot, error) {
	s := &snapshot{fileMode: true}
	cfg, err := r.repo.Config()
	if err != nil {
		return nil, fmt.Errorf("cannot read git config of %s: %w", r.dir, err)
	}
	if v := cfg.Raw.Section("core").Option("filemode"); v == "false" {
		s.fileMode = false
	}
	indexc := make(chan error, 1)
	type scanResult struct {
		changed map[string]state
		err     error
	}
	scanc := make(chan scanResult, 1)
	go func() {
		idx, file, err := readIndex(filepath.Join(r.gitDir, "index"))
		if err != nil {
			indexc <- fmt.Errorf("cannot read git index of %s: %w", r.dir, err)
			close(scanc)
			return
		}
		s.setIndex(idx)
		s.indexFile = file
		indexc <- nil
		changed, err := r.scanWorktree(s)
		scanc <- scanResult{changed, err}
	}()
	s.worktree = sync.OnceValues(func() (map[string]state, error) {
		res, ok := <-scanc
		if !ok {
			return nil, errors.New("the index was not read")
		}
		return res.changed, res.err
	})
	var headTree plumbing.Hash
	s.headHash, s.detached, err = r.readHead()
	if err == nil {
		headTree, err = r.commitTreeHash(s.headHash)
	}
	if ierr := <-indexc; ierr != nil || err != nil {
		_, _ = s.worktree() // no look left running
		return nil, errors.Join(err, ierr)
	}
	if s.head, err = r.headStates(s, headTree); err != nil {
		_, _ = s.worktree()
		return nil, err
	}
	return s, nil
}

// headStates is the flattened tree of s's HEAD, whose root tree is tree:
// the index's when it holds exactly that tree (indexTree; s.indexIsHead is
// then set), else read from the object store; either from the memo when it
// has it. The map may be shared: read it only.
func (r *Repo) headStates(s *snapshot, tree plumbing.Hash) (map[string]state, error) {
	if h, ok := indexTree(s.idx.Entries); ok && h == tree {
		s.indexIsHead = true
		if states := r.memoized(s.headHash); states != nil {
			return states, nil
		}
		states := make(map[string]state, len(s.entries))
		for p, e := range s.entries {
			states[p] = state{present: true, hash: e.Hash, mode: normMode(e.Mode)}
		}
		rememberStates(s.headHash, states)
		return states, nil
	}
	return r.commitStates(s.headHash)
}

// setIndex makes idx the snapshot's index.
func (s *snapshot) setIndex(idx *index.Index) {
	s.idx = idx
	s.entries = make(map[string]*index.Entry, len(idx.Entries))
	s.unmerged = map[string]bool{}
	for _, e := range idx.Entries {
		if e.Stage != stageMerged {
			s.unmerged[e.Name] = true
			continue
		}
		s.entries[e.Name] = e
	}
}

// scanWorktree looks at the work tree file of every path the index names
// (but not those marked skip-worktree, which git does not look at either)
// with checkoutWorkers goroutines, each taking a run of the sorted entries,
// as git's preload-index does: an lstat is mostly waiting on the kernel.
// It returns the state of the files that differ from their stage-0 entry,
// and of the conflicted paths, which have none; every other path's file
// matches its entry. It reads s's index only.
//
// A file is first looked at relative to the work tree root's descriptor
// (statMatchesAt: a shorter path for the kernel to walk, nothing allocated
// for the answer); only a file that does not plainly match its entry is
// looked at again, and hashed if need be, by worktreeState.
func (r *Repo) scanWorktree(s *snapshot) (map[string]state, error) {
	root := openRoot(r.dir)
	defer closeRoot(root)
	entries := s.idx.Entries
	workers := min(checkoutWorkers, 1+len(entries)/500)
	found := make([]map[string]state, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			found[w] = map[string]state{}
			for _, e := range entries[w*len(entries)/workers : (w+1)*len(entries)/workers] {
				if e.Stage != stageMerged || e.SkipWorktree || s.statMatchesAt(root, e) {
					continue
				}
				ws, err := r.worktreeState(s, e.Name)
				if err != nil {
					errs[w] = err
					return
				}
				if ws != s.indexState(e.Name) {
					found[w][e.Name] = ws
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	changed := found[0]
	for _, f := range found[1:] {
		maps.Copy(changed, f)
	}
	for p := range s.unmerged {
		if s.entries[p] != nil {
			continue
		}
		ws, err := r.worktreeState(s, p)
		if err != nil {
			return nil, err
		}
		changed[p] = ws
	}
	return changed, nil
}

// readIndex decodes the index file at path, with its modification time
// (what racy-git checks compare with), and returns the file's bytes too; a
// missing file is an empty index (as in a clone made with --no-checkout)
// and nil bytes.
func readIndex(path string) (*index.Index, []byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &index.Index{Version: 2}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	idx, err := decodeIndex(data)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot decode %s: %w", path, err)
	}
	idx.ModTime = fi.ModTime()
	return idx, data, nil
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
	mode := s.fileModeOf(fi.Mode().Perm(), known)
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
	return sizeTimeMatch(idx, e, fi.Size(), fi.ModTime())
}

// sizeTimeMatch is statMatches of a file of size bytes last modified at
// mtime.
func sizeTimeMatch(idx *index.Index, e *index.Entry, size int64, mtime time.Time) bool {
	if idx.ModTime.IsZero() || e.ModifiedAt.IsZero() {
		return false
	}
	if uint32(size) != e.Size || !mtime.Equal(e.ModifiedAt) {
		return false
	}
	return mtime.Before(idx.ModTime)
}

// fileModeOf is the mode worktreeState gives a regular file whose
// permission bits are perm, known being its index entry (nil: none).
func (s *snapshot) fileModeOf(perm os.FileMode, known *index.Entry) filemode.FileMode {
	if !s.fileMode && known != nil && (known.Mode == filemode.Regular || known.Mode == filemode.Executable) {
		return known.Mode
	}
	if perm&0o111 != 0 {
		return filemode.Executable
	}
	return filemode.Regular
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
// ignored files are never visited. It waits for the look at the work tree
// readSnapshot started; a path only HEAD names (a staged deletion) is
// looked at here.
func (r *Repo) modifications(s *snapshot) ([]modification, error) {
	changed, err := s.worktree()
	if err != nil {
		return nil, err
	}
	var mods []modification
	if s.indexIsHead {
		// Nothing staged: only files that differ from their entry.
		for p, ws := range changed {
			mods = append(mods, modification{path: p, index: s.indexState(p), worktree: ws})
		}
		sort.Slice(mods, func(i, j int) bool { return mods[i].path < mods[j].path })
		return mods, nil
	}
	check := func(p string) error {
		is := s.indexState(p)
		e := s.entries[p]
		dirty := s.unmerged[p] || is != s.head[p] || e != nil && e.IntentToAdd
		ws, ok := changed[p]
		switch {
		case ok:
		case e != nil: // skip-worktree, or a file that matches its entry
			ws = is
		case !s.unmerged[p]:
			if ws, err = r.worktreeState(s, p); err != nil {
				return err
			}
		}
		if e != nil && ws != is {
			dirty = true
		}
		if dirty {
			mods = append(mods, modification{path: p, index: is, worktree: ws})
		}
		return nil
	}
	for p := range s.head {
		if err := check(p); err != nil {
			return nil, err
		}
	}
	for p := range s.entries {
		if _, inHead := s.head[p]; !inHead {
			if err := check(p); err != nil {
				return nil, err
			}
		}
	}
	for p := range s.unmerged {
		if _, inHead := s.head[p]; !inHead && s.entries[p] == nil {
			if err := check(p); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].path < mods[j].path })
	return mods, nil
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
