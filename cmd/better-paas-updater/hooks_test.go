package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHooksList runs the real binary on a hooks folder with scripts that
// run and files that are refused: the text lists the scripts by step in
// the order they run and each refused file with its reason; -o json says
// the same; a refused file makes the exit code 1, a clean folder 0.
func TestHooksList(t *testing.T) {
	cfg, _ := writeConfig(t)
	dir := filepath.Join(filepath.Dir(cfg), "state", "hooks")
	write := func(name string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(target, name string) {
		t.Helper()
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("Backup_Enter_10_dump", 0o755)
	write("Backup_Enter_05_first", 0o755)
	write("Health_Error_50_page", 0o755)
	write("lib/notify", 0o755)
	link("lib/notify", "Health_Leave_10_notify")
	write("README.md", 0o644)

	out, code := runCLI(t, "hooks", "list", "--config", cfg)
	if code != 0 {
		t.Fatalf("hooks list on a clean folder: exit %d\n%s", code, out)
	}
	t.Logf("hooks list:\n%s", out)
	order := []string{"Backup_Enter_05_first", "Backup_Enter_10_dump", "Health_Leave_10_notify -> ", "Health_Error_50_page"}
	last := -1
	for _, name := range order {
		i := strings.Index(out, name)
		if i < 0 || i < last {
			t.Errorf("%q missing or out of order in:\n%s", name, out)
		}
		last = i
	}
	if strings.Contains(out, "REFUSED") || strings.Contains(out, "README") {
		t.Errorf("a clean folder lists refusals or ignored files:\n%s", out)
	}

	unsafe := write("BuildBackend_Enter_20_writable", 0o775)
	other := write("Stop_Enter_10_someone-elses", 0o755)
	if err := os.Chown(other, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	link(write("../elsewhere.sh", 0o755), "Start_Leave_10_linked-out")
	write("Restart_Leave_00", 0o755) // no such step

	out, code = runCLI(t, "hooks", "list", "--config", cfg)
	t.Logf("hooks list:\n%s", out)
	if code != 1 {
		t.Errorf("hooks list with refused files: exit %d, want 1", code)
	}
	for _, want := range []string{"REFUSED", "Backup_Enter_10_dump",
		"chmod go-w " + unsafe, "not owned by root or the updater's user (uid 65534", "chown root " + other,
		"Start_Leave_10_linked-out", "leaves the hooks folder", "copy the script into the folder",
		`unknown state "Restart"`, "4 file(s) in " + dir + " refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	jsonOut, code := runCLI(t, "hooks", "list", "--config", cfg, "-o", "json")
	if code != 1 {
		t.Errorf("hooks list -o json with refused files: exit %d, want 1", code)
	}
	var l struct {
		HooksDir   string `json:"hooksDir"`
		Timeout    string `json:"timeout"`
		MaxRetries int    `json:"maxRetries"`
		Steps      []struct {
			Step  string `json:"step"`
			Enter []struct {
				Name  string `json:"name"`
				Order int    `json:"order"`
			} `json:"enter"`
			Leave []struct {
				Name   string `json:"name"`
				Target string `json:"target"`
			} `json:"leave"`
		} `json:"steps"`
		Refused []struct {
			Name   string `json:"name"`
			Reason string `json:"reason"`
		} `json:"refused"`
	}
	if err := json.Unmarshal([]byte(jsonOut), &l); err != nil {
		t.Fatalf("hooks list -o json: %v\n%s", err, jsonOut)
	}
	if l.HooksDir != dir || l.Timeout != "5m0s" || l.MaxRetries != 10 || len(l.Refused) != 4 {
		t.Errorf("listing = %+v", l)
	}
	for _, s := range l.Steps {
		switch s.Step {
		case "backup":
			if len(s.Enter) != 2 || s.Enter[0].Name != "Backup_Enter_05_first" || s.Enter[1].Order != 10 {
				t.Errorf("backup Enter = %+v", s.Enter)
			}
		case "health":
			if len(s.Leave) != 1 || !strings.HasSuffix(s.Leave[0].Target, "/lib/notify") {
				t.Errorf("health Leave = %+v", s.Leave)
			}
		}
	}
}
