package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/status"
)

// ErrNotConverged is returned by RunOnce when the host ended neither Ready
// nor Stalled: errors kept coming until the attempts ran out.
var ErrNotConverged = errors.New("host did not converge")

// RunOnce reconciles until the host is Ready or Stalled (as status.yaml
// says), or a policy of desired.yaml holds its update back (status.Policy
// set: Held, WindowClosed, SoakPending, RolloutPaused; an answer too, with
// the time it ends, not a wait for it), and returns the final status.
// Errors are retried with backoff from minBackoff, at most maxFailures
// times in a row. A hook that asks to wait (exit 21) is an answer, not a
// failure: the *HeldError is returned at once, the operation journaled at
// its step for the next run. A cancelled ctx returns an error wrapping
// ErrInterrupted (with the status as it was left).
func RunOnce(ctx context.Context, r *Reconciler, maxFailures int, minBackoff time.Duration) (*status.VersionStatus, error) {
	log := logr.FromContextOrDiscard(ctx)
	failures := 0
	delay := minBackoff
	for {
		res, err := r.Reconcile(ctx)
		if ctx.Err() != nil {
			st, _ := r.Status()
			if !errors.Is(err, ErrInterrupted) {
				err = fmt.Errorf("%w (%v)", ErrInterrupted, context.Cause(ctx))
			}
			return st, err
		}
		st, serr := r.Status()
		if serr != nil {
			return nil, serr
		}
		var held *HeldError
		switch {
		case errors.As(err, &held):
			return st, err
		case err != nil:
			failures++
			if failures >= maxFailures {
				return st, fmt.Errorf("%w after %d attempts: %w", ErrNotConverged, failures, err)
			}
			log.Error(err, "Reconcile failed; retrying", "retryInMs", delay.Milliseconds())
			select {
			case <-ctx.Done():
				return st, ctx.Err()
			case <-time.After(delay):
			}
			delay *= 2
			continue
		case res.Requeue:
			continue
		case st.IsTrue(status.TypeReady), st.IsTrue(status.TypeStalled), st.Policy != nil:
			return st, nil
		}
		return st, fmt.Errorf("%w: neither Ready nor Stalled nor held back by policy", ErrNotConverged)
	}
}
