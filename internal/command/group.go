package command

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// pollInterval is how often Run checks whether a signalled process group
// is empty. Processes that are not our children cannot be waited for, so
// polling is the only portable way.
const pollInterval = 10 * time.Millisecond

// signalGroup sends sig to every process in the group pgid. A group that
// is already empty is not an error.
func signalGroup(pgid int, sig unix.Signal) {
	if err := unix.Kill(-pgid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		// EPERM can only happen if a member changed its credentials
		// (setuid program); nothing more can be done about it here.
		return
	}
}

// groupAlive reports whether any process of group pgid is still running.
// Zombies do not count: they have released everything (including the
// output pipe) and only wait for their parent, often init, to reap them.
func groupAlive(pgid int) bool {
	if err := unix.Kill(-pgid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	// kill(2) also succeeds for zombies, so look at each process.
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell; assume the worst
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pgrp, ok := procState(pid)
		if ok && pgrp == pgid && state != 'Z' && state != 'X' {
			return true
		}
	}
	return false
}

// procState reads the state (field 3) and process group (field 5) of pid
// from /proc/<pid>/stat.
func procState(pid int) (state byte, pgrp int, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name (field 2) may contain spaces and parentheses, so
	// fields are counted from the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := bytes.Fields(data[i+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pgrp, err = strconv.Atoi(string(f[2]))
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], pgrp, true
}

// waitGroupGone polls until group pgid has no running process or d has
// passed, and reports whether the group is gone.
func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !groupAlive(pgid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
}

// stopGroup stops whatever is left of group pgid: SIGTERM, up to grace for
// it to exit, then SIGKILL and up to grace for the kernel to finish it.
func stopGroup(pgid int, grace time.Duration) {
	if !groupAlive(pgid) {
		return
	}
	signalGroup(pgid, unix.SIGTERM)
	if waitGroupGone(pgid, grace) {
		return
	}
	signalGroup(pgid, unix.SIGKILL)
	waitGroupGone(pgid, grace)
}
