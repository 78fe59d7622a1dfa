package backup

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// oNoatime is 0: darwin has no O_NOATIME, so reading a source file may
// update its access time. Nothing depends on it: a pass judges a file by
// its size, mtime, inode and ctime (an atime update does not touch the
// ctime), and a copy gets the atime fstat saw before the read.
const oNoatime = 0

// utimeOmit is UTIME_OMIT of darwin's <sys/stat.h> (-2; x/sys/unix does
// not define it there): utimensat(2), which darwin has since macOS 10.13,
// then leaves that time as it is.
const utimeOmit = -2

// syncEachFileDefault is true: darwin has no syncfs(2), so each copied
// file and folder of a backup is fsynced as it is written instead (see
// syncEachFile and syncFS).
const syncEachFileDefault = true

// setDirect always fails: darwin has no O_DIRECT, so copyDirect writes big
// files through the buffer cache, as on a Linux filesystem that refuses
// O_DIRECT. The copy and its hash are the same; only the page cache
// fills. (F_NOCACHE is darwin's nearest flag; it is not worth an untested
// path for a development platform.)
func setDirect(fd int, on bool) error {
	return errors.ErrUnsupported
}

// mknodAt creates the named pipe or device node name in the folder dirfd
// by its full path: x/sys/unix has no mknodat on darwin. The folders on
// the way are ones this package created (a backup being written, or a
// restore folder it made beneath its root), and the mode, owner and times
// are then set through dirfd (setMetaAt), which fails if path led
// elsewhere.
func mknodAt(dirfd int, name, path string, mode uint32, dev int) error {
	return unix.Mknod(path, mode, dev)
}

// syncFS is the stand-in for syncfs(2), which darwin lacks: sync(2)
// schedules the write-back of every filesystem, and an fsync of the
// folder d (F_FULLFSYNC, through os.File.Sync) flushes the drive's cache.
// sync(2) may return before everything is written, so this is weaker than
// Linux's syncfs; backups do not rely on it on darwin (syncEachFileDefault
// fsyncs every file), restores and the tests that turn syncEachFile off do.
func syncFS(d *os.File) error {
	_ = unix.Sync() // void in darwin's libc: it cannot fail
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync filesystem of %s: %w", d.Name(), err)
	}
	return nil
}
