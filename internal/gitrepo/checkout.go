package gitrepo

import (
	"regexp"

	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"

	"github.com/better-paas/updater/internal/atomicfile"
)

// change is one tracked path that differs between HEAD and the target.
type change struct {
	path     string
	from, to state
}

// applied is one work tree write Checkout made, kept so a failure can put
// the path back as it was.
type applied struct {
	path string
	prev state
}

// Checkout moves the work tree, the index and HEAD to commit (a full hash
// already in the local object store) and leaves HEAD detached there.
//
// Only tracked paths that differ between HEAD and commit are written or
// removed; untracked and ignored files (data/, .env, server, server.bak,
// frontend/dist, empty folders) are never read, moved or deleted. Folders
// left empty by a removed tracked file are removed, as git does.
//
// Before writing anything it refuses with a *LocalModificationsError when:
//   - a tracked file is modified, deleted or staged compared with HEAD
//     (ErrLocalModifications), unless its index entry and work tree file
//     already equal commit's version, which is what an interrupted
//     Checkout to the same commit leaves behind;
//   - an untracked or ignored file or folder sits where commit adds a
//     tracked path, or where commit needs a folder (ErrUntrackedInTheWay),
//     unless it already has exactly commit's content.
//
// Other errors: ErrCommitNotFound (fetch first), ErrIndexLocked (another
// git process), ErrUnsupported (submodules, unsafe paths), the context's
// error when ctx is cancelled before HEAD moves. When an error happens
// after files were written, Checkout restores them (and the index) before
// returning, so HEAD, the index and the work tree are as they were; if
// even that fails the error says so, and running the same Checkout again
// completes the move.
//
// Checkout is idempotent: at commit already, with a clean tree and a
// detached HEAD, it writes nothing.
func (r *Repo) Checkout(ctx context.Context, commit string) error {
	target, err := parseHash(commit)
	if err != nil {
		return err
	}
	if err := r.checkout(ctx, target); err != nil {
		return fmt.Errorf("cannot check out %s in %s: %w", target, r.dir, err)
	}
	return nil
}

// CheckoutCheck is what stands in the way of a checkout, found by
// CheckCheckout without writing anything.
type CheckoutCheck struct {
	// Modified are the tracked files modified compared with HEAD, as
	// LocalModifications lists them: those Checkout refuses for and those
	// it takes for its own unfinished work alike.
	Modified []string
	// Refusal is the error Checkout would return before writing (a
	// *LocalModificationsError, ErrCommitNotFound, ErrIndexLocked,
	// ErrUnsupported), nil when Checkout would go ahead.
	Refusal error
}

// CheckCheckout reports, without writing anything, what Checkout to commit
// would meet, reading HEAD, the index and the work tree once for both
// answers. The reconciler asks before an update starts, so a blocked
// checkout costs no backup and no build. Its error says why HEAD, the
// index or the work tree could not be read (or that commit is not a full
// hash); the answer is then empty.
func (r *Repo) CheckCheckout(ctx context.Context, commit string) (CheckoutCheck, error) {
	target, err := parseHash(commit)
	if err != nil {
		return CheckoutCheck{}, err
	}
	sv, err := r.survey(ctx, target)
	if err != nil {
		return CheckoutCheck{}, err
	}
	c := CheckoutCheck{Modified: make([]string, len(sv.mods))}
	for i, m := range sv.mods {
		c.Modified[i] = m.path
	}
	if _, err := r.planFrom(sv); err != nil {
		c.Refusal = fmt.Errorf("cannot check out %s in %s: %w", target, r.dir, err)
	}
	return c, nil
}

// checkoutPlan is what a checkout will write, decided before it writes.
type checkoutPlan struct {
	target  plumbing.Hash
	s       *snapshot
	want    map[string]state // the target tree
	mods    []modification   // local modifications, all our own unfinished work
	changes []change         // HEAD -> target, sorted by path
	already map[string]bool  // paths the work tree already holds at the target version
	noop    bool             // at target already, clean and detached
}

