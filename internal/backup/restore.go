package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/backup/manifest"
)

// testHookRestore, when set by a test, is called with the path of each
// entry before Restore creates it, so a test can change the restore
// folder at an exact point (swap a folder for a symlink).
var testHookRestore func(rel string)

const (
	restoringSuffix = ".restoring"
	replacedInfix   = ".replaced-"
	restoreChunk    = 64 << 20
)

// Restore puts backup id back in place of the folder dataDir and returns
// where the data it replaced now is. The caller stops the service before
// and starts it after; Restore only moves folders. It restores the data
// folder only, whatever extra paths the backup holds: RestoreAll restores
// both.
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
// Every path comes from the manifest, so it is checked where the manifest
// is read (ErrUnsafePath, before anything is written), and every entry is
// then created relative to a descriptor of its folder in the restore
// folder, opened with openat2 RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS (or an
// equivalent walk): nothing is written outside the restore folder, even
// if a folder in it is swapped for a symlink while Restore runs.
//
// Errors: ErrNotFound, ErrIncomplete, ErrInvalidID for a backup that
// cannot be restored; ErrUnsafePath when its manifest lists a path
// outside the backup (nothing is written; restore another backup); a
// *CorruptError (ErrCorrupt) when the copy does not match the manifest
// (the backup is damaged; dataDir is untouched); ErrRootInsideSource when
// dataDir contains the backup root; ctx errors.
func Restore(ctx context.Context, root, id, dataDir string) (replaced string, err error) {
	m, err := load(root, id)
	if err != nil {
		return "", err
	}
	j, err := dataJob(root, id, dataDir, m)
	if err != nil {
		return "", err
	}
	if err := j.stage(ctx); err != nil {
		return "", err
	}
	return j.swap()
}

// restoreJob is one tree a restore puts back: the data folder, or an
// extra path.
type restoreJob struct {
	// part is the extra path, "" for the data folder.
	part string
	m    *manifest.Manifest
	// from is the tree's data/ folder in the backup.
	from string
	// target is what the restore replaces; staging is where it copies
	// the tree first, <parent>/.<name>.restoring beside target. For an
	// extra path staging is a copy of the folder holding it, narrowed to
	// it: the restored path is staging/<name>.
	target, staging string
	// present says whether the backup holds the tree: false for a
	// missing source, and for an extra path that was missing.
	present bool
}

// dataJob returns the job that restores the data folder of backup id
// (manifest m) into dataDir, or the folder it points to.
func dataJob(root, id, dataDir string, m *manifest.Manifest) (*restoreJob, error) {
	target, err := restoreTarget(dataDir)
	if err != nil {
		return nil, err
	}
	if err := checkRootOutside(target, root); err != nil {
		return nil, err
	}
	parent, name := filepath.Dir(target), filepath.Base(target)
	return &restoreJob{m: m, from: filepath.Join(root, id, DataDir), target: target,
		staging: filepath.Join(parent, "."+name+restoringSuffix), present: !m.SourceMissing}, nil
}

// partJob returns the job that restores the extra path p of backup id
// below installDir (absolute). A symlink there is replaced, not followed.
func partJob(root, id, installDir, p string) (*restoreJob, error) {
	dir := filepath.Join(root, id)
	pm, err := readPart(dir, id, p, ManifestName)
	if err != nil {
		return nil, fmt.Errorf("cannot restore extra path %q of backup %s: %w", p, id, err)
	}
	parent, name := partSource(installDir, p)
	target := filepath.Join(parent, name)
	if err := checkRootOutside(target, root); err != nil {
		return nil, err
	}
	present := false
	for i := range pm.Entries {
		present = present || pm.Entries[i].Path == name
	}
	return &restoreJob{part: p, m: pm, from: filepath.Join(partFolder(dir, p), DataDir), target: target,
		staging: filepath.Join(parent, "."+name+restoringSuffix), present: present && !pm.SourceMissing}, nil
}

// what names the job's tree in messages.
func (j *restoreJob) what() string {
	if j.part == "" {
		return "data"
	}
	return fmt.Sprintf("extra path %q", j.part)
}

