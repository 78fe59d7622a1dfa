package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// TestRestoreIsCarriedOutByTheRunningDaemon: `backups restore` while the
// daemon runs (the usual case on a host) is handed to the daemon, which
// holds the lock, instead of being refused with "stop it or wait"; a
// backup that has only its hot pass needs --force.
func TestRestoreIsCarriedOutByTheRunningDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a real daemon and real builds; run make test")
	}
	dir := t.TempDir()
	ctx := context.Background()
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(dir, "origin.git"), sandbox.DefaultReleases())
	if err != nil {
		t.Fatal(err)
	}
	install := filepath.Join(dir, "install")
	if err := sandbox.Clone(ctx, origin, install, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(install, "data", "notes.txt")
	writeFile(t, notes, "keep me\n")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	raw, err := sandbox.ConfigWith(dir, install, port, sandbox.Options{
		Timings:     sandbox.Timings{Interval: 100 * time.Millisecond, Deadline: 10 * time.Second, SuccessThreshold: 2},
		ShareBuilds: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "updater.yaml")
	writeFile(t, cfgPath, string(raw))
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.NewExec(service.ExecConfig{Command: cfg.Service.Exec.Command, Dir: install, Env: cfg.Service.Exec.Env,
		PIDFile: filepath.Join(cfg.StateDir, "service.pid"), LogFile: filepath.Join(cfg.StateDir, "logs", "service.log")})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Stop(ctx)
	if err := spec.Write(cfg.DesiredFile, spec.New("v1.0.0")); err != nil {
		t.Fatal(err)
	}
	if out, code := runCLI(t, "run", "--once", "--config", cfgPath); code != 0 {
		t.Fatalf("install: %d\n%s", code, out)
	}
	list, err := backup.List(cfg.BackupDir)
	if err != nil || len(list) != 1 || list[0].FinishedAt.IsZero() {
		t.Fatalf("backups after the install: %+v %v", list, err)
	}
	consistent := list[0].ID
	// A backup whose update never reached its cold pass.
	if _, err := backup.Create(ctx, cfg.DataDir, cfg.BackupDir, "20261130T000000Z-hot-only"); err != nil {
		t.Fatal(err)
	}

	daemon := exec.Command(binary, "run", "--config", cfgPath)
	var log strings.Builder
	daemon.Stdout, daemon.Stderr = &log, &log
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- daemon.Wait() }()
	defer func() {
		if daemon.ProcessState == nil {
			_ = daemon.Process.Kill()
			<-exited
		}
	}()
	waitFor(t, "the daemon takes the lock", func() bool {
		b, _ := os.ReadFile(filepath.Join(cfg.StateDir, "lock"))
		return strings.Contains(string(b), "purpose: daemon")
	})

	// A user deletes data by mistake and restores the backup from a shell.
	if err := os.Remove(notes); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "backups", "restore", consistent, "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "asked the running daemon (pid") || !strings.Contains(out, "restored backup "+consistent) {
		t.Fatalf("restore while the daemon runs: exit %d\n%s\ndaemon:\n%s", code, out, log.String())
	}
	if b, err := os.ReadFile(notes); err != nil || string(b) != "keep me\n" {
		t.Errorf("data/notes.txt after the restore: %q %v", b, err)
	}
	st, err := status.Load(filepath.Join(cfg.StateDir, "status.yaml"))
	if err != nil || st.Restore == nil || st.Restore.Phase != status.RestoreSucceeded || st.Restore.Backup != consistent {
		t.Errorf("status.restore = %+v, %v", st.Restore, err)
	}
	if _, err := os.Stat(filepath.Join(cfg.StateDir, "restore-request.yaml")); !os.IsNotExist(err) {
		t.Errorf("the request was left behind: %v", err)
	}
	if st, _ := svc.Status(ctx); !st.Running {
		t.Error("the app is not running after the restore")
	}

	// A hot-pass-only backup is refused without --force, and nothing changes.
	writeFile(t, filepath.Join(install, "data", "after.txt"), "new\n")
	out, code = runCLI(t, "backups", "restore", "20261130T000000Z-hot-only", "--config", cfgPath)
	if code != 1 || !strings.Contains(out, "--force") {
		t.Errorf("hot-pass-only restore without --force: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(install, "data", "after.txt")); err != nil {
		t.Errorf("a refused restore changed data/: %v", err)
	}
	out, code = runCLI(t, "backups", "restore", "20261130T000000Z-hot-only", "--force", "--config", cfgPath)
	if code != 0 {
		t.Errorf("hot-pass-only restore with --force: exit %d\n%s", code, out)
	}

	// systemctl stop: SIGTERM, a clean exit that says so.
	if err := daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil || !strings.Contains(log.String(), "Stopped") {
			t.Errorf("daemon after SIGTERM: %v\n%s", err, log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon did not stop on SIGTERM\n%s", log.String())
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond (a file the daemon writes) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out waiting until %s", what)
		case <-tick.C:
		}
	}
}
