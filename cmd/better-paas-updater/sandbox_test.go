package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/spec"
)

// sandboxHost is a real install of the example app, cloned at v1.0.0 from
// a bare origin, with the shipped updater.yaml pointed at it: for tests
// that run the real daemon on it.
type sandboxHost struct {
	dir, install, cfgPath string
	cfg                   *config.Config
	// svc is a second supervisor of the same pidfile: what the test uses
	// to look at the app and to stop it at the end.
	svc *service.Exec
}

func newSandboxHost(t *testing.T) *sandboxHost {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: a real daemon and real builds; run make test")
	}
	dir := t.TempDir()
	ctx := context.Background()
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(dir, "origin.git"), sandbox.DefaultReleases())
	if err != nil {
		t.Fatal(err)
	}
	h := &sandboxHost{dir: dir, install: filepath.Join(dir, "install"), cfgPath: filepath.Join(dir, "updater.yaml")}
	if err := sandbox.Clone(ctx, origin, h.install, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	raw, err := sandbox.ConfigWith(dir, h.install, port, sandbox.Options{
		Timings:     sandbox.Timings{Interval: 100 * time.Millisecond, Deadline: 10 * time.Second, SuccessThreshold: 2},
		ShareBuilds: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, h.cfgPath, string(raw))
	if h.cfg, err = config.Load(h.cfgPath); err != nil {
		t.Fatal(err)
	}
	h.svc, err = service.NewExec(service.ExecConfig{Command: h.cfg.Service.Exec.Command, Dir: h.install, Env: h.cfg.Service.Exec.Env,
		PIDFile: filepath.Join(h.cfg.StateDir, "service.pid"), LogFile: filepath.Join(h.cfg.StateDir, "logs", "service.log")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.svc.Stop(context.Background()) })
	return h
}

// runOnce writes desired.yaml asking for version and runs `run --once`.
func (h *sandboxHost) runOnce(t *testing.T, version string) {
	t.Helper()
	if err := spec.Write(h.cfg.DesiredFile, spec.New(version)); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, "run", "--once", "--config", h.cfgPath); code != 0 {
		t.Fatalf("install %s: exit %d\n%s", version, code, out)
	}
}

// daemon is `better-paas-updater run` on a sandboxHost.
type daemon struct {
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan error
}

// startDaemon starts `run` and waits until it holds the lock; the daemon
// is killed at the end of the test if it still runs.
func (h *sandboxHost) startDaemon(t *testing.T) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(binary, "run", "--config", h.cfgPath), log: &lockedBuffer{}, exited: make(chan error, 1)}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
	})
	waitFor(t, "the daemon takes the lock", func() bool {
		b, _ := os.ReadFile(filepath.Join(h.cfg.StateDir, "lock"))
		return strings.Contains(string(b), "purpose: daemon")
	})
	return d
}

// stop sends SIGTERM, as `systemctl stop` does, and waits for a clean exit.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil || !strings.Contains(d.log.String(), "Stopped") {
			t.Errorf("daemon after SIGTERM: %v\n%s", err, d.log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon did not stop on SIGTERM\n%s", d.log.String())
	}
}

// lockedBuffer is a log the daemon writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
