package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ListenFDName is the name the socket carries in LISTEN_FDNAMES.
const ListenFDName = "http"

// listenFD is the descriptor the socket has in the backend: the first one
// after stdin, stdout and stderr, as sd_listen_fds(3) expects.
const listenFD = 3

// ListenAddr is a parsed ExecConfig.Listen.
type ListenAddr struct {
	// Network is "tcp" or "unix".
	Network string
	// Address is host:port for tcp, the socket's absolute path for unix.
	Address string
}

// String is the form ParseListen accepts.
func (a ListenAddr) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Address
	}
	return a.Address
}

// ParseListen parses a listen address: host:port (tcp; the host may be
// empty, a name or an IP; the port must be fixed, 1-65535) or
// unix:/absolute/path. The error says what is wrong and what is expected.
func ParseListen(s string) (ListenAddr, error) {
	if path, ok := strings.CutPrefix(s, "unix:"); ok {
		if !filepath.IsAbs(path) {
			return ListenAddr{}, fmt.Errorf("%q: the socket path must be absolute, as in unix:/run/app/http.sock", s)
		}
		return ListenAddr{Network: "unix", Address: filepath.Clean(path)}, nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return ListenAddr{}, fmt.Errorf("%q is not host:port (e.g. 127.0.0.1:8080) or unix:/path", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strings.ContainsAny(port, "+-") {
		return ListenAddr{}, fmt.Errorf("%q: port %q is not a fixed port (1-65535)", s, port)
	}
	if strings.ContainsAny(host, "/ ") {
		return ListenAddr{}, fmt.Errorf("%q: host %q is not a host name or an IP address", s, host)
	}
	return ListenAddr{Network: "tcp", Address: s}, nil
}

// bindListen opens the listening socket the backends share and returns it
// as a file the daemon keeps (close-on-exec; a backend gets its own copy
// as fd 3). A stale unix socket file (left by a crash) is removed first;
// any other file at that path is an error.
func bindListen(ctx context.Context, a ListenAddr) (*os.File, error) {
	if a.Network == "unix" {
		if err := removeStaleSocket(a.Address); err != nil {
			return nil, err
		}
	}
	var lc net.ListenConfig // SO_REUSEADDR is set by Go on tcp sockets
	ln, err := lc.Listen(ctx, a.Network, a.Address)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", a, err)
	}
	var f *os.File
	switch l := ln.(type) {
	case *net.TCPListener:
		f, err = l.File()
	case *net.UnixListener:
		// The file is the socket's name for as long as the daemon runs:
		// closing the Go listener must not unlink it.
		l.SetUnlinkOnClose(false)
		f, err = l.File()
	default:
		err = fmt.Errorf("unexpected listener type %T", ln)
	}
	// The duplicate in f keeps the socket listening; the Go listener, with
	// its poller registration, is not needed: the daemon never accepts.
	_ = ln.Close()
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", a, err)
	}
	return f, nil
}

// removeStaleSocket removes a socket file nobody listens on. A live socket
// is left for bind to report EADDRINUSE; a file of another type is refused
// rather than deleted.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot listen on unix:%s: %w", path, err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("cannot listen on unix:%s: a %s is in the way; remove it or pick another path", path, fi.Mode().Type())
	}
	if c, err := net.Dial("unix", path); err == nil {
		_ = c.Close()
		return nil // live: bind says "address already in use"
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("cannot listen on unix:%s: cannot remove the stale socket: %w", path, err)
	}
	return nil
}
