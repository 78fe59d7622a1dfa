package reconciler_test

import (
	"os"
	"testing"

	"github.com/better-paas/updater/internal/sandbox"
)

// TestMain removes the better-paas-updater binaries the tests built.
func TestMain(m *testing.M) { os.Exit(sandbox.RunTests(m)) }
