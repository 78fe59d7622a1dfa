package service

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// procInfo is what the supervisor needs from /proc/<pid>/stat.
type procInfo struct {
	state   byte   // field 3: R, S, D, Z, X, ...
	pgrp    int    // field 5
	session int    // field 6
	start   uint64 // field 22: start time in clock ticks after boot
}

// dead reports whether the process has exited, even if its parent has not
// reaped it yet.
func (p procInfo) dead() bool { return p.state == 'Z' || p.state == 'X' }

// errNoProcess is returned by readProc when pid does not exist.
var errNoProcess = errors.New("no such process")

// readProc reads /proc/<pid>/stat. It returns an error wrapping
// errNoProcess when pid does not exist.
func readProc(pid int) (procInfo, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return procInfo{}, fmt.Errorf("cannot read %s: %w", path, errNoProcess)
	}
	if err != nil {
		return procInfo{}, fmt.Errorf("cannot read %s: %w", path, err)
	}
	info, ok := parseStat(data)
	if !ok {
		return procInfo{}, fmt.Errorf("cannot parse %s: unexpected format %q", path, data)
	}
	return info, nil
}

// parseStat parses the content of /proc/<pid>/stat. The command name
// (field 2) may hold spaces and parentheses, so fields are counted from
// the last ')'.
func parseStat(data []byte) (procInfo, bool) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procInfo{}, false
	}
	f := bytes.Fields(data[i+1:]) // f[0] is field 3
	if len(f) < 20 || len(f[0]) != 1 {
		return procInfo{}, false
	}
	pgrp, err1 := strconv.Atoi(string(f[2]))
	session, err2 := strconv.Atoi(string(f[3]))
	start, err3 := strconv.ParseUint(string(f[19]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procInfo{}, false
	}
	return procInfo{state: f[0][0], pgrp: pgrp, session: session, start: start}, true
}

// groupAlive reports whether any process of group pgid is alive. Zombies
// do not count: they hold nothing and wait only to be reaped, often by an
// init that takes its time.
func groupAlive(pgid int) bool {
	if err := unix.Kill(-pgid, 0); errors.Is(err, unix.ESRCH) {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell; assume the worst
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, err := readProc(pid); err == nil && p.pgrp == pgid && !p.dead() {
			return true
		}
	}
	return false
}
