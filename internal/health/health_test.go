package health

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// server starts an httptest server on 127.0.0.1 whose handler gets the
// 1-based number of the request, and returns its health URL and a counter
// of requests.
func server(t *testing.T, h func(n int64, w http.ResponseWriter, r *http.Request)) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(hits.Add(1), w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/api/health", &hits
}

func healthy(version string) func(int64, http.ResponseWriter, *http.Request) {
	return func(_ int64, w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","version":%q}`, version)
	}
}

func unhealthy(w http.ResponseWriter) {
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprint(w, "warming up\n")
}

func TestProbe(t *testing.T) {
	big := `{"pad":"` + strings.Repeat("x", maxBody) + `","version":"v9"}`
	long := strings.Repeat("error ", 100)
	tests := []struct {
		name      string
		handler   func(int64, http.ResponseWriter, *http.Request)
		want      Observation
		wantIs    error  // nil = success
		wantInMsg string // checked when wantIs is set
	}{
		{"json with version", healthy("v1.2.3"), Observation{200, "v1.2.3"}, nil, ""},
		{"plain 204", func(_ int64, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) },
			Observation{204, ""}, nil, ""},
		{"plain text", func(_ int64, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "OK") },
			Observation{200, ""}, nil, ""},
		{"version not a string", func(_ int64, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, `{"version":12}`) },
			Observation{200, ""}, nil, ""},
		{"body read is capped", func(_ int64, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, big) },
			Observation{200, ""}, nil, ""},
		{"503 with body", func(_ int64, w http.ResponseWriter, _ *http.Request) { unhealthy(w) },
			Observation{503, ""}, ErrUnhealthy, `unhealthy: HTTP 503: "warming up"`},
		{"500 keeps version", func(_ int64, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(500)
			fmt.Fprint(w, `{"version":"v2","error":"db down"}`)
		}, Observation{500, "v2"}, ErrUnhealthy, `HTTP 500: "{\"version\":\"v2\",\"error\":\"db down\"}"`},
		{"redirect is not followed", func(_ int64, w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/login", http.StatusFound)
		}, Observation{302, ""}, ErrUnhealthy, "HTTP 302"},
		{"long body is cut", func(_ int64, w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(502)
			fmt.Fprint(w, long)
		}, Observation{502, ""}, ErrUnhealthy, `"` + strings.TrimSpace(long)[:excerptLen] + `..."`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, hits := server(t, tt.handler)
			obs, err := Probe(context.Background(), nil, url)
			if obs != tt.want {
				t.Errorf("Observation = %+v, want %+v", obs, tt.want)
			}
			if hits.Load() != 1 {
				t.Errorf("server got %d requests, want 1", hits.Load())
			}
			if tt.wantIs == nil {
				if err != nil {
					t.Fatalf("Probe: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantIs) {
				t.Fatalf("Probe error = %v, want %v", err, tt.wantIs)
			}
			if !strings.HasPrefix(err.Error(), "cannot probe "+url+": ") || !strings.Contains(err.Error(), tt.wantInMsg) {
				t.Errorf("Probe error = %q, want the URL and %q", err, tt.wantInMsg)
			}
		})
	}
}

func TestProbeTransportErrorsAndURLs(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/api/health"
	srv.Close() // nothing listens any more
	_, err := Probe(context.Background(), nil, url)
	if !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, ErrUnhealthy) {
		t.Errorf("Probe on a closed port = %v, want ECONNREFUSED and not ErrUnhealthy", err)
	}

	for _, bad := range []string{"", "127.0.0.1:8080/api/health", "ftp://x/y", "http:///path", "http://a b"} {
		if _, err := Probe(context.Background(), nil, bad); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("Probe(%q) = %v, want ErrInvalidURL", bad, err)
		}
	}

	_, err = Probe(context.Background(), nil, "http://admin:s3cret@"+strings.TrimPrefix(url, "http://"))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Probe error leaks the password: %v", err)
	}
}

