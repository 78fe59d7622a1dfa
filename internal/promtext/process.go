package promtext

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// The process's metrics, under the names the Prometheus client library
// gives them.
var (
	processCPU        = NewDesc("process_cpu_seconds_total", "User and system CPU time the process spent, in seconds.", Counter)
	processOpenFDs    = NewDesc("process_open_fds", "File descriptors the process has open.", Gauge)
	processMaxFDs     = NewDesc("process_max_fds", "The most file descriptors the process may open (RLIMIT_NOFILE).", Gauge)
	processVirtual    = NewDesc("process_virtual_memory_bytes", "Virtual memory size of the process, in bytes.", Gauge)
	processVirtualMax = NewDesc("process_virtual_memory_max_bytes", "The most virtual memory the process may map (RLIMIT_AS), in bytes.", Gauge)
	processResident   = NewDesc("process_resident_memory_bytes", "Resident memory of the process (RSS), in bytes.", Gauge)
	processStart      = NewDesc("process_start_time_seconds", "When the process started, in seconds since the epoch.", Gauge)
)

// WriteProcess writes the metrics of this process that the system tells:
// on Linux all of the above, from /proc/self; on macOS the CPU time, the
// file descriptors and the start time. What cannot be read is
// left out, and the first such error returned.
func WriteProcess(w *Writer) error {
	return writeProcess(w)
}

// writeFDs writes how many file descriptors are open (the entries of dir:
// /proc/self/fd, /dev/fd) and how many may be.
func writeFDs(w *Writer, dir string) error {
	var errs []error
	if n, err := countFDs(dir); err != nil {
		errs = append(errs, err)
	} else {
		w.Sample(processOpenFDs, float64(n))
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		errs = append(errs, fmt.Errorf("cannot read RLIMIT_NOFILE: %w", err))
	} else {
		w.Sample(processMaxFDs, float64(lim.Cur))
	}
	return errors.Join(errs...)
}

// countFDs counts the entries of dir, less the descriptor this count
// reads the folder through.
func countFDs(dir string) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("cannot count open file descriptors: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("cannot count open file descriptors: %w", err)
	}
	return len(names) - 1, nil
}
