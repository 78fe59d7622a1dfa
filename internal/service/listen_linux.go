package service

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// socketFrom returns a duplicate of the socket listening on a that the
// process pid holds, taken with pidfd_getfd(2), or nil when it holds none.
// It lets a supervisor that adopted a backend (an earlier daemon started
// it, so this one has no copy of the socket) keep the socket listening
// across the backend's stop, instead of binding a new one after it: no
// connection is refused in between. Only tcp: a unix socket's file may be
// unlinked by the backend as it exits.
//
// pidfd_getfd needs ptrace rights over pid (root, or CAP_SYS_PTRACE, or the
// same user where Yama's ptrace_scope allows it): an error then says why,
// and the caller binds a new socket later as before.
func socketFrom(pid int, a ListenAddr) (*os.File, error) {
	if a.Network != "tcp" {
		return nil, nil
	}
	want, err := net.ResolveTCPAddr("tcp", a.Address)
	if err != nil {
		return nil, fmt.Errorf("cannot resolve %s: %w", a, err)
	}
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot list the backend's descriptors: %w", err)
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot open a pidfd for the backend (pid %d): %w", pid, err)
	}
	defer unix.Close(pidfd)
	for _, e := range entries {
		target, err := os.Readlink(dir + "/" + e.Name())
		if err != nil || !strings.HasPrefix(target, "socket:") {
			continue
		}
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fd, err := unix.PidfdGetfd(pidfd, n, 0) // close-on-exec, as the kernel sets it
		if errors.Is(err, unix.EBADF) {
			continue // closed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("cannot take the backend's socket (pid %d, fd %d): %w", pid, n, err)
		}
		if listensOn(fd, want) {
			return os.NewFile(uintptr(fd), "listen "+a.String()), nil
		}
		_ = unix.Close(fd)
	}
	return nil, nil
}

// listensOn reports whether fd is a listening TCP socket bound to want (an
// unspecified IP in want matches only an unspecified bound IP).
func listensOn(fd int, want *net.TCPAddr) bool {
	if v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN); err != nil || v != 1 {
		return false
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	var ip net.IP
	var port int
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		ip, port = net.IP(s.Addr[:]), s.Port
	case *unix.SockaddrInet6:
		ip, port = net.IP(s.Addr[:]), s.Port
	default:
		return false
	}
	if port != want.Port {
		return false
	}
	if want.IP == nil || want.IP.IsUnspecified() {
		return ip.IsUnspecified()
	}
	return ip.Equal(want.IP)
}
