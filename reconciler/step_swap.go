package reconciler

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/fault"
)

// swapStep moves the new builds into place while the service is stopped:
// server.new becomes server (the old one kept as server.bak) and the
// frontend's dist.new becomes dist (the old one kept as dist.bak). Undo puts
// the previous ones back, and so does a Do that fails halfway, since the
// runner undoes only steps whose Do completed.
//
// Each move is written so that a crash between any two system calls leaves
// a state from which Do and Undo still do the right thing: the binary is
// backed up with a hard link, so "server" never disappears, and the
// frontend is moved in two renames that Do resumes from the middle.
type swapStep struct{ h *Host }

var _ Undoer = swapStep{}

func (swapStep) Name() string { return "swap" }

func (s swapStep) Do(ctx context.Context, req *Request) error {
	err := swapBinary(s.h.Config.BackendBinary())
	if dir := s.h.Config.FrontendDir(); err == nil && dir != "" {
		err = swapFolder(ctx, dir)
	}
	if err == nil {
		return nil
	}
	// The cleanup's fault points are its own ("swap:cleanup:mid"), and it
	// runs to its end even if the daemon is stopping.
	cctx := fault.WithStep(context.WithoutCancel(ctx), "swap:cleanup")
	if cerr := s.putPreviousBack(cctx, req); cerr != nil {
		err = fmt.Errorf("%w; then cannot put the previous build back: %w", err, cerr)
	}
	return failure(ReasonSwapFailed, err)
}

// putPreviousBack reverses what a failed Do moved. The frontend goes first,
// and only if Do moved it (dist or dist.new is gone): a crash before the
// binary is back then leaves a state that the resumed Do completes forward.
// The binary is checked by its digest.
func (s swapStep) putPreviousBack(ctx context.Context, req *Request) error {
	if dir := s.h.Config.FrontendDir(); dir != "" {
		live, err := exists(dir)
		if err != nil {
			return err
		}
		staged, err := exists(dir + ".new")
		if err != nil {
			return err
		}
		if !live || !staged {
			if err := restoreFolder(ctx, dir, req.From.BinarySHA256 == ""); err != nil {
				return err
			}
		}
	}
	return restoreBinary(s.h.Config.BackendBinary(), req.From.BinarySHA256)
}

func (s swapStep) Undo(ctx context.Context, req *Request) error {
	if err := restoreBinary(s.h.Config.BackendBinary(), req.From.BinarySHA256); err != nil {
		return err
	}
	if dir := s.h.Config.FrontendDir(); dir != "" {
		return restoreFolder(ctx, dir, req.From.BinarySHA256 == "")
	}
	return nil
}

// swapBinary installs bin+".new" as bin, keeping the current bin as
// bin+".bak". Without a staged binary it does nothing (already swapped).
func swapBinary(bin string) error {
	staged := bin + ".new"
	if ok, err := exists(staged); err != nil || !ok {
		return err
	}
	if ok, err := exists(bin); err != nil {
		return err
	} else if ok {
		if err := linkReplace(bin, bin+".bak"); err != nil {
			return err
		}
	}
	return atomicfile.Rename(staged, bin)
}

// restoreBinary makes bin the binary whose sha256 is want again, from
// bin+".bak". With want empty (nothing was installed before) it removes bin.
func restoreBinary(bin, want string) error {
	if want == "" {
		if err := os.Remove(bin); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("cannot remove %s: %w", bin, err)
		}
		return nil
	}
	cur, err := fileSHA256(bin)
	if err != nil || cur == want {
		return err
	}
	bak := bin + ".bak"
	got, err := fileSHA256(bak)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("cannot restore %s: %s has sha256 %q, the previous binary had %q", bin, bak, got, want)
	}
	return linkReplace(bak, bin)
}

// linkReplace makes dst another name of src's file, atomically replacing
// dst, and leaves no dst+".tmp" behind. When dst already is a name of that
// file it does nothing: rename(2) between two names of one file succeeds
// without removing either.
func linkReplace(src, dst string) error {
	tmp := dst + ".tmp"
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("cannot remove %s: %w", tmp, err)
	}
	if same, err := sameFile(src, dst); err != nil || same {
		return err
	}
	if err := os.Link(src, tmp); err != nil {
		return fmt.Errorf("cannot link %s to %s: %w", src, tmp, err)
	}
	if err := atomicfile.Rename(tmp, dst); err != nil {
		return err
	}
	// Still there only if dst became src's file meanwhile.
	if err := os.Remove(tmp); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("cannot remove %s: %w", tmp, err)
	}
	return nil
}

// sameFile reports whether a and b both exist and are names of one file
// (symlinks not followed).
func sameFile(a, b string) (bool, error) {
	ai, err := os.Lstat(a)
	if err != nil {
		return false, fmt.Errorf("cannot stat %s: %w", a, err)
	}
	bi, err := os.Lstat(b)
	if os.IsNotExist(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot stat %s: %w", b, err)
	}
	return os.SameFile(ai, bi), nil
}

// swapFolder installs dir+".new" as dir, keeping the current dir as
// dir+".bak". A crash between its two renames leaves dir missing and both
// others present, which the next call completes.
func swapFolder(ctx context.Context, dir string) error {
	staged, bak := dir+".new", dir+".bak"
	if ok, err := exists(staged); err != nil || !ok {
		return err
	}
	if ok, err := exists(dir); err != nil {
		return err
	} else if ok {
		if err := os.RemoveAll(bak); err != nil {
			return fmt.Errorf("cannot remove %s: %w", bak, err)
		}
		if err := atomicfile.Rename(dir, bak); err != nil {
			return err
		}
		if err := fault.Inject(ctx, "mid"); err != nil {
			return err
		}
	}
	return atomicfile.Rename(staged, dir)
}

// restoreFolder puts dir+".bak" back as dir. With fresh (nothing was
// installed before) and no backup, it removes dir.
func restoreFolder(ctx context.Context, dir string, fresh bool) error {
	bak := dir + ".bak"
	ok, err := exists(bak)
	if err != nil {
		return err
	}
	if !ok {
		if fresh {
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("cannot remove %s: %w", dir, err)
			}
		}
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("cannot remove %s: %w", dir, err)
	}
	if err := fault.Inject(ctx, "mid"); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("cannot create %s: %w", filepath.Dir(dir), err)
	}
	return atomicfile.Rename(bak, dir)
}
