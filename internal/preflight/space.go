package preflight

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/bytesize"
)

// ErrInsufficientSpace is wrapped by every *SpaceError.
var ErrInsufficientSpace = errors.New("not enough free space")

// SpaceError says a filesystem lacks room for what an update writes on it.
// When several needs share a filesystem (the backup folder and the
// checkout, typically), Need is their sum and For lists each of them.
type SpaceError struct {
	// Path is the first folder with a need on this filesystem.
	Path string
	// Mount is the mount point holding Path, the place to free space on.
	Mount string
	// For says what the space is for, e.g. "the backup of /srv/app/data
	// to /var/backups", "the build in /srv/app".
	For []string
	// Need is the bytes required; Have the bytes available to
	// unprivileged writers (statfs f_bavail × f_bsize).
	Need, Have uint64
}

// Error reads like "not enough free space on / for the backup of
// /srv/app/data to /var/backups and the build in /srv/app (need 1.2 GiB,
// have 300 MiB; free up 900 MiB)".
func (e *SpaceError) Error() string {
	return fmt.Sprintf("not enough free space on %s for %s (need %s, have %s; free up %s)",
		e.Mount, strings.Join(e.For, " and "), bytesize.Format(e.Need), bytesize.Format(e.Have),
		bytesize.Format(e.Need-min(e.Have, e.Need)))
}

// Unwrap makes errors.Is(err, ErrInsufficientSpace) true.
func (e *SpaceError) Unwrap() error { return ErrInsufficientSpace }

// DirSize returns the apparent size (the sum of st_size) of the regular
// files under dir: what a full copy of dir writes, which is the worst case
// of a backup. Symlinks are counted as nothing and never followed, except
// dir itself, which is followed when it is a symlink (as the backup does
// for a data folder that points at a volume). Hard links are counted once
// per name, as a copy would duplicate them. Files and folders that vanish
// while DirSize walks are skipped.
//
// Errors: dir missing wraps fs.ErrNotExist; an unreadable folder wraps
// fs.ErrPermission; ctx ending returns its error, wrapped.
func DirSize(ctx context.Context, dir string) (int64, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return 0, fmt.Errorf("cannot measure folder %s: %w", dir, err)
	}
	var total int64
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			if p != root && errors.Is(err, fs.ErrNotExist) {
				return nil // vanished since its folder was listed
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if total > math.MaxInt64-info.Size() {
			total = math.MaxInt64
		} else {
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("cannot measure folder %s: %w", dir, err)
	}
	return total, nil
}

// Room the backup needs besides the copies of new and changed files: the
// estimate's margins (see BackupNeed).
const (
	// dirRoom is a folder's block: every folder is created anew in a
	// backup, even when all its files are hard links.
	dirRoom = 4 << 10
	// entryRoom is a manifest line (about 250 bytes) twice over: the
	// cold pass writes a new manifest before it removes the old one.
	entryRoom = 512
	// copyMarginDiv: one eighth more than the copies, for files that
	// change or grow before the cold pass, which stages a new copy of a
	// changed file before it drops the hot pass's.
	copyMarginDiv = 8
)

// BackupNeed is the room the backup of the data folder needs, given what
// its hot pass would do now (backup.EstimateCreate): the copies of new and
// changed files (files unchanged since the newest complete backup are hard
// links to its copies and take no room), plus a margin of an eighth of
// that, plus a 4 KiB block per folder and 512 bytes per entry for the
// folders and manifests. Without a previous backup it is a full copy and
// more: the estimate stays on the safe side, as running out of space in
// the middle of a backup is worse than refusing early.
func BackupNeed(e backup.Estimate) uint64 {
	n := addSat(uint64(e.CopyBytes), uint64(e.CopyBytes)/copyMarginDiv)
	n = addSat(n, uint64(e.Dirs)*dirRoom)
	return addSat(n, uint64(e.Entries)*entryRoom)
}

// filesystem is what the space check needs to know about the filesystem
// holding a folder.
type filesystem struct {
	dev   uint64 // st_dev: equal for folders on the same filesystem
	mount string
	avail uint64
}

