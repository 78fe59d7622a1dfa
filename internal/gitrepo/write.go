package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sync"

	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/better-paas/updater/internal/fault"
	"github.com/better-paas/updater/internal/gitpack"
)

// checkoutWorkers is how many files a checkout decodes and creates, or
// renames, at once. Creating and renaming are file system work in the
// kernel (inode allocation, the journal, directory locks) more than CPU
// work in this process, so a few workers overlap it, as git's
// preload-index and parallel checkout do.
const checkoutWorkers = 4

// applyChanges makes the work tree match the target's changed paths:
// removals first, deepest paths first, so a path that turns from a file
// into a folder (or back) is free when the writes start; then the writes,
// skipping what is already there. Each change is appended to done once
// made, so the caller can undo them all. It returns the paths written,
// whose renames the caller makes durable (syncRenames).
//
// Durability: a checkout of n files costs a few syncs (one per syncEvery
// files staged, one for the renames), not 2n fsyncs, and a power loss
// still leaves every path with its old or its new content: each file is
// staged beside its path, made durable with the removals and the files
// staged with it, and only then renamed into place (stageAndRename); the
// renames are made durable before the index is written.
func (r *Repo) applyChanges(ctx context.Context, changes []change, already map[string]bool, done *[]applied) (map[string]bool, error) {
	var todo []change
	for _, ch := range changes {
		if ch.to.present && !already[ch.path] {
			todo = append(todo, ch)
		}
	}
	// The staging marker is made durable while the removals are made and
	// the first blobs decoded; no file is staged before it is.
	marked := func() error { return nil }
	if len(todo) > 0 {
		markc := make(chan error, 1)
		go func() { markc <- r.markStaging() }()
		marked = sync.OnceValue(func() error { return <-markc })
	}
	defer func() { _ = marked() }() // no marker write left running

	var kept []string // the folders whose entries the removals changed
	for i := len(changes) - 1; i >= 0; i-- {
		ch := changes[i]
		if ch.to.present {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := r.hook(ch.path); err != nil {
			return nil, err
		}
		parent, removed, err := r.unlinkTracked(ch.path)
		if err != nil {
			return nil, err
		}
		if removed {
			*done = append(*done, applied{path: ch.path, prev: ch.from})
			kept = append(kept, parent)
		}
	}
	kept = standing(kept)

	staged := make([]stagedWrite, len(todo))
	defer func() {
		// Staged files never renamed, and the folders made for them.
		for _, w := range staged {
			if w.tmp != "" {
				_ = os.Remove(w.tmp)
				r.pruneEmptyParents(filepath.Dir(w.tmp))
			}
		}
	}()
	if len(todo) == 0 {
		// Only removals: made durable before the caller writes the index.
		if len(kept) > 0 {
			if err := syncWritten(r, kept, func(p string) string { return p }); err != nil {
				return nil, err
			}
		}
		return map[string]bool{}, nil
	}
	return r.stageAndRename(ctx, todo, staged, kept, marked, done)
}

// standing returns the folders of dirs that still exist, each once. A
// folder a removal left may go with a later removal that empties it (that
// one names the folder above), and a folder that is gone cannot be opened
// to be synced where folders are synced one by one.
func standing(dirs []string) []string {
	slices.Sort(dirs)
	dirs = slices.Compact(dirs)
	out := dirs[:0]
	for _, d := range dirs {
		if fi, err := os.Lstat(d); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// syncEvery is how many staged files wait for a sync before they are
// renamed while the rest are still being staged (stageAndRename): a few
// syncs on a checkout of 20,000 files, one on the usual release. Tests
// lower it.
var syncEvery = 2048

// stageAndRename stages todo[i] into staged[i], makes the staged files
// durable and renames them over their paths, as a pipeline:
// checkoutWorkers goroutines stage a folder's batch at a time (stageAll);
// once syncEvery staged files wait, or the staging is over, one goroutine
// makes them all durable at once, with the removals in kept's folders the
// first time (syncStaged), and hands them to checkoutWorkers goroutines
// that rename them (renameAll) while the staging goes on. A file is
// renamed only after a sync that began once it was staged, so every path
// keeps its old or its new content whatever happens. Creating a file is
// CPU work in the kernel, while renaming over a file mostly waits for the
// disk to free the old one (traced on 20,000 files: renames 1.0-1.2 s of
// wall time for 0.3-0.6 s of CPU): the two overlap.
//
// On an error every goroutine stops and the first error is returned;
// staged then names every file staged and not renamed, done every rename
// made. It returns the paths written.
func (r *Repo) stageAndRename(ctx context.Context, todo []change, staged []stagedWrite, kept []string, marked func() error, done *[]applied) (map[string]bool, error) {
	batches := stageBatches(todo)
	fe := newFirstError()
	ready := make(chan []int, len(batches))   // staged, not yet durable
	durable := make(chan []int, len(batches)) // durable, to rename
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(ready)
		r.stageAll(ctx, todo, batches, staged, marked, fe, ready)
	})
	wg.Go(func() {
		defer close(durable)
		r.syncStaged(ready, staged, kept, fe, durable)
	})
	written := r.renameAll(ctx, staged, durable, fe, done)
	wg.Wait()
	if fe.err != nil {
		return nil, fe.err
	}
	return written, nil
}

// syncStaged makes the batches of staged files that arrive on ready
// durable, syncEvery files or more at a time and the rest once ready is
// closed, with the folders in kept (the removals) on the first sync, and
// passes each batch on to durable once it is. It stops at the first error,
// which it gives to fe.
func (r *Repo) syncStaged(ready <-chan []int, staged []stagedWrite, kept []string, fe *firstError, durable chan<- []int) {
	var pending [][]int
	n := 0
	flush := func() bool {
		paths := slices.Clone(kept)
		for _, b := range pending {
			for _, i := range b {
				paths = append(paths, staged[i].tmp)
			}
		}
		if err := syncWritten(r, paths, func(p string) string { return p }); err != nil {
			fe.set(err)
			return false
		}
		if r.afterSync != nil {
			r.afterSync(paths)
		}
		for _, b := range pending {
			durable <- b
		}
		pending, n, kept = nil, 0, nil
		return true
	}
	for b := range ready {
		if fe.stopped() {
			return
		}
		pending = append(pending, b)
		if n += len(b); n >= syncEvery && !flush() {
			return
		}
	}
	if !fe.stopped() && len(pending) > 0 {
		flush()
	}
}

// syncRenames makes durable the renames that put the written paths in
// place.
func (r *Repo) syncRenames(written map[string]bool) error {
	if len(written) == 0 {
		return nil
	}
	dirs := make([]string, 0, len(written))
	for p := range written {
		dirs = append(dirs, filepath.Dir(r.abs(p)))
	}
	return syncWritten(r, dirs, func(d string) string { return d })
}

// syncWritten makes durable what a checkout wrote below r's work tree
// (see the per-OS syncTree); items and fn name what was written, for
// systems that sync path by path.
func syncWritten[T any](r *Repo, items []T, fn func(T) string) error {
	if r.syncOff {
		return nil
	}
	return syncTree(r.dir, items, fn)
}

// stagedWrite is one file written beside its path, not yet renamed over it.
type stagedWrite struct {
	ch  change
	tmp string // "" once renamed, or when never staged
}

// stageBatch is how many paths of one folder a worker stages in a row.
// Creating a file holds its folder's lock in the kernel while the inode is
// allocated; workers creating files in the same folder queue on that lock,
// spinning on the CPU the holder needs (traced on the 20,000-file
// checkout: a tenth of its CPU time). A worker that takes a folder's files
// in a batch creates them while the others work in other folders; a folder
// larger than a batch is still spread over the workers.
const stageBatch = 128

// stageBatches splits the indexes of todo into batches of at most
// stageBatch paths of one folder each, in the order of todo's paths.
func stageBatches(todo []change) [][]int {
	open := map[string]int{} // folder -> its batch being filled
	var batches [][]int
	for i, ch := range todo {
		dir := path.Dir(ch.path)
		b, ok := open[dir]
		if !ok || len(batches[b]) == stageBatch {
			b = len(batches)
			batches = append(batches, make([]int, 0, 8))
			open[dir] = b
		}
		batches[b] = append(batches[b], i)
	}
	return batches
}

// firstError keeps the first error of several workers and tells the
// others to stop.
type firstError struct {
	once sync.Once
	err  error
	stop chan struct{}
}

func newFirstError() *firstError { return &firstError{stop: make(chan struct{})} }

func (f *firstError) set(err error) {
	f.once.Do(func() {
		f.err = err
		close(f.stop)
	})
}

func (f *firstError) stopped() bool {
	select {
	case <-f.stop:
		return true
	default:
		return false
	}
}

// stageAll stages the paths of todo the batches name (stageBatches) into
// staged: this goroutine runs the hook of each path and hands the batches
// out, checkoutWorkers goroutines read each blob from the packs (gitpack,
// one Reader each) and write the file, once marked (the staging marker is
// durable) returns nil, and send each batch staged whole to ready. A blob
// no pack holds (a loose object, an alternate) is read through go-git, one
// worker at a time: its object storage is not safe for concurrent use. It
// stops at the first error, which it gives to fe, and returns once its
// workers have; staged then names every file written.
func (r *Repo) stageAll(ctx context.Context, todo []change, batches [][]int, staged []stagedWrite, marked func() error, fe *firstError, ready chan<- []int) {
	packs, err := gitpack.Open(r.objectsDir)
	if err != nil {
		fe.set(fmt.Errorf("cannot open the packs of %s: %w", r.objectsDir, err))
		return
	}
	defer packs.Close()
	var goGit sync.Mutex // r.repo, for what no pack holds
	jobs := make(chan []int, checkoutWorkers)
	var dirs sync.Map // folders known to exist
	var wg sync.WaitGroup
	for range min(checkoutWorkers, len(batches)) {
		wg.Go(func() {
			if err := marked(); err != nil {
				fe.set(err)
			}
			blobs := packs.NewReader()
			for batch := range jobs {
				if r.stageBatch(blobs, &goGit, &dirs, todo, batch, staged, fe) {
					ready <- batch // never blocks: room for every batch
				}
			}
		})
	}
	func() {
		defer close(jobs)
		for _, batch := range batches {
			for _, i := range batch {
				if err := ctx.Err(); err != nil {
					fe.set(err)
					return
				}
				if err := r.hook(todo[i].path); err != nil {
					fe.set(err)
					return
				}
			}
			select {
			case jobs <- batch:
			case <-fe.stop:
				return
			}
		}
	}()
	wg.Wait()
}

// stageBatch stages the paths of todo that batch names into staged,
// reading blobs with blobs (through go-git, under goGit, for what no pack
// holds). It reports whether it staged them all; the first error goes to
// fe.
func (r *Repo) stageBatch(blobs *gitpack.Reader, goGit *sync.Mutex, dirs *sync.Map, todo []change, batch []int, staged []stagedWrite, fe *firstError) bool {
	for _, i := range batch {
		if fe.stopped() {
			return false
		}
		ch := todo[i]
		data, err := blobs.Blob(ch.to.hash)
		if errors.Is(err, gitpack.ErrNotFound) {
			goGit.Lock()
			data, err = r.readBlob(ch.to.hash)
			goGit.Unlock()
		}
		if err != nil {
			fe.set(fmt.Errorf("cannot read %s for %s: %w", ch.to.hash, ch.path, err))
			return false
		}
		w, err := r.stageEntry(ch, data, dirs)
		staged[i] = w
		if err != nil {
			fe.set(err)
			return false
		}
	}
	return !fe.stopped()
}

// stageEntry writes data, the blob ch.to names, to a temporary file beside
// ch.path (a symlink for a symlink), not synced, after making its folder.
// dirs remembers the folders already made, so each is made once.
func (r *Repo) stageEntry(ch change, data []byte, dirs *sync.Map) (stagedWrite, error) {
	abs := r.abs(ch.path)
	dir := filepath.Dir(abs)
	if _, ok := dirs.Load(dir); !ok {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return stagedWrite{}, fmt.Errorf("cannot create folder for %s: %w", abs, err)
		}
		dirs.Store(dir, true)
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%s%s%016x", filepath.Base(abs), stagedMark, rand.Uint64()))
	switch ch.to.mode {
	case filemode.Regular, filemode.Executable:
		perm := os.FileMode(0o644)
		if ch.to.mode == filemode.Executable {
			perm = 0o755
		}
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return stagedWrite{}, fmt.Errorf("cannot create %s: %w", tmp, err)
		}
		_, werr := f.Write(data)
		if err := errors.Join(werr, f.Chmod(perm), f.Close()); err != nil {
			_ = os.Remove(tmp)
			return stagedWrite{}, fmt.Errorf("cannot write %s: %w", tmp, err)
		}
	case filemode.Symlink:
		if err := os.Symlink(string(data), tmp); err != nil {
			return stagedWrite{}, fmt.Errorf("cannot create symlink %s: %w", tmp, err)
		}
	default:
		return stagedWrite{}, fmt.Errorf("%w: %s has mode %s", ErrUnsupported, ch.path, ch.to.mode)
	}
	return stagedWrite{ch: ch, tmp: tmp}, nil
}

