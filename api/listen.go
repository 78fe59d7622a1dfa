package api

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/better-paas/updater/internal/config"
)

// socketMode lets the daemon's user and group (a reverse proxy added to
// it) connect, nobody else.
const socketMode = 0o660

// shutdownGrace is how long Serve waits for requests in flight after its
// context ends before it closes their connections.
const shutdownGrace = 5 * time.Second

// Listen opens the listener api.listen names: a TCP address, or with the
// unix: prefix a unix socket, created with mode 0660. A socket file left
// by a daemon that died is replaced; a path that is not a socket, or a
// socket another process still answers on, is refused. Errors name
// api.listen and the fix.
func Listen(cfg *config.Config) (net.Listener, error) {
	addr := cfg.API.Address()
	if addr == "" {
		return nil, fmt.Errorf(`cannot listen: api.listen is "", which turns the API off`)
	}
	if path := cfg.API.SocketPath(); path != "" {
		return listenUnix(path)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on api.listen %s: %w; choose a free address in updater.yaml (or \"\" to turn the API off)", addr, err)
	}
	return ln, nil
}

// listenUnix listens on a unix socket at path with socketMode.
func listenUnix(path string) (net.Listener, error) {
	fail := func(err error) (net.Listener, error) {
		return nil, fmt.Errorf("cannot listen on api.listen unix:%s: %w", path, err)
	}
	if err := removeStaleSocket(path); err != nil {
		return fail(err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fail(err)
	}
	if err := os.Chmod(path, socketMode); err != nil {
		_ = ln.Close()
		return fail(err)
	}
	return ln, nil
}

// removeStaleSocket removes a socket at path that nobody answers on, the
// leftover of a daemon that was killed. Anything else at path is kept.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; remove it or choose another path", path)
	}
	if conn, err := net.DialTimeout("unix", path, time.Second); err == nil {
		_ = conn.Close()
		return fmt.Errorf("another process answers on %s; stop it or choose another path", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("cannot remove the stale socket %s: %w", path, err)
	}
	return nil
}

// Serve answers requests on ln with h until ctx ends, then shuts down:
// requests in flight (an event stream sees its context end) get
// shutdownGrace to finish, then their connections are closed. A unix
// socket's file is removed. It returns nil after a shutdown, or why
// serving failed.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// No ReadTimeout: it would end event streams; decode bounds the
		// time to read a body instead.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		// Requests live under ctx, so an event stream ends with the daemon.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("cannot serve the API on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("cannot serve the API on %s: %w", ln.Addr(), err)
	}
	return nil
}
