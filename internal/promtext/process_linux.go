package promtext

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// userHZ is the unit of the times in /proc/<pid>/stat: the kernel's
// USER_HZ, 100 on every architecture Linux exposes to user space.
const userHZ = 100

// bootTime is when the system booted (btime of /proc/stat), read once.
var bootTime = sync.OnceValues(func() (time.Time, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			secs, err := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("cannot read btime of /proc/stat: %w", err)
			}
			return time.Unix(secs, 0), nil
		}
	}
	return time.Time{}, errors.New("cannot read btime of /proc/stat: no such line")
})

func writeProcess(w *Writer) error {
	var errs []error
	if stat, err := readStat(); err != nil {
		errs = append(errs, err)
	} else {
		w.Sample(processCPU, float64(stat.utime+stat.stime)/userHZ)
		w.Sample(processVirtual, float64(stat.vsize))
		w.Sample(processResident, float64(stat.rss)*float64(os.Getpagesize()))
		if boot, err := bootTime(); err != nil {
			errs = append(errs, err)
		} else {
			w.Sample(processStart, UnixSeconds(boot)+float64(stat.starttime)/userHZ)
		}
	}
	errs = append(errs, writeFDs(w, "/proc/self/fd"))
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &lim); err != nil {
		errs = append(errs, fmt.Errorf("cannot read RLIMIT_AS: %w", err))
	} else {
		w.Sample(processVirtualMax, float64(lim.Cur))
	}
	return errors.Join(errs...)
}

// procStat is what WriteProcess takes from /proc/self/stat.
type procStat struct {
	utime, stime, starttime uint64 // in 1/userHZ s
	vsize                   uint64 // bytes
	rss                     uint64 // pages
}

// readStat reads /proc/self/stat (proc(5)). The command name, field 2,
// is in parentheses and may hold spaces and parentheses itself, so the
// fields are counted from the last ')'.
func readStat() (procStat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("cannot read /proc/self/stat: no command name")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3, state
	const utime, stime, starttime, vsize, rss = 14, 15, 22, 23, 24
	if len(f) < rss-2 {
		return procStat{}, fmt.Errorf("cannot read /proc/self/stat: %d fields", len(f)+2)
	}
	var s procStat
	for _, x := range []struct {
		field int
		to    *uint64
	}{{utime, &s.utime}, {stime, &s.stime}, {starttime, &s.starttime}, {vsize, &s.vsize}, {rss, &s.rss}} {
		v, err := strconv.ParseUint(string(f[x.field-3]), 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("cannot read field %d of /proc/self/stat: %w", x.field, err)
		}
		*x.to = v
	}
	return s, nil
}
