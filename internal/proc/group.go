package proc

import (
	"context"
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// PollInterval is how often PollUntil and WaitGroupGone look again.
// Processes that are not our children cannot be waited for, so polling is
// the only way to see them go.
const PollInterval = 10 * time.Millisecond

// GroupAlive reports whether any process of group pgid is alive. Zombies
// do not count. When /proc cannot be listed it answers true: callers use
// it to decide whether to keep waiting or signal, and assuming the worst
// is the safe side.
func GroupAlive(pgid int) bool {
	if err := unix.Kill(-pgid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	// kill(2) also succeeds for a group of zombies, so look at each
	// process.
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell; assume the worst
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := ReadStat(pid); err == nil && st.PGRP == pgid && !st.Dead() {
			return true
		}
	}
	return false
}

// SignalGroup sends sig to every process in group pgid. A group that is
// already empty is not an error, so it can be called again safely. Any
// other error comes from kill(2), typically EPERM when a member changed
// its credentials (a setuid program).
func SignalGroup(pgid int, sig unix.Signal) error {
	if err := unix.Kill(-pgid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return err
	}
	return nil
}

// PollUntil calls done right away and then every PollInterval until it
// returns true (true, nil), it fails (false, its error), timeout passes
// (false, nil) or ctx ends (false, ctx.Err()). done is always called at
// least once, so an already-met condition wins over an ended ctx.
func PollUntil(ctx context.Context, timeout time.Duration, done func() (bool, error)) (bool, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		ok, err := done()
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-timer.C:
			return false, nil
		case <-tick.C:
		}
	}
}

// WaitGroupGone polls until group pgid has no live process (true, nil),
// timeout passes (false, nil) or ctx ends (false, ctx.Err()). It signals
// nothing.
func WaitGroupGone(ctx context.Context, pgid int, timeout time.Duration) (bool, error) {
	return PollUntil(ctx, timeout, func() (bool, error) { return !GroupAlive(pgid), nil })
}
