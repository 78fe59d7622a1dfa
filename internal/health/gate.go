package health

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Gate waits for the app to become healthy after a restart. The zero
// values of the duration and threshold fields mean their defaults. A Gate
// holds no state between calls; Wait can be called again.
type Gate struct {
	// URL is the health endpoint, e.g. http://127.0.0.1:8080/api/health.
	URL string
	// ExpectVersion, when set, must equal the version in the answer
	// exactly (the caller normalises both sides) whenever the answer
	// reports one; an app whose health endpoint reports no version is
	// judged by its status code alone. "" skips the check.
	ExpectVersion string
	// ProbeTimeout bounds one probe (default 2s).
	ProbeTimeout time.Duration
	// Deadline bounds the whole wait (default 60s).
	Deadline time.Duration
	// Interval is the largest spacing between probes (default 1s).
	Interval time.Duration
	// SuccessThreshold is how many passing probes in a row are needed
	// (default 3).
	SuccessThreshold int
	// Alive, if set, is asked before every probe whether the app's
	// process still runs; false ends the wait at once with
	// ErrProcessExited. Its errors do not end the wait (a passing probe
	// still counts) but are reported if the wait fails.
	Alive func(ctx context.Context) (bool, error)
}

func (g Gate) withDefaults() Gate {
	if g.ProbeTimeout <= 0 {
		g.ProbeTimeout = DefaultProbeTimeout
	}
	if g.Deadline <= 0 {
		g.Deadline = DefaultDeadline
	}
	if g.Interval <= 0 {
		g.Interval = DefaultInterval
	}
	if g.SuccessThreshold <= 0 {
		g.SuccessThreshold = DefaultSuccessThreshold
	}
	return g
}

// Wait probes URL until SuccessThreshold consecutive probes pass, and
// returns the last Observation. A probe passes when the answer is 2xx and,
// if ExpectVersion is set and the answer reports a version, that version.
//
// Errors, each prefixed "cannot get a healthy answer from <url>":
//   - ErrUnhealthy: Deadline passed; the last probe failed, and the
//     message says how (refused, timeout, HTTP status and body excerpt).
//   - ErrVersionMismatch: Deadline passed; the last answer was 2xx with
//     another version, typically the old process still answering.
//     The message names the wanted and the received version.
//   - ErrProcessExited: Alive reported the process gone.
//   - ctx's error: the caller cancelled, or its own deadline passed.
//   - ErrInvalidURL.
//
// On error the Observation is the last answer seen, if any.
func (g Gate) Wait(ctx context.Context) (Observation, error) {
	g = g.withDefaults()
	u, err := checkURL(g.URL)
	if err != nil {
		return Observation{}, err
	}
	name := u.Redacted()
	gctx, cancel := context.WithTimeout(ctx, g.Deadline)
	defer cancel()

	var (
		last      Observation
		lastErr   error // the last failed probe; nil before the first
		aliveErr  error
		successes int
		delay     = min(firstRetry, g.Interval)
	)
	for {
		if g.Alive != nil {
			alive, err := g.Alive(gctx)
			switch {
			case err != nil:
				aliveErr = err
			case !alive:
				return last, fmt.Errorf("cannot get a healthy answer from %s: %w%s", name, ErrProcessExited, lastProbe(lastErr))
			}
		}

		pctx, pcancel := context.WithTimeout(gctx, g.ProbeTimeout)
		obs, err := probe(pctx, nil, g.URL)
		pcancel()
		if errors.Is(err, context.DeadlineExceeded) && gctx.Err() == nil {
			err = fmt.Errorf("no answer within %s: %w", g.ProbeTimeout, err)
		}
		if err == nil && g.ExpectVersion != "" && obs.Version != "" && obs.Version != g.ExpectVersion {
			err = mismatch(g.ExpectVersion, obs.Version)
		}
		switch {
		case err == nil:
			last = obs
			successes++
			if successes >= g.SuccessThreshold {
				return obs, nil
			}
		case gctx.Err() != nil && lastErr != nil:
			// Cut short by the deadline: the earlier failure says more
			// than "context deadline exceeded".
		default:
			last, lastErr, successes = obs, err, 0
		}

		timer := time.NewTimer(delay)
		select {
		case <-gctx.Done():
			timer.Stop()
			return last, g.failure(ctx, name, lastErr, aliveErr)
		case <-timer.C:
		}
		delay = min(2*delay, g.Interval)
	}
}

// failure builds Wait's error once the wait is over.
func (g Gate) failure(ctx context.Context, name string, lastErr, aliveErr error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot get a healthy answer from %s: %w%s", name, err, lastProbe(lastErr))
	}
	prefix := fmt.Sprintf("cannot get a healthy answer from %s within %s", name, g.Deadline)
	suffix := ""
	if aliveErr != nil {
		suffix = fmt.Sprintf(" (checking the process also failed: %v)", aliveErr)
	}
	switch {
	case lastErr == nil:
		// Only when every probe passed but too few to reach the threshold
		// (flapping ended on a pass), or no probe finished at all.
		return fmt.Errorf("%s: %w: fewer than %d passing probes in a row%s", prefix, ErrUnhealthy, g.SuccessThreshold, suffix)
	case errors.Is(lastErr, ErrUnhealthy), errors.Is(lastErr, ErrVersionMismatch):
		return fmt.Errorf("%s: %w%s", prefix, lastErr, suffix)
	default:
		return fmt.Errorf("%s: %w: %w%s", prefix, ErrUnhealthy, lastErr, suffix)
	}
}

func mismatch(want, got string) error {
	return fmt.Errorf("%w: want %q, got %q (the old process may still be answering)", ErrVersionMismatch, want, got)
}

func lastProbe(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf(" (last probe: %v)", err)
}