func TestGateHealthyPassesQuicklyWithThreshold(t *testing.T) {
	var mu sync.Mutex
	remotes := map[string]bool{}
	url, hits := server(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		remotes[r.RemoteAddr] = true
		mu.Unlock()
		healthy("v1.2.3")(n, w, r)
	})
	// With probes spaced at Interval from the start, three probes would
	// take two Intervals; starting fast they take a fraction of one.
	const interval = 5 * time.Second
	start := time.Now()
	obs, err := Gate{URL: url, ExpectVersion: "v1.2.3", Interval: interval}.Wait(context.Background())
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if elapsed := time.Since(start); elapsed >= interval {
		t.Errorf("a healthy app took %s to pass; probing does not start fast", elapsed)
	}
	if obs != (Observation{200, "v1.2.3"}) {
		t.Errorf("Observation = %+v", obs)
	}
	if hits.Load() != DefaultSuccessThreshold {
		t.Errorf("probes = %d, want exactly %d", hits.Load(), DefaultSuccessThreshold)
	}
	if len(remotes) != DefaultSuccessThreshold {
		t.Errorf("probes used %d connections, want one per probe: %v", len(remotes), remotes)
	}
}

// An app that answers 503 while warming up passes when FailureThreshold
// exceeds its warm-up answers; with the default it would be failed early
// (see TestGateFailingAnswersEndWaitEarly).
func TestGateSlowStarterPasses(t *testing.T) {
	const failures = 5
	url, hits := server(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n <= failures {
			unhealthy(w)
			return
		}
		healthy("v2")(n, w, r)
	})
	g := Gate{URL: url, ExpectVersion: "v2", Interval: 50 * time.Millisecond, Deadline: 30 * time.Second, SuccessThreshold: 2, FailureThreshold: failures + 1}
	if _, err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if got := hits.Load(); got != failures+2 {
		t.Errorf("probes = %d, want %d failures + 2 successes", got, failures)
	}
}

func TestGateOldProcessThenNewPasses(t *testing.T) {
	url, hits := server(t, func(n int64, w http.ResponseWriter, r *http.Request) {
		if n <= 3 {
			healthy("v1")(n, w, r) // the old process still holds the port
			return
		}
		healthy("v2")(n, w, r)
	})
	obs, err := Gate{URL: url, ExpectVersion: "v2", Interval: 20 * time.Millisecond, Deadline: 30 * time.Second}.Wait(context.Background())
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if obs.Version != "v2" || hits.Load() != 6 {
		t.Errorf("Observation = %+v after %d probes, want v2 after 3 old + 3 new", obs, hits.Load())
	}
}

func TestGateFailures(t *testing.T) {
	flapping := func(n int64, w http.ResponseWriter, r *http.Request) {
		if n%3 == 0 { // pass, pass, fail, ...: never three in a row
			unhealthy(w)
			return
		}
		healthy("v1")(n, w, r)
	}
	tests := []struct {
		name      string
		handler   func(int64, http.ResponseWriter, *http.Request)
		expect    string
		wantIs    error
		wantNotIs error
		wantInMsg []string
		minHits   int64
	}{
		{"never healthy", func(_ int64, w http.ResponseWriter, _ *http.Request) { unhealthy(w) }, "",
			ErrUnhealthy, ErrVersionMismatch, []string{`: 3 failing answers in a row: unhealthy: HTTP 503: "warming up"`}, 3},
		{"wrong version", healthy("v1.0.0"), "v1.1.0",
			ErrVersionMismatch, ErrUnhealthy, []string{`within 1s: version mismatch: want "v1.1.0", got "v1.0.0"`}, 2},
		{"flapping", flapping, "",
			ErrUnhealthy, ErrVersionMismatch, []string{"within 1s: unhealthy: HTTP 503"}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url, hits := server(t, tt.handler)
			g := Gate{URL: url, ExpectVersion: tt.expect, Deadline: time.Second, Interval: 10 * time.Millisecond}
			_, err := g.Wait(context.Background())
			if !errors.Is(err, tt.wantIs) || errors.Is(err, tt.wantNotIs) {
				t.Fatalf("Wait error = %v, want %v and not %v", err, tt.wantIs, tt.wantNotIs)
			}
			for _, s := range append(tt.wantInMsg, "cannot get a healthy answer from "+url) {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if hits.Load() < tt.minHits {
				t.Errorf("only %d probes in the deadline, want at least %d", hits.Load(), tt.minHits)
			}
		})
	}
}

