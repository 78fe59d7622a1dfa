package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// outcome turns a token into what probe returns: "refused", "reset",
// "timeout", "cut" (an answer cut off mid-body), or "<status>[ <version>]".
func outcome(t *testing.T, tok string) (Observation, error) {
	t.Helper()
	switch tok {
	case "refused":
		return Observation{}, fmt.Errorf("dial tcp 127.0.0.1:8080: connect: %w", syscall.ECONNREFUSED)
	case "reset":
		return Observation{}, fmt.Errorf("read tcp: %w", syscall.ECONNRESET)
	case "timeout":
		return Observation{}, fmt.Errorf("no answer within 2s: %w", context.DeadlineExceeded)
	case "cut":
		return Observation{StatusCode: 200}, fmt.Errorf("cannot read answer (HTTP 200): %w", io.ErrUnexpectedEOF)
	}
	code, version, _ := strings.Cut(tok, " ")
	status, err := strconv.Atoi(code)
	if err != nil {
		t.Fatalf("bad token %q", tok)
	}
	obs := Observation{StatusCode: status, Version: version}
	if status < 200 || status > 299 {
		return obs, fmt.Errorf("%w: HTTP %d: %q", ErrUnhealthy, status, "body")
	}
	return obs, nil
}

// The rules of Gate.FailureThreshold, probe by probe, with ExpectVersion
// "v2". Each row is a sequence of probe outcomes and the verdicts.
func TestTallyVerdicts(t *testing.T) {
	tests := []struct {
		name, probes, want string
		failures           int // the count after the last probe
	}{
		{"503s are failing answers", "503,503,503", "failed failed failed", 3},
		{"other non-2xx too", "500,302,404 v2", "failed failed failed", 3},
		{"no answer is still starting", "refused,reset,timeout,cut", "starting starting starting starting", 0},
		{"proxy saying the app did not answer", "502,504,502", "starting starting starting", 0},
		{"no answer resets the count", "503,503,refused,503", "failed failed starting failed", 1},
		{"a pass resets the count", "503,503,200 v2,503", "failed failed passed failed", 1},
		{"no version is judged by status", "200,503", "passed failed", 1},
		{"old process answering", "200 v1,200 v1,503 v1,200 v1", "previous previous previous previous", 0},
		{"old process resets the count", "503,503,200 v1,503", "failed failed previous failed", 1},
		{"old then refused then wrong version", "200 v1,refused,200 v1,503 v1", "previous starting failed failed", 2},
		{"new version answered, then another", "503 v2,200 v1,200 v1", "failed failed failed", 3},
		{"timeout proves nothing about the port", "timeout,200 v1", "starting previous", 0},
		{"proxy proves nothing about the port", "502,200 v1", "starting previous", 0},
		{"reset proves nothing about the port", "reset,200 v1", "starting previous", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := tally{expect: "v2"}
			var got []string
			for _, tok := range strings.Split(tt.probes, ",") {
				obs, err := outcome(t, tok)
				v, reported := seen.add(obs, err)
				if (v == passed) != (reported == nil) {
					t.Errorf("%s: verdict %s with error %v", tok, v, reported)
				}
				got = append(got, v.String())
			}
			if strings.Join(got, " ") != tt.want || seen.failures != tt.failures {
				t.Errorf("verdicts %q, failures %d; want %q, %d", strings.Join(got, " "), seen.failures, tt.want, tt.failures)
			}
		})
	}
}

// A counted answer with another version says why it is not the old
// process, and is both unhealthy and a version mismatch.
func TestTallyWrongVersionError(t *testing.T) {
	seen := tally{expect: "v2"}
	_, _ = seen.add(outcome(t, "200 v1"))
	_, err := seen.add(outcome(t, "200 v1"))
	if !errors.Is(err, ErrVersionMismatch) || errors.Is(err, ErrUnhealthy) ||
		err.Error() != `version mismatch: want "v2", got "v1" (the old process may still be answering)` {
		t.Errorf("before the port changed hands: %v", err)
	}
	_, _ = seen.add(outcome(t, "refused"))
	_, err = seen.add(outcome(t, "200 v1"))
	if !errors.Is(err, ErrVersionMismatch) || !errors.Is(err, ErrUnhealthy) ||
		err.Error() != `unhealthy: version mismatch: want "v2", got "v1" (not the old process: the port was closed earlier in this wait)` {
		t.Errorf("after a refused connection: %v", err)
	}
}

// A proxy in front of a starting app answers 502 or 504: that is no
// answer from the app, so it does not end the wait early.
func TestGateProxyAnswersAreStillStarting(t *testing.T) {
	const starting = 2*DefaultFailureThreshold + 1
	url, hits := server(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		switch {
		case n > starting:
			healthy("v2")(n, w, r)
		case n%2 == 0:
			answer(http.StatusBadGateway, "502 Bad Gateway")(n, w, r)
		default:
			answer(http.StatusGatewayTimeout, "504 Gateway Time-out")(n, w, r)
		}
	})
	g := Gate{URL: url, ExpectVersion: "v2", Deadline: 30 * time.Second, Interval: 20 * time.Millisecond}
	if _, err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if hits.Load() != starting+DefaultSuccessThreshold {
		t.Errorf("probes = %d, want %d", hits.Load(), starting+DefaultSuccessThreshold)
	}
}

// TestNextProbe: the probes' spacing. A refused connection is looked at
// again within refusedRetry, so an app that starts listening is noticed
// within about 10 ms however long it took, without moving the backoff of
// the answers; a failing answer waits a whole interval.
func TestNextProbe(t *testing.T) {
	refused := fmt.Errorf("dial tcp 127.0.0.1:8080: connect: %w", syscall.ECONNREFUSED)
	for _, tc := range []struct {
		name             string
		v                verdict
		err              error
		delay, interval  time.Duration
		wantWait, wantNx time.Duration
	}{
		{"first answer: the backoff doubles", starting, ErrUnhealthy, 25 * time.Millisecond, time.Second, 25 * time.Millisecond, 50 * time.Millisecond},
		{"the backoff stops at the interval", previous, nil, 800 * time.Millisecond, time.Second, 800 * time.Millisecond, time.Second},
		{"refused: look again soon, backoff kept", starting, refused, 400 * time.Millisecond, time.Second, refusedRetry, 400 * time.Millisecond},
		{"refused, interval below refusedRetry", starting, refused, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond, 5 * time.Millisecond},
		{"failing answer: a whole interval", failed, ErrUnhealthy, 50 * time.Millisecond, time.Second, time.Second, time.Second},
		{"passed: the backoff doubles", passed, nil, 100 * time.Millisecond, time.Second, 100 * time.Millisecond, 200 * time.Millisecond},
	} {
		wait, next := nextProbe(tc.v, tc.err, tc.delay, tc.interval)
		if wait != tc.wantWait || next != tc.wantNx {
			t.Errorf("%s: nextProbe = %v, %v; want %v, %v", tc.name, wait, next, tc.wantWait, tc.wantNx)
		}
	}
}
