package promtext

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func writeProcess(w *Writer) error {
	var errs []error
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		errs = append(errs, fmt.Errorf("cannot read the CPU time: %w", err))
	} else {
		w.Sample(processCPU, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()).Seconds())
	}
	errs = append(errs, writeFDs(w, "/dev/fd"))
	if k, err := unix.SysctlKinfoProc("kern.proc.pid", os.Getpid()); err != nil {
		errs = append(errs, fmt.Errorf("cannot read the start time: %w", err))
	} else {
		w.Sample(processStart, UnixSeconds(time.Unix(k.Proc.P_starttime.Unix())))
	}
	return errors.Join(errs...)
}
