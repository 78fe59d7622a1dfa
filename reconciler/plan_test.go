package reconciler_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/better-paas/updater/reconciler"
)

// exactTree is snapshot with every entry's modification time: a file
// rewritten with the same bytes counts as changed. A missing root is empty.
func exactTree(t *testing.T, root string) map[string]string {
	t.Helper()
	if _, err := os.Lstat(root); os.IsNotExist(err) {
		return map[string]string{}
	}
	out := snapshot(t, root)
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := e.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if !e.IsDir() { // a folder's mtime moves when a reader's temp file comes and goes elsewhere; its entries are compared
			out[rel] += " mtime:" + info.ModTime().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPlanChangesNothing: on a real host running v1.0.0 with v1.1.0
// desired, Plan says UpdatePending, Update, the target and its commit and
// the update's steps, and the install tree (.git, data/ and the build
// outputs included), desired.yaml, status.yaml, the state folder (release
// cache, logs, pidfile) and the backups are exactly as before, down to
// the modification times.
func TestPlanChangesNothing(t *testing.T) {
	h := newHost(t)
	h.set("v1.0.0")
	if st := h.converge(); st.CurrentVersion != "v1.0.0" {
		t.Fatalf("not on v1.0.0: %+v", st)
	}
	h.set("v1.1.0")
	trees := map[string]string{"install": h.cfg.InstallDir, "state": h.cfg.StateDir, "backups": h.cfg.BackupDir, "desired.yaml": h.cfg.DesiredFile}
	before := map[string]map[string]string{}
	for name, root := range trees {
		before[name] = exactTree(t, root)
	}
	pid := h.pid()
	h.events = nil

	p, err := h.r.Plan(h.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.State != reconciler.StateUpdatePending || p.Action != "Update" || p.Reason != "" ||
		p.TargetVersion != "v1.1.0" || p.TargetCommit != h.tagCommit("v1.1.0") ||
		p.CurrentVersion != "v1.0.0" || p.CurrentCommit != h.tagCommit("v1.0.0") ||
		!slices.Equal(p.Steps, reconciler.StepNames(h.cfg)) || p.Backup == nil || p.Backup.Base == "" {
		t.Errorf("plan = %+v", p)
	}
	if p.RollbackTarget != "" || p.RollbackError == "" {
		t.Errorf("one version ever ran here, yet the plan offers a rollback: %+v", p)
	}
	for name, root := range trees {
		after := exactTree(t, root)
		for path, sum := range before[name] {
			if after[path] != sum {
				t.Errorf("%s: %s changed or vanished (%q -> %q)", name, path, sum, after[path])
			}
		}
		for path := range after {
			if _, ok := before[name][path]; !ok {
				t.Errorf("%s: %s was added", name, path)
			}
		}
	}
	if h.pid() != pid {
		t.Errorf("the service was restarted")
	}
	if len(h.events) != 0 {
		t.Errorf("steps ran: %v", h.events)
	}
}
