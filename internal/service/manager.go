package service

import "context"

// State is what a Manager observes about the backend.
type State struct {
	// Running is true when the backend process is alive.
	Running bool
	// PID is the backend's process id when Running, else 0.
	PID int
	// Adopted is true when the running backend was not started by this
	// Manager value, typically by an earlier run of the daemon.
	Adopted bool
}

// Manager starts, stops and observes the backend. All methods are safe for
// concurrent use and idempotent, so the reconciler can call them again
// after a crash without first finding out what already happened.
type Manager interface {
	// Start starts the backend unless it already runs, in which case it
	// returns nil and starts no second process.
	Start(ctx context.Context) error
	// Stop stops the backend and returns once it is gone; it returns nil
	// when nothing runs. It asks politely first (SIGTERM) and forces
	// (SIGKILL) after the configured stop timeout.
	Stop(ctx context.Context) error
	// Status reports whether the backend runs. It changes nothing, except
	// for removing a stale pidfile.
	Status(ctx context.Context) (State, error)
}
