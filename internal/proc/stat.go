package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ErrNoProcess is wrapped by ReadStat's error when the process does not
// exist (never did, or has been reaped).
var ErrNoProcess = errors.New("no such process")

// Stat is what the project needs from /proc/<pid>/stat (see proc(5)).
type Stat struct {
	// State is field 3: 'R' running, 'S' sleeping, 'D' disk sleep,
	// 'Z' zombie, 'X' dead, and so on.
	State byte
	// PGRP is field 5, the process group id.
	PGRP int
	// Session is field 6, the session id.
	Session int
	// StartTime is field 22, the start time in clock ticks after boot.
	// Together with the pid it names one process for the lifetime of the
	// machine, since a pid alone can be reused.
	StartTime uint64
}

// Dead reports whether the process has exited, even if its parent has not
// reaped it yet.
func (s Stat) Dead() bool { return s.State == 'Z' || s.State == 'X' }

// ReadStat reads /proc/<pid>/stat. A zombie is returned like any other
// process (check Dead). Errors: one wrapping ErrNoProcess when pid does
// not exist; otherwise /proc could not be read or held an unexpected
// format, and the message names the file.
func ReadStat(pid int) (Stat, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/stat"
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return Stat{}, fmt.Errorf("cannot read %s: %w", path, ErrNoProcess)
	}
	if err != nil {
		return Stat{}, fmt.Errorf("cannot read %s: %w", path, err)
	}
	st, ok := parseStat(data)
	if !ok {
		return Stat{}, fmt.Errorf("cannot parse %s: unexpected format %q", path, data)
	}
	return st, nil
}

// parseStat parses the content of /proc/<pid>/stat. The command name
// (field 2) may hold spaces and parentheses, so fields are counted from
// the last ')'.
func parseStat(data []byte) (Stat, bool) {
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return Stat{}, false
	}
	f := bytes.Fields(data[i+1:]) // f[0] is field 3
	if len(f) < 20 || len(f[0]) != 1 {
		return Stat{}, false
	}
	pgrp, err1 := strconv.Atoi(string(f[2]))
	session, err2 := strconv.Atoi(string(f[3]))
	start, err3 := strconv.ParseUint(string(f[19]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return Stat{}, false
	}
	return Stat{State: f[0][0], PGRP: pgrp, Session: session, StartTime: start}, true
}
