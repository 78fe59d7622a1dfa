package backup

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// blockSize is the allocation unit estimates round file sizes up to: the
// block of common Linux filesystems (ext4, xfs, btrfs).
const blockSize = 4096

// Estimate is what the hot pass of a backup of a source folder would do
// now (see EstimateCreate).
type Estimate struct {
	// Base is the backup whose copies unchanged files would be linked
	// to, "" for a full copy.
	Base string
	// CopyFiles are the regular files the hot pass would copy (new or
	// changed since Base) and CopyBytes the room their copies take: each
	// file's size rounded up to a 4 KiB block, only its data for a
	// sparse file (holes stay holes).
	CopyFiles int
	CopyBytes int64
	// LinkFiles are the files it would hard-link to Base's copies, and
	// LinkBytes their size counted like CopyBytes: room they do not take
	// again.
	LinkFiles int
	LinkBytes int64
	// Dirs are the folders, each created anew in a backup, and Entries
	// everything the manifest would list (files, folders, symlinks,
	// pipes, device nodes; the data folder itself included).
	Dirs, Entries int
}

// EstimateCreate says what Create(ctx, src, root, id) would copy if it ran
// now, without writing anything: it applies Create's rule against the
// newest complete backup in root, so a file with the size, mtime, mode,
// owner, inode and ctime that backup recorded counts as linked, and every
// other file as copied. A file that Create would read to compare its hash
// (its ctime was too recent to trust, or its inode changed) counts as
// copied: an estimate that reads the data would cost what the backup
// costs, and counting it is the safe side. The preflight check uses it to
// ask for room for what the backup will write, not for a full copy.
//
// With Paths, the extra paths count as Create would copy and link them,
// each against its own copy in the newest backup, added to the data
// folder's counts.
//
// A missing src is an empty backup: a zero Estimate. Errors are those of
// reading src (an unreadable folder wraps fs.ErrPermission) and root, or
// ctx's, and ErrInvalidPath as for Create.
func EstimateCreate(ctx context.Context, src, root string, opts ...Option) (Estimate, error) {
	if err := ctx.Err(); err != nil {
		return Estimate{}, fmt.Errorf("cannot estimate the backup of %s: %w", src, err)
	}
	var o settings
	for _, opt := range opts {
		opt(&o)
	}
	installDir, err := checkExtraPaths(src, o)
	if err != nil {
		return Estimate{}, err
	}
	owners := os.Geteuid() == 0
	prevM, prevDir, err := newestBackup(root, "", owners)
	if err != nil {
		return Estimate{}, err
	}
	e := &estimator{ctx: ctx, owners: owners}
	if prevM != nil && !prevM.SourceMissing {
		e.base = newBase(prevM, filepath.Join(prevDir, DataDir))
	}
	if exists, err := e.tree(src, ""); err != nil {
		return Estimate{}, err
	} else if exists && e.base != nil {
		e.est.Base = prevM.ID
	}
	for _, p := range o.paths {
		e.base = partBase(prevM, prevDir, p, owners)
		folder, name := partSource(installDir, p)
		if _, err := e.tree(folder, name); err != nil {
			return Estimate{}, err
		}
	}
	return e.est, nil
}

// tree adds the estimate of the folder src, narrowed to only when that is
// not "", against e.base; a missing src adds nothing (exists is false).
func (e *estimator) tree(src, only string) (exists bool, err error) {
	srcInfo, err := statSource(src)
	if err != nil || srcInfo == nil {
		return false, err
	}
	e.src = src
	return true, walkSource(e.ctx, src, only, e)
}

// estimator is the walk's visitor for EstimateCreate.
type estimator struct {
	ctx    context.Context
	src    string
	owners bool
	base   *baseBackup
	est    Estimate
}

func (e *estimator) vanished(*srcDir, int) {}

func (e *estimator) dir(d *srcDir) error {
	e.est.Dirs++
	e.est.Entries++
	if !hasFiles(d) {
		return nil
	}
	srcPath := joinRel(e.src, d.rel)
	fd, err := openSourceDir(srcPath, d.parent != nil)
	if err != nil {
		if vanished(err) {
			return nil
		}
		return fmt.Errorf("cannot open folder %s: %w", srcPath, err)
	}
	defer unix.Close(fd)
	for i, name := range d.names {
		if d.isDir[i] {
			continue // counted when the walk lists it
		}
		if err := e.ctx.Err(); err != nil {
			return fmt.Errorf("cannot estimate the backup of %s: %w", e.src, err)
		}
		rel := childRel(d.rel, name)
		st, err := statChild(fd, name)
		if err != nil {
			if vanished(err) {
				continue
			}
			return fmt.Errorf("cannot inspect %s: %w", joinRel(e.src, rel), err)
		}
		switch entryFor(rel, &st).Type {
		case manifest.TypeFile:
		case manifest.TypeSymlink, manifest.TypeFIFO, manifest.TypeCharDevice, manifest.TypeBlockDevice:
			e.est.Entries++
			continue
		default:
			continue // sockets are not backed up
		}
		e.est.Entries++
		if pe, _ := e.base.lookup(rel); judge(pe, &st, e.owners) == unchanged {
			e.est.LinkFiles++
			e.est.LinkBytes += roundBlock(st.size)
			continue
		}
		e.est.CopyFiles++
		e.est.CopyBytes += e.copyRoom(fd, name, rel, &st)
	}
	return nil
}

// copyRoom is the room a copy of the file name in the folder dirfd (rel
// below the source, stat st) takes: its size rounded up to a block, or for a sparse file its data
// ranges, each rounded likewise.
func (e *estimator) copyRoom(dirfd int, name, rel string, st *stat) int64 {
	if !maybeSparse(st) {
		return roundBlock(st.size)
	}
	in, reason, err := openSourceFile(dirfd, name, joinRel(e.src, rel))
	if err != nil || reason != "" {
		return roundBlock(st.size) // cannot tell: as if it had no holes
	}
	defer in.close()
	var room int64
	for pos := int64(0); pos < st.size; {
		start, end, err := nextData(in.fd, pos, st.size)
		if err != nil {
			return roundBlock(st.size)
		}
		if start >= st.size {
			break
		}
		room += roundBlock(end - start)
		pos = end
	}
	return room
}

func roundBlock(n int64) int64 {
	return (n + blockSize - 1) / blockSize * blockSize
}
