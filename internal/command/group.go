package command

import (
	"context"
	"time"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/proc"
)

// stopGroup stops whatever is left of group pgid: SIGTERM, up to grace for
// it to exit, then SIGKILL and up to grace for the kernel to finish it.
// It runs after the caller's context has ended, so it waits on its own
// grace only. A signal that fails (EPERM from a member that changed its
// credentials) leaves nothing more to do here.
func stopGroup(pgid int, grace time.Duration) {
	if !proc.GroupAlive(pgid) {
		return
	}
	_ = proc.SignalGroup(pgid, unix.SIGTERM)
	if gone, _ := proc.WaitGroupGone(context.Background(), pgid, grace); gone {
		return
	}
	_ = proc.SignalGroup(pgid, unix.SIGKILL)
	_, _ = proc.WaitGroupGone(context.Background(), pgid, grace)
}
