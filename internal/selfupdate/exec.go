package selfupdate

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Restart asks the daemon to stop its loop and run another updater binary
// in place of itself: the new one on trial, or the old one after a failed
// trial. It is an error so it can travel up as one (the run command
// returns it from the loop and carries it out after its deferred
// clean-ups); errors.As finds it.
type Restart struct {
	// Path is the binary to run; From and To the versions, for messages.
	Path     string
	From, To string
}

func (r *Restart) Error() string {
	return fmt.Sprintf("restarting as updater %s (%s) in place of %s", r.To, r.Path, r.From)
}

// AsRestart returns the Restart in err's chain, if any.
func AsRestart(err error) (*Restart, bool) {
	var r *Restart
	ok := errors.As(err, &r)
	return r, ok
}

// Exec replaces the process with r.Path, with the same arguments and
// environment: the same PID, so a systemd Type=notify unit and the lock
// file's pid stay right. It returns only on failure. Every file the
// process opened is close-on-exec (Go's default), so the state folder's
// lock is released with them; the caller releases it before anyway.
func (r *Restart) Exec() error {
	if err := syscall.Exec(r.Path, os.Args, os.Environ()); err != nil {
		return fmt.Errorf("cannot run updater %s (%s): %w", r.To, r.Path, err)
	}
	return nil
}
