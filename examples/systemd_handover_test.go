package examples_test

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/sandbox/load"
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
	url := "http://" + addr + "/api/health"
	if err := load.Get(t.Context(), url); err != nil {
		t.Fatalf("the backend does not answer on the socket: %v\n%s", err, systemctl("status", "--no-pager", "better-paas-backend.service"))
	}

	// About 300 requests/s, each on a fresh connection, open loop with no
	// bound on the requests in flight; a late one is sent at once.
	run := load.Start(t.Context(), load.Options{URL: url, Rate: 333, Timeout: 30 * time.Second})
	t.Cleanup(func() { run.Stop() })

	// The load runs before the first restart and goes on after each: the
	// test waits for answers, not for time to pass.
	const answers = 25
	if err := run.WaitOK(t.Context(), answers); err != nil {
		t.Fatalf("before the restarts: %v", err)
	}
	pid := systemctl("show", "-p", "MainPID", "--value", "better-paas-backend.service")
	for i := range 3 {
		systemctl("restart", "better-paas-backend.service")
		next := systemctl("show", "-p", "MainPID", "--value", "better-paas-backend.service")
		if next == pid || next == "0" {
			t.Fatalf("restart #%d: MainPID %s -> %s, want a new process", i+1, pid, next)
		}
		pid = next
		if err := run.WaitOK(t.Context(), run.Result().OK+answers); err != nil {
			t.Fatalf("after restart #%d: %v", i+1, err)
		}
	}
	res := run.Stop()

	t.Logf("through 3 restarts: %s", res)
	if res.Bad() != 0 {
		t.Errorf("%d of %d requests failed or were refused: %s", res.Bad(), res.Sent, res)
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