func TestGateProbeTimeout(t *testing.T) {
	url, _ := server(t, func(_ int64, _ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // hangs until the client gives up
	})
	g := Gate{URL: url, ProbeTimeout: 50 * time.Millisecond, Deadline: time.Second, Interval: 10 * time.Millisecond}
	_, err := g.Wait(context.Background())
	// Timeouts are no answer, not failing answers: only the deadline ends them.
	if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "within 1s: unhealthy: no answer within 50ms") {
		t.Fatalf("Wait error = %v, want ErrUnhealthy at the deadline naming the probe timeout", err)
	}
}

func TestGateProcessExitEndsWaitAtOnce(t *testing.T) {
	url, _ := server(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { unhealthy(w) })
	var calls atomic.Int64
	g := Gate{
		URL:      url,
		Deadline: time.Minute,
		Interval: 10 * time.Millisecond,
		Alive: func(context.Context) (bool, error) {
			return calls.Add(1) < 3, nil // the process dies after two probes
		},
	}
	start := time.Now()
	_, err := g.Wait(context.Background())
	if !errors.Is(err, ErrProcessExited) {
		t.Fatalf("Wait error = %v, want ErrProcessExited", err)
	}
	if elapsed := time.Since(start); elapsed > 15*time.Second {
		t.Errorf("Wait took %s, want it to end as soon as the process exits", elapsed)
	}
	if calls.Load() != 3 {
		t.Errorf("Alive called %d times, want 3", calls.Load())
	}
	if !strings.Contains(err.Error(), "last probe: unhealthy: HTTP 503") {
		t.Errorf("error %q does not carry the last probe", err)
	}
}

func TestGateAliveErrorDoesNotFailHealthyApp(t *testing.T) {
	url, _ := server(t, healthy("v1"))
	g := Gate{URL: url, Alive: func(context.Context) (bool, error) { return false, errors.New("cannot read pidfile") }}
	if _, err := g.Wait(context.Background()); err != nil {
		t.Fatalf("Wait: %v", err)
	}

	url2, _ := server(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { unhealthy(w) })
	g = Gate{URL: url2, Deadline: 300 * time.Millisecond, Interval: 10 * time.Millisecond,
		Alive: func(context.Context) (bool, error) { return false, errors.New("cannot read pidfile") }}
	_, err := g.Wait(context.Background())
	if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "checking the process also failed: cannot read pidfile") {
		t.Errorf("Wait error = %v, want ErrUnhealthy mentioning the failed check", err)
	}
}

func TestGateContextCancel(t *testing.T) {
	second := make(chan struct{})
	url, _ := server(t, func(n int64, w http.ResponseWriter, _ *http.Request) {
		if n == 2 {
			close(second)
		}
		unhealthy(w)
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Gate{URL: url, Deadline: time.Minute, Interval: 10 * time.Millisecond}.Wait(ctx)
		done <- err
	}()
	select {
	case <-second:
	case <-time.After(15 * time.Second):
		t.Fatal("the gate did not probe twice")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnhealthy) {
			t.Errorf("Wait error = %v, want context.Canceled and not ErrUnhealthy", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Wait ignored the cancelled context")
	}
}

func TestGateDefaults(t *testing.T) {
	g := Gate{}.withDefaults()
	want := Gate{ProbeTimeout: 2 * time.Second, Deadline: 60 * time.Second, Interval: time.Second, SuccessThreshold: 3, FailureThreshold: 3}
	if g.ProbeTimeout != want.ProbeTimeout || g.Deadline != want.Deadline || g.Interval != want.Interval ||
		g.SuccessThreshold != want.SuccessThreshold || g.FailureThreshold != want.FailureThreshold {
		t.Errorf("defaults = %+v, want %+v", g, want)
	}
	if _, err := (Gate{URL: "not a url"}).Wait(context.Background()); !errors.Is(err, ErrInvalidURL) {
		t.Errorf("Wait with a bad URL = %v, want ErrInvalidURL", err)
	}
}

// An app whose health endpoint reports no version is judged by its status
// code: the version check applies only to answers that carry one.
func TestGateAcceptsAnswersWithoutVersion(t *testing.T) {
	url, hits := server(t, func(_ int64, w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "OK") })
	g := Gate{URL: url, ExpectVersion: "v1.1.0", Deadline: 5 * time.Second, Interval: 10 * time.Millisecond}
	obs, err := g.Wait(context.Background())
	if err != nil || obs.Version != "" || hits.Load() != 3 {
		t.Fatalf("Wait = %+v, %v after %d probes; want success after 3", obs, err, hits.Load())
	}
}
