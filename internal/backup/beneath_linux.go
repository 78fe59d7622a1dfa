package backup

import (
	"errors"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// dirHandleFlags open a folder only to create and inspect entries in it
// with *at calls: O_PATH needs no read permission on it.
const dirHandleFlags = unix.O_PATH | unix.O_DIRECTORY

// beneathWalkOnly makes openBeneath use openBeneathWalk even where
// openat2 exists, so tests cover the fallback on Linux too.
var beneathWalkOnly bool

// openat2Missing is set once openat2 failed with ENOSYS (Linux before
// 5.6): the kernel will not grow it while this process runs.
var openat2Missing atomic.Bool

// openBeneath opens rel, a slash-separated path, below the folder dirfd
// with flags, and fails rather than leave dirfd: openat2(2) with
// RESOLVE_BENEATH refuses ".." above dirfd and absolute paths, and
// RESOLVE_NO_SYMLINKS refuses a symlink anywhere on the way, the last
// component included, so neither an odd path nor a folder swapped for a
// symlink while a restore runs can lead elsewhere. A symlink fails with
// ELOOP, a path that leaves dirfd with EXDEV. Where openat2 is missing
// (ENOSYS) or blocked by a seccomp filter that predates it (EPERM) it
// falls back to openBeneathWalk, which is as strict but slower.
func openBeneath(dirfd int, rel string, flags int) (int, error) {
	if beneathWalkOnly || openat2Missing.Load() {
		return openBeneathWalk(dirfd, rel, flags)
	}
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_NOFOLLOW | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	var fd int
	var err error
	// EAGAIN: a rename elsewhere on the filesystem raced the lookup and
	// the kernel could not vouch for it. A few retries outlast a race; a
	// flood of renames gets the error.
	for range 16 {
		err = ignoringEINTR(func() (err error) { fd, err = unix.Openat2(dirfd, rel, &how); return err })
		if !errors.Is(err, unix.EAGAIN) {
			break
		}
	}
	switch {
	case err == nil:
		return fd, nil
	case errors.Is(err, unix.ENOSYS):
		openat2Missing.Store(true)
	case errors.Is(err, unix.EPERM):
	default:
		return -1, err
	}
	return openBeneathWalk(dirfd, rel, flags)
}