// renameAll renames the staged files of each batch that arrives on
// durable over their paths, checkoutWorkers batches at a time (a batch is
// one folder's, and renames in one folder serialise on its lock in the
// kernel anyway). Each rename is appended to done as it is made; a failed
// one goes to fe and stops the rest. It returns the paths renamed.
func (r *Repo) renameAll(ctx context.Context, staged []stagedWrite, durable <-chan []int, fe *firstError, done *[]applied) map[string]bool {
	var mu sync.Mutex // guards done and written
	written := make(map[string]bool, len(staged))
	var wg sync.WaitGroup
	for range checkoutWorkers {
		wg.Go(func() {
			for batch := range durable {
				for _, i := range batch {
					if fe.stopped() {
						break
					}
					w := &staged[i]
					if err := r.renameStaged(w.tmp, r.abs(w.ch.path)); err != nil {
						fe.set(err)
						break
					}
					mu.Lock()
					w.tmp = ""
					*done = append(*done, applied{path: w.ch.path, prev: w.ch.from})
					written[w.ch.path] = true
					first := len(written) == 1
					mu.Unlock()
					if first {
						// Half done: some files at the target, HEAD and index not.
						if err := fault.Inject(ctx, "mid"); err != nil {
							fe.set(err)
							break
						}
					}
				}
			}
		})
	}
	wg.Wait()
	return written
}

// renameStaged renames tmp over abs. When abs is a folder (a tracked file
// replaces folders whose tracked files were removed, so they hold only
// empty folders: inTheWay checked), it removes that first.
func (r *Repo) renameStaged(tmp, abs string) error {
	err := os.Rename(tmp, abs)
	if err == nil {
		return nil
	}
	if fi, lerr := os.Lstat(abs); lerr == nil && fi.IsDir() {
		if err := removeEmptyTree(abs); err != nil {
			return err
		}
		err = os.Rename(tmp, abs)
	}
	if err != nil {
		return fmt.Errorf("cannot rename %s to %s: %w", tmp, abs, err)
	}
	return nil
}
