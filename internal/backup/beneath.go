package backup

import (
	"strings"

	"golang.org/x/sys/unix"
)

// openBeneathWalk opens rel, a slash-separated path, below the folder
// dirfd one component at a time and never through a symlink: every folder
// on the way is opened relative to the one before it with O_NOFOLLOW and
// O_DIRECTORY, the last component with flags and O_NOFOLLOW. It refuses
// empty, "." and ".." components, so rel cannot leave dirfd by name, and
// a symlink anywhere on the way fails with ELOOP (or ENOTDIR), so it
// cannot leave it through a link either. rel "." opens dirfd again.
//
// It is the portable form of openat2's RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS
// (see openBeneath), at the cost of one open per component.
func openBeneathWalk(dirfd int, rel string, flags int) (int, error) {
	if rel == "." {
		return openatRetry(dirfd, ".", flags|unix.O_NOFOLLOW|unix.O_CLOEXEC)
	}
	fd := dirfd
	for {
		name, rest, more := strings.Cut(rel, "/")
		if name == "" || name == "." || name == ".." {
			if fd != dirfd {
				unix.Close(fd)
			}
			return -1, unix.EINVAL
		}
		fl := flags
		if more {
			fl = dirHandleFlags
		}
		next, err := openatRetry(fd, name, fl|unix.O_NOFOLLOW|unix.O_CLOEXEC)
		if fd != dirfd {
			unix.Close(fd)
		}
		if err != nil || !more {
			return next, err
		}
		fd, rel = next, rest
	}
}

func openatRetry(dirfd int, name string, flags int) (int, error) {
	var fd int
	err := ignoringEINTR(func() (err error) { fd, err = unix.Openat(dirfd, name, flags, 0); return err })
	if err != nil {
		return -1, err
	}
	return fd, nil
}