func (r *Repo) checkout(ctx context.Context, target plumbing.Hash) error {
	return r.withOpenPacks(func() error {
		p, err := r.plan(ctx, target)
		if err != nil {
			return err
		}
		// A checkout killed between staging and renaming left staged
		// files, and its marker; this one (resuming it, or undoing it)
		// removes them. Without the marker there are none to look for.
		marker := r.stagingMarker()
		switch _, err := os.Lstat(marker); {
		case err == nil:
			if err := r.removeStaged(p); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("cannot check for a stopped checkout: %w", err)
		}
		if !p.noop {
			if err := r.apply(ctx, p); err != nil {
				return err // staged files were removed; the marker stays for a kill in between
			}
		}
		// Every staged file is renamed or removed: nothing left to find.
		// Not synced: should the removal be lost, the next checkout only
		// looks once more.
		if err := os.Remove(marker); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot remove %s: %w", marker, err)
		}
		return nil
	})
}

// stagingMarkerName is the file in the git folder that says a checkout may
// have left staged files in the work tree: written, durably, before the
// first file is staged, and removed when the checkout ends. removeStaged
// reads the work tree's folders (thousands in a large tree) only while it
// is there.
const stagingMarkerName = "better-paas-checkout-staging"

func (r *Repo) stagingMarker() string { return filepath.Join(r.gitDir, stagingMarkerName) }

// markStaging writes the staging marker and makes it durable, before the
// first staged file can reach the disk.
func (r *Repo) markStaging() error {
	return atomicfile.WriteFile(r.stagingMarker(), []byte("a checkout is staging files beside their paths; the next checkout removes what it left\n"), 0o644)
}

// survey is what a checkout reads before it decides: HEAD, the index and
// the work tree's modifications, and the target tree (want) with what
// changes from HEAD's, or why that cannot be read (wantErr:
// ErrCommitNotFound when it is not fetched, an unsafe path in it).
type survey struct {
	target  plumbing.Hash
	s       *snapshot
	mods    []modification
	want    map[string]state
	changes []change // HEAD -> target, sorted by path
	wantErr error
	// objectsErr says which object the changes need is not in the store
	// (checkObjects), nil when all are.
	objectsErr error
}

// survey reads what plan decides from. The work tree is looked at (kernel
// work) while this goroutine reads the target tree and checks that the
// store has every object the checkout writes; modifications reads the
// snapshot and the work tree only, never r.repo, which is not safe for
// concurrent use.
func (r *Repo) survey(ctx context.Context, target plumbing.Hash) (*survey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := r.readSnapshot()
	if err != nil {
		return nil, err
	}
	type modsResult struct {
		mods []modification
		err  error
	}
	modsc := make(chan modsResult, 1)
	go func() {
		mods, err := r.modifications(s)
		modsc <- modsResult{mods, err}
	}()
	sv := &survey{target: target, s: s}
	sv.want, sv.changes, sv.wantErr = r.targetState(s, target)
	if sv.wantErr == nil {
		sv.objectsErr = r.checkObjects(sv.changes)
	}
	res := <-modsc
	if res.err != nil {
		return nil, res.err
	}
	sv.mods = res.mods
	return sv, nil
}

// targetState is the tree of commit target, every path checked safe to
// write, and the changes from HEAD's tree (s.head) to it. A small tree the
// memo holds on both sides is compared path by path (no object is read);
// otherwise only the folders that differ from HEAD's are read
// (diffCommits) and the rest of the tree is HEAD's. The map may be shared
// (memo.go): read it only.
func (r *Repo) targetState(s *snapshot, target plumbing.Hash) (map[string]state, []change, error) {
	var changes []change
	want := r.memoized(target)
	if want != nil && len(s.head) <= maxMemoTreePaths {
		changes = diffStates(s.head, want)
	} else {
		var err error
		if changes, err = r.diffCommits(s.headHash, target); err != nil {
			return nil, nil, err
		}
		if want == nil {
			want = maps.Clone(s.head)
			for _, ch := range changes {
				if ch.to.present {
					want[ch.path] = ch.to
				} else {
					delete(want, ch.path)
				}
			}
			rememberStates(target, want)
		}
	}
	for p := range want {
		if err := checkPath(p); err != nil {
			return nil, nil, err
		}
	}
	return want, changes, nil
}

