package service

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/better-paas/updater/internal/atomicfile"
)

// ErrPIDFileCorrupt means the pidfile exists but does not hold the two
// lines Exec writes. Exec then refuses to start or stop anything, because
// a backend of unknown origin may be running: a human must look, and
// remove the file if no backend runs.
var ErrPIDFileCorrupt = errors.New("pidfile is corrupt")

// pidRecord identifies one process for the lifetime of the machine: a pid
// can be reused, a pid together with its start time cannot.
type pidRecord struct {
	pid   int
	start uint64 // clock ticks after boot, field 22 of /proc/<pid>/stat
}

// The pidfile holds the pid on the first line, so tools that read a plain
// pidfile (`kill $(head -n1 file)`) still work, and the start time on the
// second.
func (r pidRecord) encode() []byte {
	return []byte(strconv.Itoa(r.pid) + "\n" + strconv.FormatUint(r.start, 10) + "\n")
}

// readPIDFile reads path. A missing file gives an error wrapping
// fs.ErrNotExist; content in another format wraps ErrPIDFileCorrupt.
func readPIDFile(path string) (pidRecord, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return pidRecord{}, fmt.Errorf("cannot read pidfile: %w", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var r pidRecord
	ok := len(lines) == 2
	if ok {
		var err1, err2 error
		r.pid, err1 = strconv.Atoi(lines[0])
		r.start, err2 = strconv.ParseUint(lines[1], 10, 64)
		ok = err1 == nil && err2 == nil && r.pid > 0
	}
	if !ok {
		return pidRecord{}, fmt.Errorf("cannot read pidfile %s: %w: want the pid and its start time on two lines; "+
			"check whether a backend runs, stop it by hand if so, then remove the file", path, ErrPIDFileCorrupt)
	}
	return r, nil
}

// writePIDFile replaces path atomically, so a crash leaves either no
// record or a whole one.
func writePIDFile(path string, r pidRecord) error {
	if err := atomicfile.WriteFile(path, r.encode(), 0o644); err != nil {
		return fmt.Errorf("cannot write pidfile: %w", err)
	}
	return nil
}

// removePIDFile removes path durably; a missing file is not an error.
func removePIDFile(path string) error {
	if err := os.Remove(path); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("cannot remove pidfile: %w", err)
	}
	return atomicfile.SyncDir(filepath.Dir(path))
}