// probeFilesystem describes the filesystem dir is on, or would be on once
// created: a missing folder is looked up through its nearest existing
// parent.
func probeFilesystem(dir string) (filesystem, error) {
	p, err := filepath.Abs(dir)
	if err != nil {
		return filesystem{}, err
	}
	var st unix.Stat_t
	for {
		err = unix.Stat(p, &st)
		if !errors.Is(err, unix.ENOENT) {
			break
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		p = parent
	}
	if err != nil {
		return filesystem{}, &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(p, &sfs); err != nil {
		return filesystem{}, &fs.PathError{Op: "statfs", Path: p, Err: err}
	}
	avail := uint64(math.MaxUint64)
	if bs := uint64(sfs.Bsize); bs == 0 || sfs.Bavail <= math.MaxUint64/bs {
		avail = sfs.Bavail * bs
	}
	return filesystem{dev: uint64(st.Dev), mount: mountPoint(p, uint64(st.Dev)), avail: avail}, nil
}

// mountPoint walks up from p, which is on device dev, to the topmost
// folder still on dev. Bind mounts of the same device are not told apart,
// which is fine for naming the place to free space on.
func mountPoint(p string, dev uint64) string {
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
		p = filepath.Dir(p)
	}
	for {
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		var st unix.Stat_t
		if err := unix.Stat(parent, &st); err != nil || uint64(st.Dev) != dev {
			return p
		}
		p = parent
	}
}

// need is room some part of the update writes into dir.
type need struct {
	what  string
	dir   string
	bytes uint64
	build bool // build needs are counted once per filesystem
}

// spaceChecks is one pass over the needs, grouped by filesystem; it is
// long because each need's measurement and its message sit together.
//
// spaceChecks returns one Check per filesystem that receives writes, plus
// one per need that could not be measured or located. probe is
// probeFilesystem, replaced in tests to fake filesystems.
func spaceChecks(ctx context.Context, in Input, probe func(string) (filesystem, error)) []Check {
	var (
		checks []Check
		needs  []need
	)
	if in.DataDir != "" && in.BackupDir != "" {
		// A missing data folder is an empty backup: a zero estimate.
		var opts []backup.Option
		if len(in.BackupPaths) > 0 {
			opts = append(opts, backup.Paths(in.InstallDir, in.BackupPaths...))
		}
		est, err := backup.EstimateCreate(ctx, in.DataDir, in.BackupDir, opts...)
		if err != nil {
			checks = append(checks, Check{Name: "free space for the backup",
				Err: fmt.Errorf("cannot estimate the size of the backup of %s: %w", in.DataDir, err)})
		} else {
			needs = append(needs, need{
				what:  fmt.Sprintf("the backup of %s to %s", in.DataDir, in.BackupDir),
				dir:   in.BackupDir,
				bytes: BackupNeed(est),
			})
		}
	}
	var buildDirs []string
	if in.InstallDir != "" {
		buildDirs = append(buildDirs, in.InstallDir)
	}
	for _, o := range in.BuildOutputs {
		if !filepath.IsAbs(o) {
			o = filepath.Join(in.InstallDir, o)
		}
		buildDirs = append(buildDirs, o)
	}
	for _, d := range buildDirs {
		needs = append(needs, need{what: "the build in " + d, dir: d, bytes: uint64(in.ExtraBytes), build: true})
	}

	type group struct {
		fs     filesystem
		path   string
		needs  []need
		total  uint64
		hasBld bool
	}
	var groups []*group
	byDev := map[uint64]*group{}
	for _, n := range needs {
		if err := ctx.Err(); err != nil {
			checks = append(checks, Check{Name: "free space for " + n.what,
				Err: fmt.Errorf("cannot check free space for %s: %w", n.what, err)})
			continue
		}
		f, err := probe(n.dir)
		if err != nil {
			checks = append(checks, Check{Name: "free space for " + n.what,
				Err: fmt.Errorf("cannot check free space for %s: %w", n.what, err)})
			continue
		}
		g := byDev[f.dev]
		if g == nil {
			g = &group{fs: f, path: n.dir}
			byDev[f.dev] = g
			groups = append(groups, g)
		}
		if n.build {
			if g.hasBld {
				continue
			}
			g.hasBld = true
		}
		g.needs = append(g.needs, n)
		g.total = addSat(g.total, n.bytes)
	}
	for _, g := range groups {
		c := Check{Name: "free space on " + g.fs.mount}
		if g.total > g.fs.avail {
			var what []string
			for _, n := range g.needs {
				if n.bytes > 0 {
					what = append(what, n.what)
				}
			}
			c.Err = &SpaceError{Path: g.path, Mount: g.fs.mount, For: what, Need: g.total, Have: g.fs.avail}
		}
		checks = append(checks, c)
	}
	return checks
}

func addSat(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}
