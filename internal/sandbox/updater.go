package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// updaterModule is the package path of the updater's command.
const updaterModule = "github.com/better-paas/updater/cmd/better-paas-updater"

var (
	updaterBuilds sync.Map // version and build tags -> func() (string, error)

	updaterDirsMu sync.Mutex
	updaterDirs   []string // the folders of UpdaterBinary's builds
)

// UpdaterBinary builds better-paas-updater from the module the caller runs
// in (a test's working folder), with the build tags given (e.g.
// "faultinject", which makes the fault points live; without
// BETTER_PAAS_FAULTS such a build behaves as a normal one), once per
// process and set of tags, and returns the binary's path. The binary stays
// in a temporary folder until RemoveUpdaterBinaries: a test binary that
// calls UpdaterBinary has a TestMain that runs its tests with RunTests.
func UpdaterBinary(tags ...string) (string, error) {
	return VersionedUpdaterBinary("", tags...)
}

// VersionedUpdaterBinary is UpdaterBinary stamped with version as a
// release build is (-ldflags -X main.version=...); "" leaves the
// development default. Each version and set of tags is built once per
// process.
func VersionedUpdaterBinary(version string, tags ...string) (string, error) {
	key := strings.Join(tags, ",")
	build, _ := updaterBuilds.LoadOrStore(version+" "+key, sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", "better-paas-updater-bin")
		if err != nil {
			return "", err
		}
		updaterDirsMu.Lock()
		updaterDirs = append(updaterDirs, dir)
		updaterDirsMu.Unlock()
		bin := filepath.Join(dir, "better-paas-updater")
		args := []string{"build", "-tags", key, "-o", bin}
		if version != "" {
			args = append(args, "-ldflags", "-X main.version="+version)
		}
		out, err := exec.Command("go", append(args, updaterModule)...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("cannot build better-paas-updater (version %q, tags %q): %v\n%s", version, key, err, out)
		}
		return bin, nil
	}))
	return build.(func() (string, error))()
}

// RemoveUpdaterBinaries removes the folders of the binaries UpdaterBinary
// built and forgets them, so a later UpdaterBinary builds anew. It must not
// run beside a test that uses one of them.
func RemoveUpdaterBinaries() error {
	updaterDirsMu.Lock()
	defer updaterDirsMu.Unlock()
	updaterBuilds.Clear()
	var errs []error
	for _, dir := range updaterDirs {
		errs = append(errs, os.RemoveAll(dir))
	}
	updaterDirs = nil
	return errors.Join(errs...)
}

// RunTests runs a test binary's tests (m is its *testing.M), then removes
// the binaries UpdaterBinary built for them, which are about 20 MB each:
// a TestMain is os.Exit(sandbox.RunTests(m)). A folder that cannot be
// removed fails the run.
func RunTests(m interface{ Run() int }) int {
	code := m.Run()
	if err := RemoveUpdaterBinaries(); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox: cannot remove the updater binaries the tests built: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
