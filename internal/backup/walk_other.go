//go:build !linux

package backup

import (
	"os"

	"golang.org/x/sys/unix"
)

// listDir returns the entries of the folder open as fd, but "." and "..".
// Without getdents(2) it lists through os.File.ReadDir on a duplicate of
// fd (darwin: fdopendir and readdir, one pass, so a folder changed
// meanwhile is listed as POSIX readdir allows, like on Linux). Folders are
// known from d_type; os stats an entry whose type the filesystem does not
// report, relative to fd, and leaves out one that vanished meanwhile,
// which the Linux listing would record as vanished instead: either way it
// is not copied.
func listDir(fd int) ([]dirent, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), ".")
	defer f.Close()
	des, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	ents := make([]dirent, len(des))
	for i, de := range des {
		ents[i] = dirent{name: de.Name(), isDir: de.IsDir()}
	}
	return ents, nil
}
