package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/status"
)

// TestRestoreIsCarriedOutByTheRunningDaemon: `backups restore` while the
// daemon runs (the usual case on a host) is handed to the daemon, which
// holds the lock, instead of being refused with "stop it or wait"; a
// backup that has only its hot pass needs --force.
func TestRestoreIsCarriedOutByTheRunningDaemon(t *testing.T) {
	h := newSandboxHost(t)
	ctx := context.Background()
	cfg, cfgPath, svc := h.cfg, h.cfgPath, h.svc
	notes := filepath.Join(h.install, "data", "notes.txt")
	writeFile(t, notes, "keep me\n")
	h.runOnce(t, "v1.0.0")
	list, err := backup.List(cfg.BackupDir)
	if err != nil || len(list) != 1 || list[0].FinishedAt.IsZero() {
		t.Fatalf("backups after the install: %+v %v", list, err)
	}
	consistent := list[0].ID
	// A backup whose update never reached its cold pass.
	if _, err := backup.Create(ctx, cfg.DataDir, cfg.BackupDir, "20261130T000000Z-hot-only"); err != nil {
		t.Fatal(err)
	}
	d := h.startDaemon(t)

	// A user deletes data by mistake and restores the backup from a shell.
	if err := os.Remove(notes); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, "backups", "restore", consistent, "--config", cfgPath)
	if code != 0 || !strings.Contains(out, "asked the running daemon (pid") || !strings.Contains(out, "restored backup "+consistent) {
		t.Fatalf("restore while the daemon runs: exit %d\n%s\ndaemon:\n%s", code, out, d.log.String())
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
	writeFile(t, filepath.Join(h.install, "data", "after.txt"), "new\n")
	out, code = runCLI(t, "backups", "restore", "20261130T000000Z-hot-only", "--config", cfgPath)
	if code != 1 || !strings.Contains(out, "--force") {
		t.Errorf("hot-pass-only restore without --force: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(h.install, "data", "after.txt")); err != nil {
		t.Errorf("a refused restore changed data/: %v", err)
	}
	out, code = runCLI(t, "backups", "restore", "20261130T000000Z-hot-only", "--force", "--config", cfgPath)
	if code != 0 {
		t.Errorf("hot-pass-only restore with --force: exit %d\n%s", code, out)
	}

	// systemctl stop: SIGTERM, a clean exit that says so.
	d.stop(t)
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