// diffStates lists the paths whose state differs between two flattened
// trees, sorted by path.
func diffStates(from, to map[string]state) []change {
	var out []change
	for p, f := range from {
		if t := to[p]; t != f {
			out = append(out, change{path: p, from: f, to: t})
		}
	}
	for p, t := range to {
		if _, ok := from[p]; !ok {
			out = append(out, change{path: p, from: absent, to: t})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// plan reads the target tree, the index and the work tree and decides
// what to write; it refuses, writing nothing, for every reason Checkout
// documents before its first write.
func (r *Repo) plan(ctx context.Context, target plumbing.Hash) (*checkoutPlan, error) {
	sv, err := r.survey(ctx, target)
	if err != nil {
		return nil, err
	}
	return r.planFrom(sv)
}

// planFrom decides a checkout from what survey read.
func (r *Repo) planFrom(sv *survey) (*checkoutPlan, error) {
	if sv.wantErr != nil {
		return nil, sv.wantErr
	}
	target, s, want, mods, changes := sv.target, sv.s, sv.want, sv.mods, sv.changes
	if s.headHash == target && len(mods) == 0 && s.detached {
		return &checkoutPlan{target: target, noop: true}, nil
	}
	if err := r.checkIndexUnlocked(); err != nil {
		return nil, err
	}

	dirty, err := r.ownModifications(s, mods, want)
	if err != nil {
		return nil, err
	}
	deleting := map[string]bool{}
	for _, ch := range changes {
		if ch.from.mode == filemode.Submodule || ch.to.mode == filemode.Submodule {
			return nil, fmt.Errorf("%w: %s is a submodule", ErrUnsupported, ch.path)
		}
		if !ch.to.present {
			deleting[ch.path] = true
		}
	}
	if sv.objectsErr != nil {
		return nil, sv.objectsErr
	}
	already, err := r.inTheWay(s, changes, deleting, dirty)
	if err != nil {
		return nil, err
	}
	return &checkoutPlan{target: target, s: s, want: want, mods: mods, changes: changes, already: already}, nil
}

// ownModifications returns the modified paths when every one of them is
// our own unfinished work (an interrupted checkout to the same target: its
// index entry is HEAD's or the target's and its file the target's), and a
// *LocalModificationsError naming the others when someone edited files.
func (r *Repo) ownModifications(s *snapshot, mods []modification, want map[string]state) (map[string]bool, error) {
	dirty := map[string]bool{}
	var foreign []string
	for _, m := range mods {
		dirty[m.path] = true
		t := want[m.path]
		indexOK := !s.unmerged[m.path] && (m.index == s.head[m.path] || m.index == t)
		if !indexOK || m.worktree != t {
			foreign = append(foreign, m.path)
		}
	}
	if len(foreign) > 0 {
		return nil, &LocalModificationsError{Kind: ErrLocalModifications, Dir: r.dir, Paths: foreign}
	}
	return dirty, nil
}

// checkObjects returns an error naming the first of the objects changes
// write that is not in the store (ErrCommitNotFound: fetch again), nil
// when the store has them all.
func (r *Repo) checkObjects(changes []change) error {
	for _, ch := range changes {
		if !ch.to.present {
			continue
		}
		if err := r.hasObject(ch.to.hash); err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return fmt.Errorf("cannot find object %s for %s: %w: fetch the tag again", ch.to.hash, ch.path, ErrCommitNotFound)
			}
			return fmt.Errorf("cannot find object %s for %s: %w", ch.to.hash, ch.path, err)
		}
	}
	return nil
}

// inTheWay checks every path the checkout will write: no untracked or
// ignored file or folder may sit where it goes (a *LocalModificationsError
// with ErrUntrackedInTheWay names them all). It returns the paths the work
// tree already holds at the target version, which apply need not write.
func (r *Repo) inTheWay(s *snapshot, changes []change, deleting, dirty map[string]bool) (map[string]bool, error) {
	already := map[string]bool{}
	realDirs := map[string]bool{} // folders found to be real folders
	var blocked []string
	for _, ch := range changes {
		if !ch.to.present {
			continue
		}
		if dirty[ch.path] {
			already[ch.path] = true
			continue
		}
		blocker, err := r.blockedAncestor(ch.path, deleting, realDirs)
		if err != nil {
			return nil, err
		}
		if blocker != "" {
			blocked = append(blocked, blocker)
			continue
		}
		if ch.from.present {
			continue // tracked and clean: the file is HEAD's version
		}
		ws, err := r.worktreeState(s, ch.path)
		if err != nil {
			return nil, err
		}
		switch {
		case !ws.present:
		case ws == ch.to:
			already[ch.path] = true
		case ws.mode == filemode.Dir:
			foreignFile, err := r.foreignFileUnder(ch.path, deleting)
			if err != nil {
				return nil, err
			}
			if foreignFile != "" {
				blocked = append(blocked, foreignFile)
			}
		default:
			blocked = append(blocked, ch.path)
		}
	}
	if len(blocked) > 0 {
		sort.Strings(blocked)
		return nil, &LocalModificationsError{Kind: ErrUntrackedInTheWay, Dir: r.dir, Paths: dedup(blocked)}
	}
	return already, nil
}

// apply writes p: removals, then writes, then the index, then HEAD, undoing
// its own writes when one fails.
func (r *Repo) apply(ctx context.Context, p *checkoutPlan) error {
	target, s, want, mods, changes, already := p.target, p.s, p.want, p.mods, p.changes, p.already

	indexPath, oldIndex := filepath.Join(r.gitDir, "index"), s.indexFile
	// From here on every write is recorded so a failure can be undone.
	var done []applied
	fail := func(cause error) error {
		if uerr := r.undo(done); uerr != nil {
			return errors.Join(cause, fmt.Errorf("cannot undo the partial checkout, run the same checkout again to complete it: %w", uerr))
		}
		return cause
	}
	written, err := r.applyChanges(ctx, changes, already, &done)
	if err != nil {
		return fail(err)
	}
	// The new index is encoded while the renames are made durable; it is
	// written once they are.
	var data []byte
	var encodeErr error
	needIndex := len(changes) > 0 || len(mods) > 0
	encoded := make(chan struct{})
	go func() {
		defer close(encoded)
		if needIndex {
			data, encodeErr = r.encodeIndex(s, want, written)
		}
	}()
	syncErr := r.syncRenames(written)
	<-encoded
	if err := errors.Join(syncErr, encodeErr); err != nil {
		return fail(err)
	}
	if needIndex {
		if err := r.writeIndex(data); err != nil {
			return fail(err)
		}
	}
	// HEAD last: until here a crash leaves HEAD on the old commit and the
	// written files recognisable as this checkout's unfinished work.
	headPath := filepath.Join(r.gitDir, "HEAD")
	if err := atomicfile.WriteFile(headPath, []byte(target.String()+"\n"), 0o644); err != nil {
		if oldIndex != nil {
			if ierr := r.writeIndex(oldIndex); ierr != nil {
				return errors.Join(err, fmt.Errorf("cannot restore %s, run the same checkout again to complete it: %w", indexPath, ierr))
			}
		}
		return fail(err)
	}
	return nil
}

// stagedMark is in the name of every file a checkout stages, between the
// path's name and a random suffix: ".<name>.checkout-tmp-<16 hex>".
const stagedMark = ".checkout-tmp-"

// stagedName matches the names stageEntry gives, and nothing a person or
// an app would name a file.
var stagedName = regexp.MustCompile(`^\..+` + regexp.QuoteMeta(stagedMark) + `[0-9a-f]{16}$`)

// removeStaged removes the staged files a killed checkout left in the
// folders of every path p's HEAD, index or target names.
func (r *Repo) removeStaged(p *checkoutPlan) error {
	dirs := map[string]bool{}
	add := func(p string) { dirs[path.Dir(p)] = true }
	if p.s != nil {
		for q := range p.s.head {
			add(q)
		}
		for q := range p.s.entries {
			add(q)
		}
	}
	for q := range p.want {
		add(q)
	}
	list := make([]string, 0, len(dirs))
	for dir := range dirs {
		list = append(list, r.abs(dir))
	}
	// Reading a few thousand folders is kernel work: overlap it.
	workers := min(checkoutWorkers, 1+len(list)/200)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(list) && errs[w] == nil; i += workers {
				errs[w] = removeStagedIn(list[i])
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// removeStagedIn removes the staged files in folder dir.
func removeStagedIn(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil // a folder that is not there holds nothing staged
	}
	for _, e := range entries {
		if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
			if stagedName.MatchString(e.Name()) {
				if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("cannot remove a staged file a stopped checkout left: %w", err)
				}
			}
		}
	}
	return nil
}

