//go:build !linux

package backup

import "golang.org/x/sys/unix"

// dirHandleFlags open a folder only to create and inspect entries in it
// with *at calls.
const dirHandleFlags = unix.O_RDONLY | unix.O_DIRECTORY

// beneathWalkOnly is set by the tests that cover both ways of resolving
// on Linux. Here every open walks, so nothing reads it.
//
//lint:ignore U1000 the tests set it on every system
var beneathWalkOnly bool

// openBeneath opens rel, a slash-separated path, below the folder dirfd
// with flags, never through a symlink and never outside dirfd: without
// openat2 it is openBeneathWalk.
func openBeneath(dirfd int, rel string, flags int) (int, error) {
	return openBeneathWalk(dirfd, rel, flags)
}
