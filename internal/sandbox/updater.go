package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// updaterModule is the package path of the updater's command.
const updaterModule = "github.com/better-paas/updater/cmd/better-paas-updater"

var updaterBuilds sync.Map // build tags -> func() (string, error)

// UpdaterBinary builds better-paas-updater from the module the caller runs
// in (a test's working folder), with the build tags given (e.g.
// "faultinject", which makes the fault points live; without
// BETTER_PAAS_FAULTS such a build behaves as a normal one), once per
// process and set of tags, and returns the binary's path. The binary is left
// in a temporary folder for the rest of the process.
func UpdaterBinary(tags ...string) (string, error) {
	key := strings.Join(tags, ",")
	build, _ := updaterBuilds.LoadOrStore(key, sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", "better-paas-updater-bin")
		if err != nil {
			return "", err
		}
		bin := filepath.Join(dir, "better-paas-updater")
		out, err := exec.Command("go", "build", "-tags", key, "-o", bin, updaterModule).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("cannot build better-paas-updater (tags %q): %v\n%s", key, err, out)
		}
		return bin, nil
	}))
	return build.(func() (string, error))()
}
