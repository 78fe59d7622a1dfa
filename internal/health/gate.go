package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"syscall"
	"time"
)

// Gate waits for the app to become healthy after a restart. The zero
// values of the duration and threshold fields mean their defaults. A Gate
// holds no state between calls; Wait can be called again.
type Gate struct {
	// URL is the health endpoint, e.g. http://127.0.0.1:8080/api/health.
	// It should reach the app directly: see FailureThreshold for what a
	// proxy in between changes.
	URL string
	// ExpectVersion, when set, must equal the version in the answer
	// exactly (the caller normalises both sides) whenever the answer
	// reports one; an app whose health endpoint reports no version is
	// judged by its status code alone. "" skips the check.
	ExpectVersion string
	// ProbeTimeout bounds one probe (default 2s).
	ProbeTimeout time.Duration
	// Deadline bounds the whole wait (default 60s), whatever the
	// thresholds: an app that never answers, or whose answers flap,
	// fails when it passes.
	Deadline time.Duration
	// Interval is the largest spacing between probes (default 1s).
	// Probing starts faster (see the package doc), but after a failing
	// answer the next probe waits a full Interval, so FailureThreshold
	// failing answers span at least (FailureThreshold-1)×Interval, as
	// Kubernetes spaces probes by periodSeconds.
	Interval time.Duration
	// SuccessThreshold is how many passing probes in a row are needed
	// (default 3).
	SuccessThreshold int
	// FailureThreshold is how many failing answers in a row end the wait
	// early (default 3, as Kubernetes' failureThreshold), so an app that
	// answers and says it is unhealthy is rolled back in seconds instead
	// of at the Deadline. Deadline still bounds the wait; whichever comes
	// first ends it. Each probe is one of:
	//   - a pass: 2xx with ExpectVersion or no version.
	//   - no answer, meaning still starting: refused, reset, timed out,
	//     cut off mid-answer, or HTTP 502 or 504 (a proxy in between
	//     saying the app did not answer). Never a failure, however many.
	//   - a failing answer: any other non-2xx answer (with ExpectVersion
	//     or no version).
	//   - an answer with another version than ExpectVersion (any status).
	//     Right after a restart the old process may still hold the port,
	//     so this is like no answer until the wait has seen that the port
	//     changed hands: an answer carrying ExpectVersion, or a refused
	//     connection (nothing listened, so whatever answers later started
	//     since). From then on it is a failing answer: the new binary
	//     reports the wrong version.
	// Anything but a failing answer resets the count. An app that
	// answers 503 while warming up needs a FailureThreshold whose
	// (FailureThreshold-1)×Interval covers the warm-up, or should not
	// listen until it is ready.
	FailureThreshold int
	// Alive, if set, is asked before every probe whether the app's
	// process still runs; false ends the wait at once with
	// ErrProcessExited. Its errors do not end the wait (a passing probe
	// still counts) but are reported if the wait fails.
	Alive func(ctx context.Context) (bool, error)
	// ExitDetail, if set, is called once when Alive reports the process
	// gone; a non-empty result is appended to the ErrProcessExited
	// message after "; ", to say why it exited (the tail of the app's
	// log, say). It must not block for long.
	ExitDetail func() string
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
	if g.FailureThreshold <= 0 {
		g.FailureThreshold = DefaultFailureThreshold
	}
	return g
}

// Wait probes URL until SuccessThreshold consecutive probes pass, and
// returns the last Observation. A probe passes when the answer is 2xx and,
// if ExpectVersion is set and the answer reports a version, that version.
//
// Errors, each prefixed "cannot get a healthy answer from <url>":
//   - ErrUnhealthy, early: FailureThreshold failing answers in a row; the
//     message says how many and how the last one failed (HTTP status and
//     body excerpt). When they were answers with another version, the
//     error wraps ErrVersionMismatch too.
//   - ErrUnhealthy: Deadline passed; the last probe failed, and the
//     message says how (refused, timeout, HTTP status and body excerpt).
//   - ErrVersionMismatch: Deadline passed; the last answer was 2xx with
//     another version, typically the old process still answering.
//     The message names the wanted and the received version.
//   - ErrProcessExited: Alive reported the process gone; the message
//     ends with ExitDetail's result.
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
		last     Observation
		lastErr  error // the last failed probe; nil before the first
		aliveErr error
		seen     = tally{expect: g.ExpectVersion}
		delay    = min(firstRetry, g.Interval)
		askedAt  time.Time // when Alive was last asked
	)
	for {
		if g.Alive != nil && time.Since(askedAt) >= min(aliveEvery, g.Interval) {
			askedAt = time.Now()
			alive, err := g.Alive(gctx)
			switch {
			case err != nil:
				aliveErr = err
			case !alive:
				return last, fmt.Errorf("cannot get a healthy answer from %s: %w%s%s", name, ErrProcessExited, lastProbe(lastErr), g.exitDetail())
			}
		}

		pctx, pcancel := context.WithTimeout(gctx, g.ProbeTimeout)
		obs, err := probe(pctx, nil, g.URL)
		pcancel()
		if errors.Is(err, context.DeadlineExceeded) && gctx.Err() == nil {
			err = fmt.Errorf("no answer within %s: %w", g.ProbeTimeout, err)
		}
		cutShort := err != nil && gctx.Err() != nil && lastErr != nil
		v := starting
		if !cutShort {
			v, err = seen.add(obs, err)
		}
		switch {
		case cutShort:
			// Cut short by the deadline: the earlier failure says more
			// than "context deadline exceeded".
		case v == passed:
			last = obs
			if seen.successes >= g.SuccessThreshold {
				return obs, nil
			}
		default:
			last, lastErr = obs, err
			if seen.failures >= g.FailureThreshold {
				return last, fmt.Errorf("cannot get a healthy answer from %s: %s in a row: %w%s",
					name, failingAnswers(seen.failures), lastErr, aliveSuffix(aliveErr))
			}
		}
		var wait time.Duration
		wait, delay = nextProbe(v, err, delay, g.Interval)
		timer := time.NewTimer(wait)
		select {
		case <-gctx.Done():
			timer.Stop()
			return last, g.failure(ctx, name, lastErr, aliveErr)
		case <-timer.C:
		}
	}
}

