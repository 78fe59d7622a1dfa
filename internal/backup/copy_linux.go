package backup

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// oNoatime is O_NOATIME: reading a source file leaves its access time
// alone (see openNoatime).
const oNoatime = unix.O_NOATIME

// utimeOmit, as the nanoseconds of a time given to utimensat(2), leaves
// that time as it is.
const utimeOmit = unix.UTIME_OMIT

// syncEachFileDefault is false: one syncfs(2) makes a backup durable (see
// syncEachFile).
const syncEachFileDefault = false

// setDirect switches O_DIRECT on or off for the open file fd. An error
// means the filesystem refuses it (copyDirect then writes through the page
// cache).
func setDirect(fd int, on bool) error {
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		flags |= unix.O_DIRECT
	} else {
		flags &^= unix.O_DIRECT
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, flags)
	return err
}

// mknodAt creates the named pipe or device node name in the folder dirfd
// (path is its full path, unused here) with mknodat(2).
func mknodAt(dirfd int, name, path string, mode uint32, dev int) error {
	return unix.Mknodat(dirfd, name, mode, dev)
}

// syncFS writes back the filesystem d is open on with syncfs(2) and
// reports any write-back error on it since d was opened (openSyncFS).
func syncFS(d *os.File) error {
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("cannot sync filesystem of %s: %w", d.Name(), err)
	}
	return nil
}
