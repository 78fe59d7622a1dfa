package examples_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/sandbox"
)

// TestSystemdSocketRestartRefusesNothing installs the example
// better-paas-backend.socket and .service in a real systemd (the
// workplace's sandbox; skipped where it cannot run) with the example
// backend, and hammers the app with fresh connections (about 300/s) through
// three `systemctl restart`s: every request is answered, because the
// socket belongs to systemd and connections wait in its backlog while the
// backend is replaced. The unit's ADDR is the socket's address, so a
// backend that did not take the socket could not bind and would fail.
func TestSystemdSocketRestartRefusesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real systemd and builds the app; run make test")
	}
	root, err := os.MkdirTemp("/var/tmp", "bpu-socket-") // /tmp is private inside the sandbox
	if err != nil {
		t.Skipf("cannot make a folder under /var/tmp: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	install := filepath.Join(root, "install")
	if out, err := exec.Command("go", "build", "-o", filepath.Join(install, "server"), "./app/backend").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := freeLoopbackAddr(t)

	// The example units as an operator installs them, at the test's folder
	// and port, without the boot dependencies a sandboxed systemd lacks.
	units := filepath.Join(root, "units")
	for _, name := range []string{"better-paas-backend.socket", "better-paas-backend.service"} {
		b, err := os.ReadFile(filepath.Join("systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		// PrivateTmp= would hide the install, which lives under /var/tmp.
		u := strings.NewReplacer("/opt/better-paas", install, "127.0.0.1:8080", addr,
			"[Unit]\n", "[Unit]\nDefaultDependencies=no\n", "PrivateTmp=yes", "PrivateTmp=no").Replace(string(b))
		if err := os.MkdirAll(units, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(units, name), []byte(u), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sd, err := sandbox.StartSystemd(units)
	if errors.Is(err, sandbox.ErrNoSystemd) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sd.Stop)
	systemctl := func(args ...string) string {
		t.Helper()
		out, err := sd.Command(append([]string{"systemctl"}, args...)...).CombinedOutput()
		if err != nil {
			status, _ := sd.Command("systemctl", "status", "--no-pager", "-l", "better-paas-backend.service").CombinedOutput()
			t.Fatalf("systemctl %s: %v\n%s\n%s", strings.Join(args, " "), err, out, status)
		}
		return strings.TrimSpace(string(out))
	}
	systemctl("start", "better-paas-backend.socket", "better-paas-backend.service")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() error {
		resp, err := client.Get("http://" + addr + "/api/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %s", resp.Status)
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("the backend does not answer on the socket: %v\n%s", err, systemctl("status", "--no-pager", "better-paas-backend.service"))
	}

	// About 300 requests/s, each on a fresh connection, each in its own
	// goroutine; a late tick sends what it is behind by.
	const every = 3 * time.Millisecond
	var mu sync.Mutex
	var ok, failed, sent int
	var firstErr error
	var wg sync.WaitGroup
	ctx, stop := context.WithCancel(context.Background())
	begun := time.Now()
	var took time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				took = time.Since(begun)
				return
			case <-tick.C:
			}
			for due := int(time.Since(begun)/every) + 1; sent < due; sent++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := get()
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						failed++
						if firstErr == nil {
							firstErr = err
						}
						return
					}
					ok++
				}()
			}
		}
	}()

	pid := systemctl("show", "-p", "MainPID", "--value", "better-paas-backend.service")
	for i := range 3 {
		systemctl("restart", "better-paas-backend.service")
		next := systemctl("show", "-p", "MainPID", "--value", "better-paas-backend.service")
		if next == pid || next == "0" {
			stop()
			wg.Wait()
			t.Fatalf("restart #%d: MainPID %s -> %s, want a new process", i+1, pid, next)
		}
		pid = next
		if err := get(); err != nil {
			t.Errorf("restart #%d: the new backend does not answer: %v", i+1, err)
		}
	}
	stop()
	wg.Wait()

	t.Logf("through 3 restarts: %d answered, %d failed (first: %v) of %d sent in %s (%.0f/s)",
		ok, failed, firstErr, sent, took.Round(time.Millisecond), float64(sent)/took.Seconds())
	if failed != 0 {
		t.Errorf("%d of %d requests failed or were refused; first: %v", failed, sent, firstErr)
	}
	if ok < 100 {
		t.Errorf("only %d requests answered: the load did not run", ok)
	}
}

// freeLoopbackAddr returns 127.0.0.1 with a port that was free a moment
// ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