// nextProbe returns how long to wait before the next probe after one
// judged v with err, and the backoff after that, given the backoff delay
// so far: the backoff doubles up to interval; a failing answer waits a
// whole interval (to give a failing app time to recover); a refused
// connection (nothing listens yet) waits refusedRetry and leaves the
// backoff where it was.
func nextProbe(v verdict, err error, delay, interval time.Duration) (wait, next time.Duration) {
	switch {
	case v == failed:
		return interval, interval
	case errors.Is(err, syscall.ECONNREFUSED):
		return min(refusedRetry, interval), delay
	}
	return delay, min(2*delay, interval)
}

// verdict is what one probe says about the new process.
type verdict int

const (
	passed   verdict = iota // 2xx with the expected version or none
	starting                // no answer from the app: not listening or not answering yet
	previous                // another version while the old process may still hold the port
	failed                  // a failing answer: counts toward FailureThreshold
)

func (v verdict) String() string {
	return [...]string{"passed", "starting", "previous", "failed"}[v]
}

// tally is what a wait has seen so far. add decides without any I/O, so
// the rules of Gate.FailureThreshold are table-tested on their own.
type tally struct {
	expect    string // Gate.ExpectVersion
	successes int    // passes in a row
	failures  int    // failing answers in a row
	// handedOver says why an answer with another version can no longer
	// come from the old process; "" while it can.
	handedOver string
}

// add judges one probe's outcome, as returned by probe, and counts it.
// The error returned is the one to report for the probe (nil for a pass).
func (t *tally) add(obs Observation, err error) (verdict, error) {
	v, err := t.judge(obs, err)
	switch v {
	case passed:
		t.successes, t.failures = t.successes+1, 0
	case failed:
		t.successes, t.failures = 0, t.failures+1
	default:
		t.successes, t.failures = 0, 0
	}
	// What this probe shows about the port applies to the next ones.
	if t.handedOver == "" {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			t.handedOver = "the port was closed earlier in this wait"
		case obs.StatusCode != 0 && t.expect != "" && obs.Version == t.expect:
			t.handedOver = fmt.Sprintf("%q answered earlier in this wait", t.expect)
		}
	}
	return v, err
}

func (t *tally) judge(obs Observation, err error) (verdict, error) {
	answered := err == nil || errors.Is(err, ErrUnhealthy)
	if !answered || obs.StatusCode == http.StatusBadGateway || obs.StatusCode == http.StatusGatewayTimeout {
		return starting, err
	}
	if t.expect != "" && obs.Version != "" && obs.Version != t.expect {
		if t.handedOver == "" {
			if err == nil {
				err = mismatch(t.expect, obs.Version)
			}
			return previous, err
		}
		if err == nil {
			err = fmt.Errorf("%w: %w: want %q, got %q (not the old process: %s)",
				ErrUnhealthy, ErrVersionMismatch, t.expect, obs.Version, t.handedOver)
		}
		return failed, err
	}
	if err != nil {
		return failed, err
	}
	return passed, nil
}

// failure builds Wait's error once the deadline or ctx ended the wait.
func (g Gate) failure(ctx context.Context, name string, lastErr, aliveErr error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot get a healthy answer from %s: %w%s", name, err, lastProbe(lastErr))
	}
	prefix := fmt.Sprintf("cannot get a healthy answer from %s within %s", name, g.Deadline)
	suffix := aliveSuffix(aliveErr)
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

// exitDetail is ExitDetail's result as a message suffix.
func (g Gate) exitDetail() string {
	if g.ExitDetail == nil {
		return ""
	}
	if d := g.ExitDetail(); d != "" {
		return "; " + d
	}
	return ""
}

func mismatch(want, got string) error {
	return fmt.Errorf("%w: want %q, got %q (the old process may still be answering)", ErrVersionMismatch, want, got)
}

func failingAnswers(n int) string {
	if n == 1 {
		return "1 failing answer"
	}
	return fmt.Sprintf("%d failing answers", n)
}

func aliveSuffix(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf(" (checking the process also failed: %v)", err)
}

func lastProbe(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf(" (last probe: %v)", err)
}
