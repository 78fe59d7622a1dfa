package layout

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/better-paas/updater/internal/config"
)

func TestCreateMakesTheFoldersWithTheirModes(t *testing.T) {
	root := t.TempDir()
	c := &config.Config{StateDir: filepath.Join(root, "state"), BackupDir: filepath.Join(root, "backups")}
	l := New(c)
	for range 2 { // idempotent
		if err := l.Create(); err != nil {
			t.Fatal(err)
		}
	}
	for path, want := range map[string]os.FileMode{l.StateDir: 0o750, l.Logs: 0o750, l.Backups: 0o700} {
		fi, err := os.Stat(path)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want a folder with mode %v", path, fi, err, want)
		}
	}
	if l.Status != filepath.Join(c.StateDir, "status.yaml") || filepath.Dir(l.ServiceLog) != l.Logs || l.BuildLog("build-backend") != filepath.Join(l.Logs, "build-backend.log") ||
		l.APIToken != filepath.Join(c.StateDir, "api-token") {
		t.Errorf("layout = %+v", l)
	}
	// A folder that exists keeps the mode its administrator chose.
	if err := os.Chmod(l.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := l.Create(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(l.StateDir); fi.Mode().Perm() != 0o755 {
		t.Errorf("an existing folder's mode was changed to %v", fi.Mode().Perm())
	}
}
