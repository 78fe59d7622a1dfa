package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
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
// Durability: the writes take three phases, so a checkout of n files
// costs two syncs, not 2n fsyncs, and a power loss still leaves every
// path with its old or its new content: stage every file beside its path,
// make them and the removals durable at once, rename them into place,
// make the renames durable.
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
	if err := r.stageAll(ctx, todo, staged, marked); err != nil {
		return nil, err
	}
	// One sync for the removals and the staged files: the removals need
	// not be durable before the staged files are, only before the renames
	// start, and either way every path keeps its old or its new content.
	durable := kept
	for _, w := range staged {
		durable = append(durable, w.tmp)
	}
	if len(durable) > 0 {
		if err := syncWritten(r, durable, func(p string) string { return p }); err != nil {
			return nil, err
		}
	}
	if len(staged) == 0 {
		return map[string]bool{}, nil
	}
	written, err := r.renameAll(ctx, staged, done)
	return written, err
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

// stageAll stages todo[i] into staged[i]: this goroutine runs the hook of
// each path and hands the paths out in batches of one folder
// (stageBatches), checkoutWorkers goroutines read each blob from the packs
// (gitpack, one Reader each) and write the file, once marked (the staging
// marker is durable) returns nil. A blob no pack holds (a loose object, an
// alternate) is read through go-git, one worker at a time: its object
// storage is not safe for concurrent use. On an error it stops, waits for
// the workers, and returns the first error; staged then names every file
// written, for the caller to remove.
func (r *Repo) stageAll(ctx context.Context, todo []change, staged []stagedWrite, marked func() error) error {
	if len(todo) == 0 {
		return nil
	}
	packs, err := gitpack.Open(r.objectsDir)
	if err != nil {
		return fmt.Errorf("cannot open the packs of %s: %w", r.objectsDir, err)
	}
	defer packs.Close()
	var goGit sync.Mutex // r.repo, for what no pack holds
	jobs := make(chan []int, checkoutWorkers)
	fe := newFirstError()
	var dirs sync.Map // folders known to exist
	var wg sync.WaitGroup
	for range min(checkoutWorkers, len(todo)) {
		wg.Go(func() {
			if err := marked(); err != nil {
				fe.set(err)
			}
			blobs := packs.NewReader()
			for batch := range jobs {
				for _, i := range batch {
					if fe.stopped() {
						break
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
						break
					}
					w, err := r.stageEntry(ch, data, &dirs)
					staged[i] = w
					if err != nil {
						fe.set(err)
						break
					}
				}
			}
		})
	}
	func() {
		defer close(jobs)
		for _, batch := range stageBatches(todo) {
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
	return fe.err
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

// renameAll renames every staged file over its path, checkoutWorkers
// folders at a time (renames in one folder serialise on its lock in the
// kernel anyway). Each rename is appended to done as it is made; a failed
// one stops the rest and is returned. It returns the paths written.
func (r *Repo) renameAll(ctx context.Context, staged []stagedWrite, done *[]applied) (map[string]bool, error) {
	byDir := map[string][]int{}
	var order []string
	for i, w := range staged {
		d := filepath.Dir(w.tmp)
		if _, ok := byDir[d]; !ok {
			order = append(order, d)
		}
		byDir[d] = append(byDir[d], i)
	}
	groups := make(chan []int)
	fe := newFirstError()
	var mu sync.Mutex // guards done and written
	written := make(map[string]bool, len(staged))
	var wg sync.WaitGroup
	for range min(checkoutWorkers, len(order)) {
		wg.Go(func() {
			for g := range groups {
				for _, i := range g {
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
	for _, d := range order {
		if fe.stopped() {
			break
		}
		groups <- byDir[d]
	}
	close(groups)
	wg.Wait()
	if fe.err != nil {
		return nil, fe.err
	}
	return written, nil
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
