package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// answer writes status and body; a body like {"version":"v1"} reports a
// version.
func answer(status int, body string) func(int64, http.ResponseWriter, *http.Request) {
	return func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

// lateServer is an app that does not listen yet: probes to its URL are
// refused until the gate has asked Alive listenAt times (Alive runs right
// before each probe), and from then on a server on the same port answers.
// The gate itself drives the switch, so no sleep or timing is involved:
// exactly listenAt-1 probes are refused. It returns the URL, the Alive
// hook and the counter of answered requests.
func lateServer(t *testing.T, listenAt int64, h func(n int64, w http.ResponseWriter, r *http.Request)) (string, func(context.Context) (bool, error), *atomic.Int64) {
	t.Helper()
	reserved, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := reserved.Addr().String()
	reserved.Close() // nothing listens: connections are refused
	var hits, calls atomic.Int64
	alive := func(context.Context) (bool, error) {
		if calls.Add(1) == listenAt {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("cannot listen again on %s: %v", addr, err)
			}
			srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h(hits.Add(1), w, r)
			})}}
			srv.Start()
			t.Cleanup(srv.Close)
		}
		return true, nil
	}
	return "http://" + addr + "/api/health", alive, &hits
}

// An app that answers and says it is unhealthy fails the gate after
// FailureThreshold answers, not at the deadline; each failing answer is
// followed by a full Interval, as Kubernetes spaces probes by periodSeconds.
func TestGateFailingAnswersEndWaitEarly(t *testing.T) {
	const (
		deadline = 30 * time.Second
		interval = 50 * time.Millisecond
	)
	for _, tt := range []struct {
		threshold int
		want      int64
	}{{0, DefaultFailureThreshold}, {1, 1}, {5, 5}} {
		t.Run(fmt.Sprintf("threshold=%d", tt.threshold), func(t *testing.T) {
			t.Parallel()
			url, hits := server(t, answer(http.StatusServiceUnavailable, "database unreachable\n"))
			g := Gate{URL: url, Deadline: deadline, Interval: interval, FailureThreshold: tt.threshold}
			start := time.Now()
			_, err := g.Wait(context.Background())
			elapsed := time.Since(start)
			if !errors.Is(err, ErrUnhealthy) || errors.Is(err, ErrVersionMismatch) {
				t.Fatalf("Wait error = %v, want ErrUnhealthy and not ErrVersionMismatch", err)
			}
			answers := fmt.Sprintf("%d failing answers", tt.want)
			if tt.want == 1 {
				answers = "1 failing answer"
			}
			want := fmt.Sprintf(`cannot get a healthy answer from %s: %s in a row: unhealthy: HTTP 503: "database unreachable"`, url, answers)
			if err.Error() != want {
				t.Errorf("Wait error = %q\nwant          %q", err, want)
			}
			if hits.Load() != tt.want {
				t.Errorf("probes = %d, want exactly %d", hits.Load(), tt.want)
			}
			if elapsed >= deadline/4 {
				t.Errorf("Wait took %s, want far less than the %s deadline", elapsed, deadline)
			}
			if min := time.Duration(tt.want-1) * interval; elapsed < min {
				t.Errorf("Wait took %s, want failing answers spaced by the %s interval (at least %s)", elapsed, interval, min)
			}
		})
	}
}

// Refused connections mean the app is still starting: they never count as
// failing answers, however many; only answers do.
func TestGateRefusedConnectionsAreStillStarting(t *testing.T) {
	tests := []struct {
		name      string
		listenAt  int64 // probes before it are refused
		handler   func(int64, http.ResponseWriter, *http.Request)
		wantIs    []error // nil = success
		wantNotIs error
		wantInMsg string
		wantHits  int64
	}{
		{"refused then healthy", 2*DefaultFailureThreshold + 1, healthy("v2"), nil, nil, "", DefaultSuccessThreshold},
		{"refused then 503", 3, answer(http.StatusServiceUnavailable, "migrating"), []error{ErrUnhealthy}, ErrVersionMismatch,
			`3 failing answers in a row: unhealthy: HTTP 503: "migrating"`, DefaultFailureThreshold},
		// Nothing listened on the port after the gate began, so the answers
		// come from a process started since: the new binary reports
		// another version (a wrong build), not the old process.
		{"refused then another version", 3, healthy("v1"), []error{ErrUnhealthy, ErrVersionMismatch}, nil,
			`3 failing answers in a row: unhealthy: version mismatch: want "v2", got "v1" (not the old process: the port was closed earlier in this wait)`,
			DefaultFailureThreshold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, alive, hits := lateServer(t, tt.listenAt, tt.handler)
			g := Gate{URL: url, ExpectVersion: "v2", Deadline: 30 * time.Second, Interval: 20 * time.Millisecond, Alive: alive}
			_, err := g.Wait(context.Background())
			if hits.Load() != tt.wantHits {
				t.Errorf("answered probes = %d, want exactly %d", hits.Load(), tt.wantHits)
			}
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("Wait: %v", err)
				}
				return
			}
			for _, is := range tt.wantIs {
				if !errors.Is(err, is) {
					t.Errorf("Wait error = %v, want %v", err, is)
				}
			}
			if tt.wantNotIs != nil && errors.Is(err, tt.wantNotIs) {
				t.Errorf("Wait error = %v, want not %v", err, tt.wantNotIs)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("Wait error = %v, want it to contain %q", err, tt.wantInMsg)
			}
		})
	}
}