// stage copies the tree into the staging folder and verifies the copy
// (restoreInto), after removing what an interrupted restore left there.
// Nothing else is touched; on an error the staging folder is removed.
func (j *restoreJob) stage(ctx context.Context) error {
	if err := removeTree(j.staging); err != nil {
		return fmt.Errorf("cannot remove leftover restore folder %s: %w", j.staging, err)
	}
	if !j.present {
		return nil
	}
	if j.part != "" {
		// The folders that hold an extra path are the install's; one
		// removed since the backup is made again.
		if err := os.MkdirAll(filepath.Dir(j.staging), 0o755); err != nil {
			return fmt.Errorf("cannot create folder %s: %w", filepath.Dir(j.staging), err)
		}
	}
	if err := restoreInto(ctx, j.from, j.staging, j.m); err != nil {
		if rmErr := removeTree(j.staging); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("cannot remove restore folder %s: %w", j.staging, rmErr))
		}
		return err
	}
	return nil
}

// swap moves what is at the target aside, to <name>.replaced-<UTC time>
// beside it, and the staged copy into its place; it returns where the
// replaced tree is ("" when there was none). A tree the backup does not
// hold (present false) is only moved aside.
func (j *restoreJob) swap() (replaced string, err error) {
	parent, name := filepath.Dir(j.target), filepath.Base(j.target)
	if _, err := os.Lstat(j.target); err == nil {
		replaced, err = asideName(parent, name)
		if err != nil {
			return "", err
		}
		if err := atomicfile.Rename(j.target, replaced); err != nil {
			return "", fmt.Errorf("cannot move the current %s aside: %w", j.what(), err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("cannot inspect %s: %w", j.target, err)
	}
	if !j.present {
		return replaced, nil
	}
	if j.part == "" {
		if err := atomicfile.Rename(j.staging, j.target); err != nil {
			return replaced, fmt.Errorf("cannot move the restored data into place (the replaced data is in %s): %w", replaced, err)
		}
		return replaced, nil
	}
	if err := moveOut(j.staging, name, j.target); err != nil {
		return replaced, fmt.Errorf("cannot move the restored %s into place (the replaced one is in %q): %w", j.what(), replaced, err)
	}
	if err := removeTree(j.staging); err != nil {
		return replaced, fmt.Errorf("cannot remove restore folder %s: %w", j.staging, err)
	}
	return replaced, nil
}

// moveOut renames the entry name of the folder staging to target, in
// another folder. The staging folder has the mode of the folder the
// extra path was in, and a folder moved to another parent must be
// writable for its ".." to change: a process that is not root makes
// both writable for the move and gives the folder its mode back.
func moveOut(staging, name, target string) error {
	from := filepath.Join(staging, name)
	if os.Geteuid() != 0 {
		if err := os.Chmod(staging, 0o700); err != nil {
			return err
		}
		if fi, err := os.Lstat(from); err == nil && fi.IsDir() && fi.Mode().Perm()&0o200 == 0 {
			if err := os.Chmod(from, fi.Mode()|0o200); err != nil {
				return err
			}
			if err := atomicfile.Rename(from, target); err != nil {
				return err
			}
			return os.Chmod(target, fi.Mode())
		}
	}
	return atomicfile.Rename(from, target)
}

// Restored says what RestoreAll put back and where what it replaced is.
type Restored struct {
	// Data is where the data folder that was replaced now is, "" when
	// there was none (as Restore returns it).
	Data string
	// Paths are the extra paths put back, in the backup's order.
	Paths []RestoredPath
	// NotInBackup are the extra paths asked for that the backup does not
	// hold (it was taken before they were listed): left as they are.
	NotInBackup []string
}

// RestoredPath is one extra path RestoreAll put back.
type RestoredPath struct {
	// Path is the extra path, relative to the install folder.
	Path string
	// Replaced is where what was at Path now is, <path>.replaced-<UTC
	// time> beside it; "" when nothing was there.
	Replaced string
	// Missing says the backup recorded Path as missing: what was there
	// was moved aside and nothing put in its place.
	Missing bool
}

// RestoreAll puts backup id back: its data folder in place of dataDir,
// exactly as Restore does, and each of its extra paths (see Paths) that
// paths lists in place of the same path below installDir. It is what
// `backups restore` runs, with the service stopped; it only moves files
// and folders.
//
// Nothing is swapped before everything is copied and verified: each tree
// is copied beside the one it replaces (<parent>/.<name>.restoring) and
// checked against its manifest, content hashes included; only then is
// each current one renamed aside, to <name>.replaced-<UTC time> beside
// it, never deleted, and the copy renamed into its place, the data folder
// first. An extra path, a file or a folder, is restored with the mode,
// owner and mtime it had. An extra path the backup recorded as missing is
// moved aside and not replaced, so the install looks as it did when the
// backup was taken (a migration the newer version generated is not left
// for the older one to trip on); ListReplacedPath lists what was set
// aside, PruneReplacedPath prunes it. The extra paths the backup holds
// that paths does not list are left alone (they are no longer backed up:
// one may since have become tracked by git), and those it lists that the
// backup does not hold are reported in NotInBackup and left alone.
//
// Errors are Restore's and, for an extra path, the same wrapped with its
// name. An error before the swaps leaves everything as it was; an error
// during them returns what was restored so far with the error, and
// nothing is lost: the replaced trees are where Restored says.
func RestoreAll(ctx context.Context, root, id, dataDir, installDir string, paths []string) (Restored, error) {
	m, err := load(root, id)
	if err != nil {
		return Restored{}, err
	}
	dj, err := dataJob(root, id, dataDir, m)
	if err != nil {
		return Restored{}, err
	}
	pjs, notHeld, err := partJobs(root, id, installDir, m, paths)
	if err != nil {
		return Restored{}, err
	}
	jobs := append([]*restoreJob{dj}, pjs...)
	res := Restored{NotInBackup: notHeld}
	if err := stageAll(ctx, jobs); err != nil {
		return Restored{}, err
	}
	for i, j := range jobs {
		replaced, err := j.swap()
		if j.part == "" {
			res.Data = replaced
		} else if err == nil || replaced != "" {
			res.Paths = append(res.Paths, RestoredPath{Path: j.part, Replaced: replaced, Missing: !j.present})
		}
		if err != nil {
			for _, k := range jobs[i+1:] {
				_ = removeTree(k.staging)
			}
			return res, err
		}
	}
	return res, nil
}

// partJobs returns the jobs that restore the extra paths of backup id
// (manifest m) that paths lists, below installDir, in the order the
// backup lists them, and the paths it lists that the backup does not
// hold, in their order.
func partJobs(root, id, installDir string, m *manifest.Manifest, paths []string) (jobs []*restoreJob, notHeld []string, err error) {
	wanted := map[string]bool{}
	for _, p := range paths {
		wanted[p] = true
	}
	held := map[string]bool{}
	if len(paths) > 0 && len(m.Parts) > 0 {
		abs, err := filepath.Abs(installDir)
		if err != nil {
			return nil, nil, fmt.Errorf("cannot resolve %s: %w", installDir, err)
		}
		for _, p := range m.Parts {
			held[p] = true
			if !wanted[p] {
				continue
			}
			j, err := partJob(root, id, abs, p)
			if err != nil {
				return nil, nil, err
			}
			jobs = append(jobs, j)
		}
	}
	for _, p := range paths {
		if !held[p] {
			notHeld = append(notHeld, p)
		}
	}
	return jobs, notHeld, nil
}

// stageAll copies and verifies every job's tree beside its target
// (restoreJob.stage). On an error it removes what it staged, and
// nothing was swapped.
func stageAll(ctx context.Context, jobs []*restoreJob) error {
	for i, j := range jobs {
		if err := j.stage(ctx); err != nil {
			for _, k := range jobs[:i] {
				_ = removeTree(k.staging)
			}
			if j.part != "" {
				err = fmt.Errorf("cannot restore %s: %w", j.what(), err)
			}
			return err
		}
	}
	return nil
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
	base := filepath.Join(parent, name+replacedInfix+time.Now().UTC().Format(replacedTimeFormat))
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
//
// Every entry is created relative to a descriptor of its folder in to,
// opened below to with openBeneath, and read relative to a descriptor of
// from the same way: no path is resolved from the root and no symlink is
// followed on the way, so even a manifest that got past the path checks
// of manifest.Decode or a folder of to swapped for a symlink while this
// runs cannot make it write (or read) outside to (from). Symlinks from
// the backup are created, never followed; modes, owners and times are
// set through descriptors or with AT_SYMLINK_NOFOLLOW.
func restoreInto(ctx context.Context, from, to string, m *manifest.Manifest) error {
	if err := os.Mkdir(to, 0o700); err != nil {
		return fmt.Errorf("cannot create restore folder %s: %w", to, err)
	}
	syncer, err := openSyncFS(to)
	if err != nil {
		return err
	}
	defer syncer.Close()
	srcRoot, err := openatRetry(unix.AT_FDCWD, from, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("cannot open folder %s: %w", from, err)
	}
	defer unix.Close(srcRoot)
	dstRoot, err := openatRetry(unix.AT_FDCWD, to, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("cannot open restore folder %s: %w", to, err)
	}
	defer unix.Close(dstRoot)
	r := &restoreRun{ctx: ctx, m: m, from: from, to: to, srcRoot: srcRoot, dstRoot: dstRoot,
		owners: m.Owners && os.Geteuid() == 0, pool: newPool(ctx, "restore backup "+m.ID)}
	if err := r.createAll(); err != nil {
		r.pool.fail(err)
	}
	if err := r.pool.wait(); err != nil {
		return err
	}
	// Deepest first: a folder's mtime is set after its entries exist,
	// and a read-only folder gets its mode after it was written into.
	for i := len(r.dirs) - 1; i >= 0; i-- {
		if err := restoreDirMeta(dstRoot, to, r.dirs[i], r.owners); err != nil {
			return err
		}
	}
	if err := syncFS(syncer); err != nil {
		return err
	}
	return verifyTree(ctx, m.ID, to, m, r.owners, recordedMode)
}

// restoreRun is one restoreInto: the descriptors of from and to, and the
// pool that copies files.
type restoreRun struct {
	ctx              context.Context
	m                *manifest.Manifest
	from, to         string
	srcRoot, dstRoot int
	owners           bool // set owners: the backup recorded them and this runs as root
	pool             *pool
	// dirs are the folders created (the root first), parents before
	// children, whose metadata is set once their entries exist.
	dirs []*manifest.Entry
}

// createAll creates every entry of the manifest in to, in manifest
// order, handing files to the pool. It stops at the first error; files
// already handed over may still be copying (the caller waits for them).
func (r *restoreRun) createAll() error {
	// The folder the current run of entries goes into: entries of one
	// folder are together in a manifest, so each is opened once.
	var cur *dirHandle
	var curRel string
	defer func() { cur.release() }()
	for i := range r.m.Entries {
		if err := r.ctx.Err(); err != nil {
			return fmt.Errorf("cannot restore backup %s: %w", r.m.ID, err)
		}
		e := &r.m.Entries[i]
		if e.Path == "." {
			r.dirs = append(r.dirs, e)
			continue
		}
		if testHookRestore != nil {
			testHookRestore(e.Path)
		}
		dir := path.Dir(e.Path)
		if cur == nil || curRel != dir {
			cur.release()
			cur = nil
			fd, err := openBeneath(r.dstRoot, dir, dirHandleFlags)
			if err != nil {
				return fmt.Errorf("cannot open folder %s: %w", joinRel(r.to, dir), err)
			}
			cur, curRel = newDirHandle(fd), dir
		}
		if err := r.create(cur, e); err != nil {
			return err
		}
	}
	return nil
}

// create creates the entry e, other than the root, in its folder cur.
func (r *restoreRun) create(cur *dirHandle, e *manifest.Entry) error {
	name, dst := path.Base(e.Path), joinRel(r.to, e.Path)
	switch e.Type {
	case manifest.TypeDir:
		if err := unix.Mkdirat(cur.fd, name, 0o700); err != nil {
			return fmt.Errorf("cannot create folder %s: %w", dst, err)
		}
		r.dirs = append(r.dirs, e)
	case manifest.TypeFile:
		h := cur.acquire()
		if err := r.pool.submit(func([]byte) error {
			defer h.release()
			return restoreFile(r.pool.ctx, r.srcRoot, r.from, h.fd, name, dst, e, r.owners)
		}); err != nil {
			h.release()
			return err
		}
	case manifest.TypeSymlink:
		return makeSymlinkAt(cur.fd, name, dst, e, r.owners)
	default:
		reason, err := makeSpecialAt(cur.fd, name, dst, e, r.owners, asRecorded)
		if err != nil {
			return err
		}
		if reason != "" {
			return fmt.Errorf("cannot restore %s: %s", dst, reason)
		}
	}
	return nil
}

// dirHandle is an open folder of a restore, shared by the walk and the
// jobs that create files in it; the last to release it closes it.
type dirHandle struct {
	fd   int
	refs atomic.Int32
}

func newDirHandle(fd int) *dirHandle {
	h := &dirHandle{fd: fd}
	h.refs.Store(1)
	return h
}

func (h *dirHandle) acquire() *dirHandle {
	h.refs.Add(1)
	return h
}

// release drops a reference; nil is a no-op.
func (h *dirHandle) release() {
	if h != nil && h.refs.Add(-1) == 0 {
		unix.Close(h.fd)
	}
}

// restoreFile copies the file e out of the backup folder open as srcRoot
// (from, for errors) to the new file name in the folder dirfd (dst, for
// errors). The kernel copies the content (copy_file_range, a reflink where
// the filesystem can share blocks copy-on-write), only the data ranges of
// a sparse file, whose holes stay holes; verifyTree checks it afterwards.
func restoreFile(ctx context.Context, srcRoot int, from string, dirfd int, name, dst string, e *manifest.Entry, owners bool) error {
	src := joinRel(from, e.Path)
	mode, err := parseMode(e.Mode)
	if err != nil {
		return fmt.Errorf("cannot restore %s: %w", dst, err)
	}
	// O_NONBLOCK: a named pipe where the backup should hold a file must
	// not block the restore; the type is checked before reading.
	ifd, err := openBeneath(srcRoot, e.Path, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", src, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(ifd, &st); err != nil {
		unix.Close(ifd)
		return fmt.Errorf("cannot inspect %s: %w", src, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(ifd)
		return fmt.Errorf("cannot restore %s: %s is a %v, manifest says file", dst, src, fileMode(uint32(st.Mode)).Type())
	}
	if err := unix.SetNonblock(ifd, false); err != nil {
		unix.Close(ifd)
		return fmt.Errorf("cannot open %s: %w", src, err)
	}
	in := os.NewFile(uintptr(ifd), src)
	defer in.Close()
	ofd, err := openatRetry(dirfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", dst, err)
	}
	out := os.NewFile(uintptr(ofd), dst)
	defer out.Close()
	copyContent := restoreWhole
	if sst := fromSys(&st); maybeSparse(&sst) {
		copyContent = func(ctx context.Context, in, out *os.File) error { return restoreSparse(ctx, in, out, sst.size) }
	}
	if err := copyContent(ctx, in, out); err != nil {
		return fmt.Errorf("cannot copy %s to %s: %w", src, dst, err)
	}
	if owners {
		if err := out.Chown(e.UID, e.GID); err != nil {
			return fmt.Errorf("cannot set owner of %s: %w", dst, err)
		}
	}
	// After chown, which clears setuid and setgid.
	if err := unix.Fchmod(ofd, mode); err != nil {
		return fmt.Errorf("cannot set mode of %s: %w", dst, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("cannot close %s: %w", dst, err)
	}
	return setTimesAt(dirfd, name, dst, -1, e.ModTime.UnixNano())
}

// restoreWhole copies in to out from their offsets to the end of in.
// Chunks keep cancellation prompt; io.CopyN's LimitedReader still lets
// os.File.ReadFrom use copy_file_range.
func restoreWhole(ctx context.Context, in, out *os.File) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, err := io.CopyN(out, in, restoreChunk)
		if errors.Is(err, io.EOF) || (err == nil && n < restoreChunk) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// restoreDirMeta gives the restored folder e, below the restore folder
// open as root (to, for errors), its owner, mtime and mode through a
// descriptor opened below root without following a symlink.
func restoreDirMeta(root int, to string, e *manifest.Entry, owners bool) error {
	dst := joinRel(to, e.Path)
	mode, err := parseMode(e.Mode)
	if err != nil {
		return fmt.Errorf("cannot set mode of %s: %w", dst, err)
	}
	fd, err := openBeneath(root, e.Path, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("cannot open folder %s: %w", dst, err)
	}
	defer unix.Close(fd)
	if owners {
		if err := unix.Fchown(fd, e.UID, e.GID); err != nil {
			return fmt.Errorf("cannot set owner of %s: %w", dst, err)
		}
	}
	// The mtime before the mode: "." in a folder whose mode denies
	// search could not be looked up afterwards.
	if err := setTimesAt(fd, ".", dst, -1, e.ModTime.UnixNano()); err != nil {
		return err
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return fmt.Errorf("cannot set mode of %s: %w", dst, err)
	}
	return nil
}
