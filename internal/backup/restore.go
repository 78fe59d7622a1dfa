package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/atomicfile"
)

const (
	restoringSuffix = ".restoring"
	replacedInfix   = ".replaced-"
	restoreChunk    = 64 << 20
)

// Restore puts backup id back in place of the folder dataDir and returns
// where the data it replaced now is. The caller stops the service before
// and starts it after; Restore only moves folders.
//
// It never deletes or changes the current data. It copies the backup into
// a new folder beside dataDir (<parent>/.<name>.restoring; copies, never
// hard links, so the app's writes cannot reach the backup), makes it
// durable and verifies it against the manifest (content hashes included).
// Only then does it rename dataDir to <parent>/<name>.replaced-<UTC time>
// and the restored folder to dataDir. replaced is that path, or "" when
// dataDir did not exist; the lead decides when to delete it.
//
// When dataDir is a symlink (to a volume), the folder it points to is
// replaced and the symlink kept. A crash before the renames leaves only
// the .restoring folder, which the next Restore removes and redoes; a
// crash between them leaves dataDir missing and both folders beside it,
// nothing lost. A backup of a missing source restores to no dataDir.
//
// Errors: ErrNotFound, ErrIncomplete, ErrInvalidID for a backup that
// cannot be restored; a *CorruptError (ErrCorrupt) when the copy does not
// match the manifest (the backup is damaged; dataDir is untouched);
// ErrRootInsideSource when dataDir contains the backup root; ctx errors.
func Restore(ctx context.Context, root, id, dataDir string) (replaced string, err error) {
	m, err := load(root, id)
	if err != nil {
		return "", err
	}
	target, err := restoreTarget(dataDir)
	if err != nil {
		return "", err
	}
	if err := checkRootOutside(target, root); err != nil {
		return "", err
	}
	parent, name := filepath.Dir(target), filepath.Base(target)
	staging := filepath.Join(parent, "."+name+restoringSuffix)
	if err := removeTree(staging); err != nil {
		return "", fmt.Errorf("cannot remove leftover restore folder %s: %w", staging, err)
	}
	if !m.SourceMissing {
		if err := restoreInto(ctx, filepath.Join(root, id, DataDir), staging, m); err != nil {
			if rmErr := removeTree(staging); rmErr != nil {
				err = errors.Join(err, fmt.Errorf("cannot remove restore folder %s: %w", staging, rmErr))
			}
			return "", err
		}
	}

	if _, err := os.Lstat(target); err == nil {
		replaced, err = asideName(parent, name)
		if err != nil {
			return "", err
		}
		if err := atomicfile.Rename(target, replaced); err != nil {
			return "", fmt.Errorf("cannot move the current data aside: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("cannot inspect %s: %w", target, err)
	}
	if !m.SourceMissing {
		if err := atomicfile.Rename(staging, target); err != nil {
			return replaced, fmt.Errorf("cannot move the restored data into place (the replaced data is in %s): %w", replaced, err)
		}
	}
	return replaced, nil
}

// restoreTarget returns the folder to replace: dataDir, or the folder it
// points to when it is a symlink.
func restoreTarget(dataDir string) (string, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", fmt.Errorf("cannot resolve %s: %w", dataDir, err)
	}
	fi, err := os.Lstat(abs)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		return abs, nil
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("cannot resolve symlink %s: %w", dataDir, err)
	}
	return real, nil
}

// asideName returns a free <parent>/<name>.replaced-<UTC time> path.
func asideName(parent, name string) (string, error) {
	base := filepath.Join(parent, name+replacedInfix+time.Now().UTC().Format("20060102T150405Z"))
	for i := 0; i < 1000; i++ {
		p := base
		if i > 0 {
			p = fmt.Sprintf("%s-%d", base, i)
		}
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
	}
	return "", fmt.Errorf("cannot find a free name to move %s aside", filepath.Join(parent, name))
}

// restoreInto copies the backup folder from into the new folder to as
// the manifest m describes, syncs it and verifies it.
func restoreInto(ctx context.Context, from, to string, m *Manifest) error {
	if err := os.Mkdir(to, 0o700); err != nil {
		return fmt.Errorf("cannot create restore folder %s: %w", to, err)
	}
	syncer, err := openSyncFS(to)
	if err != nil {
		return err
	}
	defer syncer.Close()
	owners := m.Owners && os.Geteuid() == 0
	p := newPool(ctx, "restore backup "+m.ID)
	var dirs []*Entry
	err = func() error {
		for i := range m.Entries {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("cannot restore backup %s: %w", m.ID, err)
			}
			e := &m.Entries[i]
			src, dst := joinRel(from, e.Path), joinRel(to, e.Path)
			switch e.Type {
			case TypeDir:
				if e.Path != "." {
					if err := os.Mkdir(dst, 0o700); err != nil {
						return fmt.Errorf("cannot create folder %s: %w", dst, err)
					}
				}
				dirs = append(dirs, e)
			case TypeFile:
				if err := p.submit(func([]byte) error { return restoreFile(p.ctx, src, dst, e, owners) }); err != nil {
					return err
				}
			case TypeSymlink:
				if err := os.Symlink(e.Target, dst); err != nil {
					return fmt.Errorf("cannot create symlink %s: %w", dst, err)
				}
				if err := setPathMeta(dst, e, owners); err != nil {
					return err
				}
			default:
				reason, err := makeSpecialAt(unix.AT_FDCWD, dst, dst, e, owners)
				if err != nil {
					return err
				}
				if reason != "" {
					return fmt.Errorf("cannot restore %s: %s", dst, reason)
				}
			}
		}
		return nil
	}()
	if err != nil {
		p.fail(err)
	}
	if err := p.wait(); err != nil {
		return err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := setPathMeta(joinRel(to, dirs[i].Path), dirs[i], owners); err != nil {
			return err
		}
	}
	if err := syncFS(syncer); err != nil {
		return err
	}
	return verifyTree(ctx, m.ID, to, m, owners)
}

// restoreFile copies one file out of a backup. The kernel copies the
// content (copy_file_range, a reflink where the filesystem can share
// blocks copy-on-write); verifyTree checks it afterwards.
func restoreFile(ctx context.Context, src, dst string, e *Entry, owners bool) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", dst, err)
	}
	defer out.Close()
	// Chunks keep cancellation prompt; io.CopyN's LimitedReader still
	// lets os.File.ReadFrom use copy_file_range.
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("cannot copy %s: %w", src, err)
		}
		n, err := io.CopyN(out, in, restoreChunk)
		if errors.Is(err, io.EOF) || (err == nil && n < restoreChunk) {
			break
		}
		if err != nil {
			return fmt.Errorf("cannot copy %s to %s: %w", src, dst, err)
		}
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("cannot close %s: %w", dst, err)
	}
	return setPathMeta(dst, e, owners)
}