// Right after a restart the old process may still hold the port: answers
// with another version are not failures until the gate knows the new
// process answers, either because the expected version answered or
// because a refused connection showed the port closed (see above).
func TestGateVersionMismatchCountsOnlyOnceTheNewProcessAnswered(t *testing.T) {
	seq := func(first int64, a, b func(int64, http.ResponseWriter, *http.Request)) func(int64, http.ResponseWriter, *http.Request) {
		return func(n int64, w http.ResponseWriter, r *http.Request) {
			if n <= first {
				a(n, w, r)
				return
			}
			b(n, w, r)
		}
	}
	const old = 2*DefaultFailureThreshold + 1 // more old answers than the threshold
	tests := []struct {
		name      string
		handler   func(int64, http.ResponseWriter, *http.Request)
		deadline  time.Duration
		wantIs    []error // nil = success
		wantNotIs error
		wantInMsg string
		wantHits  int64 // 0 = at least old+1 (ran to the deadline)
	}{
		{"old then new healthy", seq(old, healthy("v1"), healthy("v2")), 30 * time.Second,
			nil, nil, "", old + DefaultSuccessThreshold},
		{"old draining with 503 then new healthy", seq(old, answer(503, `{"version":"v1","status":"shutting down"}`), healthy("v2")), 30 * time.Second,
			nil, nil, "", old + DefaultSuccessThreshold},
		{"old then new failing", seq(old, healthy("v1"), answer(503, `{"version":"v2","status":"no database"}`)), 30 * time.Second,
			[]error{ErrUnhealthy}, ErrVersionMismatch, `3 failing answers in a row: unhealthy: HTTP 503`, old + DefaultFailureThreshold},
		{"new answered then another version", seq(1, healthy("v2"), healthy("v1")), 30 * time.Second,
			[]error{ErrUnhealthy, ErrVersionMismatch}, nil,
			`3 failing answers in a row: unhealthy: version mismatch: want "v2", got "v1" (not the old process: "v2" answered earlier in this wait)`,
			1 + DefaultFailureThreshold},
		{"old answers until the deadline", healthy("v1"), time.Second,
			[]error{ErrVersionMismatch}, ErrUnhealthy, `within 1s: version mismatch: want "v2", got "v1" (the old process may still be answering)`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, hits := server(t, tt.handler)
			g := Gate{URL: url, ExpectVersion: "v2", Deadline: tt.deadline, Interval: 20 * time.Millisecond}
			_, err := g.Wait(context.Background())
			switch {
			case tt.wantHits == 0 && hits.Load() <= old:
				t.Errorf("answered probes = %d, want more than %d: answers of the old process are not failures", hits.Load(), old)
			case tt.wantHits != 0 && hits.Load() != tt.wantHits:
				t.Errorf("answered probes = %d, want exactly %d", hits.Load(), tt.wantHits)
			}
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("Wait: %v", err)
				}
				return
			}
			for _, is := range tt.wantIs {
				if !errors.Is(err, is) {
					t.Errorf("Wait error = %v, want %v", err, is)
				}
			}
			if tt.wantNotIs != nil && errors.Is(err, tt.wantNotIs) {
				t.Errorf("Wait error = %v, want not %v", err, tt.wantNotIs)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("Wait error = %v, want it to contain %q", err, tt.wantInMsg)
			}
		})
	}
}

// When the process exits, the error says why, as far as ExitDetail can
// tell (the reconciler passes the tail of the app's log).
func TestGateProcessExitCarriesExitDetail(t *testing.T) {
	url, hits := server(t, answer(http.StatusServiceUnavailable, "starting"))
	const detail = "its log ends with:\nlisten tcp 127.0.0.1:8080: bind: address already in use"
	var aliveCalls, detailCalls atomic.Int64
	g := Gate{
		URL: url, Deadline: 30 * time.Second, Interval: 10 * time.Millisecond,
		Alive:      func(context.Context) (bool, error) { return aliveCalls.Add(1) < 2, nil }, // gone after one probe
		ExitDetail: func() string { detailCalls.Add(1); return detail },
	}
	_, err := g.Wait(context.Background())
	if !errors.Is(err, ErrProcessExited) {
		t.Fatalf("Wait error = %v, want ErrProcessExited", err)
	}
	want := fmt.Sprintf(`cannot get a healthy answer from %s: process exited (last probe: unhealthy: HTTP 503: "starting"); %s`, url, detail)
	if err.Error() != want {
		t.Errorf("Wait error = %q\nwant          %q", err, want)
	}
	if hits.Load() != 1 || detailCalls.Load() != 1 {
		t.Errorf("probes = %d, ExitDetail calls = %d; want 1 and 1", hits.Load(), detailCalls.Load())
	}

	// An empty detail adds nothing.
	g.ExitDetail = func() string { return "" }
	aliveCalls.Store(1)
	_, err = g.Wait(context.Background())
	if !errors.Is(err, ErrProcessExited) || strings.HasSuffix(err.Error(), "; ") {
		t.Errorf("Wait error with an empty detail = %q", err)
	}
}
