package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

// listenFDsStart is the first passed socket's descriptor (SD_LISTEN_FDS_START).
const listenFDsStart = 3

// listen returns the socket to serve on. When a service manager passed one
// with the systemd socket-activation protocol (LISTEN_FDS=1 and LISTEN_PID
// = this process, as systemd's .socket units and the updater's
// service.exec.listen do), that socket, fd 3: it outlives this process, so
// connections wait in its backlog while the app restarts instead of being
// refused. Otherwise a new socket on addr ("the plain way"). inherited
// says which.
//
// The variables are unset, as sd_listen_fds(3) does, so a process this
// one starts does not take the socket for its own.
func listen(addr string) (ln net.Listener, inherited bool, err error) {
	fds, pid := os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_PID")
	if fds == "" || pid != strconv.Itoa(os.Getpid()) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, false, fmt.Errorf("cannot listen on %s: %w", addr, err)
		}
		return ln, false, nil
	}
	for _, name := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
		_ = os.Unsetenv(name)
	}
	if fds != "1" {
		return nil, false, fmt.Errorf("cannot use the passed sockets: LISTEN_FDS=%s, want 1 (one listening socket)", fds)
	}
	f := os.NewFile(listenFDsStart, "LISTEN_FDS")
	defer f.Close() // FileListener keeps a duplicate
	ln, err = net.FileListener(f)
	if err != nil {
		return nil, false, fmt.Errorf("cannot use the passed socket (fd %d): %w", listenFDsStart, err)
	}
	return ln, true, nil
}
