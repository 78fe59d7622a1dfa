package api_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/better-paas/updater/api"
	"github.com/better-paas/updater/internal/apitoken"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/layout"
)

// listenConfig is a loaded config whose api.listen is listen.
func listenConfig(t *testing.T, listen string) *config.Config {
	t.Helper()
	c := &config.Config{InstallDir: "/srv/app", StateDir: t.TempDir()}
	c.API.Listen = &listen
	return c
}

// serve starts api.Serve on ln with h and returns a function that stops
// it and returns Serve's error.
func serve(t *testing.T, ln net.Listener, h http.Handler) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, ln, h) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Error("Serve did not return after its context ended")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// TestUnixSocketListener: a unix socket of mode 0660 that answers
// /healthz, replaces a stale socket, refuses a file that is not a socket
// or a socket in use, and is removed when Serve ends.
func TestUnixSocketListener(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "api.sock")
	// A stale socket of a killed daemon: bound, never served, closed
	// without removing the file.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()

	cfg := listenConfig(t, "unix:"+sock)
	l := layout.New(cfg)
	h := api.New(api.Options{Config: cfg, Layout: l, Verifier: apitoken.NewVerifier(l.APIToken)})
	ln, err := api.Listen(cfg)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket: %v %v, want mode 0660", fi, err)
	}
	stop := serve(t, ln, h)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := client.Get("http://localhost/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Errorf("healthz over the socket: %d %s", resp.StatusCode, body)
	}
	resp, err = client.Get("http://localhost/api/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status without a token over the socket: %d", resp.StatusCode)
	}

	// A second listener on the socket in use is refused; the socket stays.
	if _, err := api.Listen(cfg); err == nil || !strings.Contains(err.Error(), "another process answers") || !strings.Contains(err.Error(), "api.listen unix:"+sock) {
		t.Errorf("Listen on a socket in use = %v", err)
	}
	if err := stop(); err != nil {
		t.Errorf("Serve = %v after its context ended", err)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Serve ended: %v", err)
	}

	// A regular file at the path is not removed.
	if err := os.WriteFile(sock, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := api.Listen(cfg); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("Listen on a regular file = %v", err)
	}
	if b, _ := os.ReadFile(sock); string(b) != "keep" {
		t.Error("the regular file was replaced")
	}
}

// TestServeShutsDownStreams: a request that streams until its context
// ends (an event stream) does not hold Serve up after the context ends.
func TestServeShutsDownStreams(t *testing.T) {
	ln, err := api.Listen(listenConfig(t, "127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		http.NewResponseController(w).Flush()
		close(started)
		<-r.Context().Done()
	})
	stop := serve(t, ln, h)
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-started
	begin := time.Now()
	if err := stop(); err != nil {
		t.Errorf("Serve = %v", err)
	}
	if d := time.Since(begin); d > 4*time.Second {
		t.Errorf("shutdown took %v with a stream open", d)
	}
}

// TestListenRefusesABusyAddress: the error names api.listen and the fix.
func TestListenRefusesABusyAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = api.Listen(listenConfig(t, busy.Addr().String()))
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "api.listen "+busy.Addr().String()) {
		t.Errorf("Listen on a busy address = %v", err)
	}
	if _, err := api.Listen(listenConfig(t, "")); err == nil {
		t.Error("Listen with the API off succeeded")
	}
}
