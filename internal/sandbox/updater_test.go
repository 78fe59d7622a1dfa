package sandbox

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRemoveUpdaterBinariesLeavesNoFolder: every make test used to leave
// about 200 MB of updater binaries in the temporary folder, one per test
// binary and set of tags. RemoveUpdaterBinaries removes each folder
// UpdaterBinary made, and a later UpdaterBinary builds anew instead of
// returning a path that no longer exists.
func TestRemoveUpdaterBinariesLeavesNoFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("builds better-paas-updater; run make test")
	}
	first, err := UpdaterBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(first); err != nil {
		t.Fatal(err)
	}
	if err := RemoveUpdaterBinaries(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(first)); !os.IsNotExist(err) {
		t.Fatalf("%s is still there after RemoveUpdaterBinaries (%v)", filepath.Dir(first), err)
	}
	second, err := UpdaterBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(second); err != nil {
		t.Fatalf("UpdaterBinary after RemoveUpdaterBinaries: %v", err)
	}
	if code := RunTests(runNothing{}); code != 0 {
		t.Errorf("RunTests = %d, want the tests' own 0", code)
	}
	if _, err := os.Stat(filepath.Dir(second)); !os.IsNotExist(err) {
		t.Fatalf("%s is still there after RunTests (%v)", filepath.Dir(second), err)
	}
}

// runNothing stands for a *testing.M whose tests pass.
type runNothing struct{}

func (runNothing) Run() int { return 0 }
