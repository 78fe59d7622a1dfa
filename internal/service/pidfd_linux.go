//go:build linux

package service

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// waitExit blocks until the process pid exits, without polling: a pidfd
// (Linux 5.3 and later) turns readable when its process exits, and the
// runtime's poller waits for that. ours, asked once the pidfd is open,
// says whether pid is still the process meant (PID reuse); when it is not,
// waitExit returns true at once. It returns false when ctx ended or no
// pidfd could be waited on (an older kernel, a pidfd the poller cannot
// take): the caller then polls.
func waitExit(ctx context.Context, pid int, ours func() bool) bool {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	defer f.Close()
	if !ours() {
		return true
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Now()) })
	defer stop()
	exited := func(fd uintptr) bool {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(p, 0)
		return err == nil && n > 0
	}
	// Waits in the poller until the pidfd is readable; a pidfd the poller
	// did not take (os.ErrNoDeadline) or ctx's end is an error.
	return rc.Read(exited) == nil
}
