package reconciler

import "github.com/better-paas/updater/internal/config"

// updateSteps is the one registration table of an update, in the order the
// steps run. Undo runs in reverse, so recover, which is first, is undone
// last: after every other step has put its files back, it brings the
// previous version up again and verifies that it is healthy.
func updateSteps(h *Host) []Step {
	prebuilt := h.Config.IsPrebuilt()
	steps := []Step{recoverStep{h}}
	if prebuilt {
		// The verified assets are staged first, so a release whose files
		// are refused changes nothing on the host.
		steps = append(steps, downloadStep{h})
	}
	steps = append(steps, backupStep{h}, fetchStep{h}, checkoutStep{h})
	if !prebuilt {
		steps = append(steps, newBuildStep(h, "build-backend", h.Config.Build.Backend))
		if h.Config.Build.Frontend.Enabled() {
			steps = append(steps, newBuildStep(h, "build-frontend", h.Config.Build.Frontend))
		}
	}
	return append(steps,
		stopStep{h},
		coldBackupStep{h},
		swapStep{h},
		startStep{h},
		healthStep{h},
	)
}

// StepNames lists the steps an update runs with config c, in order; hook
// scripts are named after them.
func StepNames(c *config.Config) []string {
	var names []string
	for _, s := range updateSteps(&Host{Config: c}) {
		names = append(names, s.Name())
	}
	return names
}
