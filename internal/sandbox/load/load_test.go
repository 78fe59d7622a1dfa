package load

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCountsAnswers: a load on a server that answers counts every request
// sent as OK, with its latency.
func TestCountsAnswers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer srv.Close()
	res := Start(t.Context(), Options{URL: srv.URL, Rate: 1000, MaxInFlight: 8, Requests: 50}).Wait()
	if res.Sent != 50 || res.OK != 50 || res.Bad() != 0 || res.First != nil {
		t.Fatalf("result %s, want 50 sent and answered", res)
	}
	if len(res.Latencies) != 50 || !slices.IsSorted(res.Latencies) || res.Latencies[0] <= 0 {
		t.Errorf("latencies %v, want 50, positive, shortest first", res.Latencies)
	}
	if p99 := res.P99(); p99 < res.Latencies[0] || p99 > res.Slowest() {
		t.Errorf("p99 %s outside [%s, %s]", p99, res.Latencies[0], res.Slowest())
	}
	if res.Took <= 0 || res.Rate() <= 0 {
		t.Errorf("took %s, rate %v: want both positive", res.Took, res.Rate())
	}
}

// TestCountsRefusals: every request to a port no one listens on is
// refused, and counted as refused, not failed.
func TestCountsRefusals(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	res := Start(t.Context(), Options{URL: "http://" + addr + "/", MaxInFlight: 2, Requests: 20}).Wait()
	if res.Sent != 20 || res.Refused != 20 || res.OK+res.Failed+res.Non2xx != 0 {
		t.Fatalf("result %s, want 20 refused", res)
	}
	if res.FirstRefused == nil || res.First != res.FirstRefused || res.FirstFailed != nil || len(res.Latencies) != 0 {
		t.Errorf("first errors %v / %v / %v, latencies %v: want the refusal only", res.First, res.FirstRefused, res.FirstFailed, res.Latencies)
	}
	if _, ok := res.Percentile(0.5); ok {
		t.Error("Percentile of no answers reported one")
	}
}

// TestCountsNon2xxAndFailures: a 503 is a non-2xx answer; a Do error that
// is neither a refusal nor a status is a failure.
func TestCountsNon2xxAndFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	res := Start(t.Context(), Options{URL: srv.URL, MaxInFlight: 1, Requests: 3}).Wait()
	var status *StatusError
	if res.Non2xx != 3 || res.Bad() != 3 || !errors.As(res.FirstNon2xx, &status) || status.Code != 503 {
		t.Errorf("result %s, want 3 answers 503", res)
	}
	if err := Get(t.Context(), srv.URL); !errors.As(err, &status) {
		t.Errorf("Get = %v, want a *StatusError", err)
	}

	wrong := errors.New("answered nonsense")
	res = Start(t.Context(), Options{Do: func(context.Context) error { return wrong }, MaxInFlight: 1, Requests: 2}).Wait()
	if res.Failed != 2 || res.FirstFailed != wrong || res.Refused+res.Non2xx+res.OK != 0 {
		t.Errorf("result %s, want 2 failed", res)
	}
}

// TestBoundsRequestsInFlight: with MaxInFlight 3, a fast rate and a server
// that holds every request, the fourth is not sent until one ends.
func TestBoundsRequestsInFlight(t *testing.T) {
	var open, most atomic.Int32
	arrived := make(chan struct{}, 100)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := open.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		arrived <- struct{}{}
		<-release
		open.Add(-1)
	}))
	defer srv.Close()
	run := Start(t.Context(), Options{URL: srv.URL, Rate: 10000, MaxInFlight: 3})
	for range 3 {
		<-arrived
	}
	if sent := run.Result().Sent; sent != 3 {
		t.Errorf("%d requests sent while 3 are held, want 3", sent)
	}
	close(release)
	res := run.Stop()
	if most.Load() > 3 || res.OK != res.Sent || res.Sent < 3 {
		t.Errorf("at most %d requests at once, result %s: want at most 3, all answered", most.Load(), res)
	}
}

// TestClosedLoop: with no rate, MaxInFlight clients send back to back;
// Stop waits for the requests in flight.
func TestClosedLoop(t *testing.T) {
	var open, most, done atomic.Int32
	var once sync.Once
	enough := make(chan struct{})
	run := Start(t.Context(), Options{MaxInFlight: 4, Timeout: time.Second, Do: func(ctx context.Context) error {
		n := open.Add(1)
		defer open.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("no deadline from Options.Timeout")
		}
		if done.Add(1) >= 100 {
			once.Do(func() { close(enough) })
		}
		return nil
	}})
	<-enough
	res := run.Stop()
	if res.OK < 100 || res.OK != res.Sent || res.Bad() != 0 || most.Load() > 4 {
		t.Errorf("result %s, at most %d at once: want 100 or more, all OK, at most 4 at once", res, most.Load())
	}
	if again := run.Stop(); again.Sent != res.Sent {
		t.Errorf("a second Stop reports %d sent, the first %d", again.Sent, res.Sent)
	}
}

func TestStartRefusesOptionsThatAreNoLoad(t *testing.T) {
	for _, o := range []Options{{}, {URL: "http://127.0.0.1:1/"}, {URL: "http://x/", Do: func(context.Context) error { return nil }, Rate: 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Start(%+v) did not panic", o)
				}
			}()
			Start(t.Context(), o).Stop()
		}()
	}
}

// TestWaitOK: WaitOK returns once n requests were answered, not before;
// it reports a load that ended with fewer, and a context that ended first.
func TestWaitOK(t *testing.T) {
	var answered atomic.Int32
	release := make(chan struct{})
	run := Start(t.Context(), Options{MaxInFlight: 1, Do: func(ctx context.Context) error {
		if answered.Load() == 5 {
			select { // the sixth waits until the test has looked
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		answered.Add(1)
		return nil
	}})
	if err := run.WaitOK(t.Context(), 5); err != nil {
		t.Fatalf("WaitOK(5): %v", err)
	}
	if ok := run.Result().OK; ok < 5 {
		t.Errorf("WaitOK(5) returned with %d answered", ok)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := run.WaitOK(ctx, 6); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitOK(6) with the sixth held and a canceled context = %v, want context.Canceled", err)
	}
	close(release)
	if err := run.WaitOK(t.Context(), 20); err != nil {
		t.Fatalf("WaitOK(20): %v", err)
	}
	res := run.Stop()
	if err := run.WaitOK(t.Context(), res.OK+1); err == nil {
		t.Errorf("WaitOK(%d) after Stop with %d answered = nil, want an error", res.OK+1, res.OK)
	}

	// A load that ends by itself with fewer answers than awaited.
	short := Start(t.Context(), Options{MaxInFlight: 2, Requests: 3, Do: func(context.Context) error { return nil }})
	if err := short.WaitOK(t.Context(), 4); err == nil {
		t.Errorf("WaitOK(4) on a load of 3 requests = nil, want an error")
	}
	if err := short.WaitOK(t.Context(), 3); err != nil {
		t.Errorf("WaitOK(3) on a load of 3 requests: %v", err)
	}
}