// checkPath rejects tree paths git itself refuses to check out: they
// could write outside the install or into .git.
func checkPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.ContainsRune(p, 0) {
		return fmt.Errorf("%w: unsafe path %q in tree", ErrUnsupported, p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." || strings.EqualFold(c, ".git") {
			return fmt.Errorf("%w: unsafe path %q in tree", ErrUnsupported, p)
		}
	}
	return nil
}

func dedup(sorted []string) []string {
	out := sorted[:0]
	for i, s := range sorted {
		if i == 0 || s != sorted[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func (r *Repo) hook(p string) error {
	if r.beforeWrite == nil {
		return nil
	}
	return r.beforeWrite(p)
}

func (r *Repo) abs(p string) string { return filepath.Join(r.dir, filepath.FromSlash(p)) }

func (r *Repo) checkIndexUnlocked() error {
	lock := filepath.Join(r.gitDir, "index.lock")
	if _, err := os.Lstat(lock); err == nil {
		return fmt.Errorf("%w: %s exists: another git process is running in %s; if none is, remove the file and retry",
			ErrIndexLocked, lock, r.dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot stat %s: %w", lock, err)
	}
	return nil
}

// blockedAncestor returns the first folder of p (shallowest first) that
// exists in the work tree but is not a real folder (a file or a symlink),
// unless this checkout removes it as a tracked file. Writing through it
// would overwrite an untracked file or follow a symlink out of place.
// realDirs remembers the folders found to be real folders, so the paths
// of one folder cost one lstat per ancestor, not one per path.
func (r *Repo) blockedAncestor(p string, deleting, realDirs map[string]bool) (string, error) {
	var dirs []string
	for d := path.Dir(p); d != "." && !realDirs[d]; d = path.Dir(d) {
		dirs = append(dirs, d)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		fi, err := os.Lstat(r.abs(d))
		if errors.Is(err, os.ErrNotExist) {
			return "", nil // nothing deeper exists either
		}
		if err != nil {
			return "", fmt.Errorf("cannot stat %s: %w", r.abs(d), err)
		}
		if fi.IsDir() {
			realDirs[d] = true
			continue
		}
		if deleting[d] {
			return "", nil
		}
		return d, nil
	}
	return "", nil
}

// foreignFileUnder returns the first file under folder p that is not a
// tracked file this checkout removes; "" when the folder holds nothing
// else, so it can be removed to make room for a file at p.
func (r *Repo) foreignFileUnder(p string, deleting map[string]bool) (string, error) {
	var foreign string
	err := filepath.WalkDir(r.abs(p), func(abs string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(r.dir, abs)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); !deleting[rel] {
			foreign = rel
			return fs.SkipAll
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("cannot inspect %s: %w", r.abs(p), err)
	}
	return foreign, nil
}

// removeTracked removes the tracked file p and the folders it leaves
// empty, durably. It reports false when p was already gone (a resumed
// checkout).
func (r *Repo) removeTracked(p string) (bool, error) {
	parent, removed, err := r.unlinkTracked(p)
	if err != nil || !removed {
		return removed, err
	}
	return true, atomicfile.SyncDir(parent)
}

// unlinkTracked removes the tracked file p and the folders it leaves
// empty, not synced, and returns the first folder kept (the one whose
// entry changed). It reports false when p was already gone.
func (r *Repo) unlinkTracked(p string) (parent string, removed bool, err error) {
	abs := r.abs(p)
	if err := os.Remove(abs); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("cannot remove %s: %w", abs, err)
	}
	return r.pruneEmptyParents(filepath.Dir(abs)), true, nil
}

// pruneEmptyParents removes dir and its parents while they are empty real
// folders below the work tree root, and returns the first folder kept.
func (r *Repo) pruneEmptyParents(dir string) string {
	for dir != r.dir && strings.HasPrefix(dir, r.dir+string(filepath.Separator)) {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			break
		}
		if err := os.Remove(dir); err != nil {
			break // not empty: it holds something else, keep it
		}
		dir = filepath.Dir(dir)
	}
	return dir
}

// removeEmptyTree removes folder abs whose only content is empty folders
// (foreignFileUnder checked that, and the tracked files were removed).
func removeEmptyTree(abs string) error {
	var dirs []string
	err := filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot inspect %s: %w", abs, err)
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := os.Remove(dirs[i]); err != nil {
			return fmt.Errorf("cannot remove folder %s: %w", dirs[i], err)
		}
	}
	return nil
}

// writeEntry replaces p in the work tree with the blob st names, as a
// regular file, an executable or a symlink. The replacement is atomic, so
// a crash leaves either the old or the new content, never a torn file.
func (r *Repo) writeEntry(p string, st state) error {
	abs := r.abs(p)
	if fi, err := os.Lstat(abs); err == nil && fi.IsDir() {
		if err := removeEmptyTree(abs); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return fmt.Errorf("cannot create folder for %s: %w", abs, err)
	}
	data, err := r.readBlob(st.hash)
	if err != nil {
		return fmt.Errorf("cannot read %s for %s: %w", st.hash, p, err)
	}
	switch st.mode {
	case filemode.Regular:
		return atomicfile.WriteFile(abs, data, 0o644)
	case filemode.Executable:
		return atomicfile.WriteFile(abs, data, 0o755)
	case filemode.Symlink:
		tmp := filepath.Join(filepath.Dir(abs), fmt.Sprintf(".%s.tmp-link-%016x", filepath.Base(abs), rand.Uint64()))
		if err := os.Symlink(string(data), tmp); err != nil {
			return fmt.Errorf("cannot create symlink %s: %w", tmp, err)
		}
		if err := atomicfile.Rename(tmp, abs); err != nil {
			_ = os.Remove(tmp)
			return err
		}
		return nil
	default:
		return fmt.Errorf("%w: %s has mode %s", ErrUnsupported, p, st.mode)
	}
}

func (r *Repo) readBlob(h plumbing.Hash) ([]byte, error) {
	blob, err := r.repo.BlobObject(h)
	if err != nil {
		return nil, err
	}
	rd, err := blob.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// undo puts back, newest first, what the applied writes replaced.
func (r *Repo) undo(done []applied) error {
	var errs []error
	for i := len(done) - 1; i >= 0; i-- {
		a := done[i]
		if a.prev.present {
			if err := r.writeEntry(a.path, a.prev); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		if _, err := r.removeTracked(a.path); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// encodeIndex builds the index of the target tree want. Entries of
// unchanged files keep their recorded stat data; written files, and paths
// whose entry does not hold want's version, get fresh stat data, so
// neither go-git nor git has to hash them again. The cached-tree and other
// extensions are not carried over: they describe the old tree.
//
// The kept entries are taken in the old index's order (sorted), so only
// the fresh ones need sorting.
func (r *Repo) encodeIndex(s *snapshot, want map[string]state, written map[string]bool) ([]byte, error) {
	keep := func(old *index.Entry, st state) bool {
		return old != nil && !written[old.Name] && old.Hash == st.hash && normMode(old.Mode) == st.mode && !old.IntentToAdd && !old.SkipWorktree
	}
	kept := make([]*index.Entry, 0, len(want))
	for _, old := range s.idx.Entries {
		if st, ok := want[old.Name]; ok && old.Stage == stageMerged && keep(old, st) {
			kept = append(kept, old) // read only: no copy needed
		}
	}
	var fresh []*index.Entry
	for p, st := range want {
		if keep(s.entries[p], st) {
			continue
		}
		e, err := r.indexEntryFor(p, st)
		if err != nil {
			return nil, err
		}
		fresh = append(fresh, e)
	}
	slices.SortFunc(fresh, func(a, b *index.Entry) int { return strings.Compare(a.Name, b.Name) })
	data, err := encodeIndexV2(mergeSorted(kept, fresh))
	if err != nil {
		return nil, fmt.Errorf("cannot encode git index: %w", err)
	}
	return data, nil
}

// mergeSorted merges two lists of entries sorted by name.
func mergeSorted(a, b []*index.Entry) []*index.Entry {
	if len(b) == 0 {
		return a
	}
	out := make([]*index.Entry, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].Name <= b[0].Name {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// writeIndex replaces .git/index the way git does: write index.lock
// (created exclusively, so a concurrent git process is detected), fsync
// it, rename it over index.
func (r *Repo) writeIndex(data []byte) (err error) {
	lock := filepath.Join(r.gitDir, "index.lock")
	f, err := os.OpenFile(lock, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s exists: another git process is running in %s; if none is, remove the file and retry",
				ErrIndexLocked, lock, r.dir)
		}
		return fmt.Errorf("cannot create %s: %w", lock, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(lock)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("cannot write %s: %w", lock, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("cannot sync %s: %w", lock, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("cannot close %s: %w", lock, err)
	}
	return atomicfile.Rename(lock, filepath.Join(r.gitDir, "index"))
}
