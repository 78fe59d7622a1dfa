package reconciler

import "context"

// exitReporter is a service manager that reports the app's exits as they
// happen (service.Exec's Exits).
type exitReporter interface {
	Exits(ctx context.Context) <-chan struct{}
}

// ServiceExits returns a channel that receives a value soon after the app
// stops running, until ctx ends, for Loop.Wake: the next reconcile finds
// the service down and starts it again (and counts it in status.yaml's
// serviceRestarts), as systemd's Restart=on-failure would, instead of at
// the next resync. It is nil when the service manager cannot report
// exits; a nil Wake never fires.
func (r *Reconciler) ServiceExits(ctx context.Context) <-chan struct{} {
	if e, ok := r.svc.(exitReporter); ok {
		return e.Exits(ctx)
	}
	return nil
}
