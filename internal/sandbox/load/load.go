// Package load puts a client load on a server on this machine, each
// request on a fresh connection, and counts what the clients saw: answers,
// refused connections, other failures and non-2xx answers, with the
// latency of every answer. The hand-over tests and the bench use it to show
// that an update or a restart refuses no connection.
//
// A load is open-loop (Options.Rate: request i starts at start + i/Rate
// whatever the others do, as independent clients would send them) or
// closed-loop (Rate 0: MaxInFlight clients, each sending its next request
// as soon as its last one ended). A typical test:
//
//	run := load.Start(t.Context(), load.Options{URL: "http://" + addr + "/api/notes", Rate: 333, MaxInFlight: 64})
//	... restart the app ...
//	res := run.Stop()
//	if res.Bad() != 0 {
//		t.Errorf("%d requests refused or failed: %s", res.Bad(), res)
//	}
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sync"
	"syscall"
	"time"
)

// Options say what a load sends and how fast. Exactly one of URL and Do is
// set, and Rate or MaxInFlight (or both) is positive.
type Options struct {
	// URL is fetched with a GET per request, on a fresh connection (no
	// keep-alive, no proxy); the body is read to its end.
	URL string
	// Do makes one request, for a protocol other than HTTP; it must open
	// its own connection. Its error is classified like a GET's: one
	// wrapping ECONNREFUSED is a refusal, a *StatusError a non-2xx answer,
	// any other a failure.
	Do func(ctx context.Context) error
	// Rate is the offered load in requests per second, open-loop: request
	// i is due at start + i/Rate, and one that is late (a busy machine)
	// starts at once, so the rate holds on average. 0 is a closed loop of
	// MaxInFlight clients.
	Rate float64
	// MaxInFlight bounds the requests open at once; 0 is no bound. With a
	// Rate, a request due while all are open waits for one to end, and the
	// schedule goes on from then: the bound holds the load back rather than
	// letting it catch up in a burst. On a loaded machine an unbounded
	// load can pile up thousands of connections and starve itself, so that
	// it, not the server, drops them.
	MaxInFlight int
	// Requests ends the load by itself after that many requests (see
	// Run.Wait); 0 is no limit.
	Requests int
	// Timeout bounds each request, its wait in a backlog included; 0 is
	// 30 s.
	Timeout time.Duration
}

// StatusError is a non-2xx answer.
type StatusError struct {
	Code   int
	Status string // as the server sent it, "503 Service Unavailable"
}

func (e *StatusError) Error() string { return "answered " + e.Status }

// Result counts the requests of a load. Every request that was sent is
// counted once, in OK, Refused, Failed or Non2xx, once it ended.
type Result struct {
	Sent    int // requests started
	OK      int // answered, 2xx for HTTP
	Refused int // the connection was refused (ECONNREFUSED)
	Failed  int // any other error: a timeout, a reset, a wrong answer
	Non2xx  int // answered with a status outside 200-299

	// The first error of each kind, and of any kind, in the order the
	// requests ended; nil where there was none.
	First, FirstRefused, FirstFailed, FirstNon2xx error

	// Latencies of the OK requests, from sending to the end of the answer,
	// shortest first.
	Latencies []time.Duration
	// Took is how long the load sent requests: from Start to Stop (or to
	// the last request, or the end of the context).
	Took time.Duration
}

// Bad is the number of requests that were not answered with success:
// Refused + Failed + Non2xx.
func (r Result) Bad() int { return r.Refused + r.Failed + r.Non2xx }

// Rate is the load sent, in requests per second.
func (r Result) Rate() float64 {
	if r.Took <= 0 {
		return 0
	}
	return float64(r.Sent) / r.Took.Seconds()
}

// Percentile returns the q-quantile (0 <= q <= 1) of the latencies of the
// OK requests, interpolated linearly between the closest ranks, and false
// when there is none.
func (r Result) Percentile(q float64) (time.Duration, bool) {
	n := len(r.Latencies)
	if n == 0 {
		return 0, false
	}
	pos := q * float64(n-1)
	lo, hi := int(math.Floor(pos)), int(math.Ceil(pos))
	d := float64(r.Latencies[lo]) + float64(r.Latencies[hi]-r.Latencies[lo])*(pos-float64(lo))
	return time.Duration(d), true
}

// P99 is the 99th percentile of the latencies, 0 when there is none.
func (r Result) P99() time.Duration { d, _ := r.Percentile(0.99); return d }

// Slowest is the longest latency of an OK request, 0 when there is none.
func (r Result) Slowest() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[len(r.Latencies)-1]
}

// String sums the result up in one line for a test log.
func (r Result) String() string {
	s := fmt.Sprintf("%d ok, %d refused, %d failed, %d non-2xx of %d sent in %s (%.0f requests/s); p99 %s, slowest %s",
		r.OK, r.Refused, r.Failed, r.Non2xx, r.Sent, r.Took.Round(time.Millisecond), r.Rate(),
		r.P99().Round(time.Microsecond), r.Slowest().Round(time.Microsecond))
	for _, e := range []struct {
		kind string
		err  error
	}{{"refused", r.FirstRefused}, {"failed", r.FirstFailed}, {"non-2xx", r.FirstNon2xx}} {
		if e.err != nil {
			s += fmt.Sprintf("; first %s: %v", e.kind, e.err)
		}
	}
	return s
}

// Run is a load being sent. Its methods may be called from any goroutine.
type Run struct {
	do      func(context.Context) error
	ctx     context.Context // the requests'
	stop    context.CancelFunc
	sending chan struct{} // closed when no further request will start
	slots   chan struct{} // one per request in flight; nil without a bound
	wg      sync.WaitGroup
	begun   time.Time

	mu    sync.Mutex
	res   Result        // Took set when sending ends
	ended chan struct{} // closed, and replaced, when a request ends
}

// Start starts sending the load o describes, until Stop, o.Requests, or
// the end of ctx, which also cancels the requests in flight (they count as
// failed). It panics on Options that do not describe a load.
func Start(ctx context.Context, o Options) *Run {
	if (o.URL == "") == (o.Do == nil) {
		panic("load.Start: set exactly one of Options.URL and Options.Do")
	}
	if o.Rate < 0 || o.MaxInFlight < 0 || o.Requests < 0 || (o.Rate == 0 && o.MaxInFlight == 0) {
		panic(fmt.Sprintf("load.Start: Rate %v, MaxInFlight %d, Requests %d: want Rate or MaxInFlight positive, none negative",
			o.Rate, o.MaxInFlight, o.Requests))
	}
	r := &Run{do: o.Do, ctx: ctx, sending: make(chan struct{}), ended: make(chan struct{}), begun: time.Now()}
	if r.do == nil {
		timeout := o.Timeout
		if timeout == 0 {
			timeout = 30 * time.Second
		}
		client := &http.Client{Timeout: timeout, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
		r.do = func(ctx context.Context) error { return get(ctx, client, o.URL) }
	} else if o.Timeout > 0 {
		do := o.Do
		r.do = func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, o.Timeout)
			defer cancel()
			return do(ctx)
		}
	}
	if o.MaxInFlight > 0 {
		r.slots = make(chan struct{}, o.MaxInFlight)
	}
	var loop context.Context
	loop, r.stop = context.WithCancel(ctx)
	go r.send(loop, o)
	return r
}

// send starts the requests until loop ends or o.Requests are sent.
func (r *Run) send(loop context.Context, o Options) {
	defer close(r.sending)
	defer func() {
		r.mu.Lock()
		r.res.Took = time.Since(r.begun)
		r.mu.Unlock()
	}()
	var every time.Duration
	if o.Rate > 0 {
		every = time.Duration(float64(time.Second) / o.Rate)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	next := r.begun
	for sent := 0; o.Requests == 0 || sent < o.Requests; sent++ {
		if wait := time.Until(next); every > 0 && wait > 0 {
			timer.Reset(wait)
			select {
			case <-loop.Done():
				return
			case <-timer.C:
			}
		}
		if r.slots != nil {
			select {
			case r.slots <- struct{}{}:
			default: // all busy: wait, then go on from now
				select {
				case r.slots <- struct{}{}:
				case <-loop.Done():
					return
				}
				next = time.Now()
			}
		}
		if loop.Err() != nil {
			if r.slots != nil {
				<-r.slots
			}
			return
		}
		r.mu.Lock()
		r.res.Sent++
		r.mu.Unlock()
		r.wg.Go(r.one)
		next = next.Add(every)
	}
}

// one makes one request and counts it.
func (r *Run) one() {
	if r.slots != nil {
		defer func() { <-r.slots }()
	}
	begun := time.Now()
	err := r.do(r.ctx)
	took := time.Since(begun)
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() { // wakes WaitOK, under the lock
		close(r.ended)
		r.ended = make(chan struct{})
	}()
	res := &r.res
	if err == nil {
		res.OK++
		res.Latencies = append(res.Latencies, took)
		return
	}
	if res.First == nil {
		res.First = err
	}
	var status *StatusError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		res.Refused++
		if res.FirstRefused == nil {
			res.FirstRefused = err
		}
	case errors.As(err, &status):
		res.Non2xx++
		if res.FirstNon2xx == nil {
			res.FirstNon2xx = err
		}
	default:
		res.Failed++
		if res.FirstFailed == nil {
			res.FirstFailed = err
		}
	}
}

// Result returns the counts so far, of the requests that have ended.
func (r *Run) Result() Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	res := r.res
	res.Latencies = slices.Clone(res.Latencies)
	slices.Sort(res.Latencies)
	select {
	case <-r.sending:
	default:
		res.Took = time.Since(r.begun)
	}
	return res
}

// WaitOK waits until at least n requests of the load have been answered
// with success, so that a test can make sure the load runs before, and goes
// on after, what it puts under load, instead of counting on how long that
// took. It returns an error, with the counts so far, when ctx ends first or
// the load ended (Stop, Options.Requests, its context) with fewer answers.
func (r *Run) WaitOK(ctx context.Context, n int) error {
	for {
		var over bool // no request starts any more: Sent is final
		select {
		case <-r.sending:
			over = true
		default:
		}
		r.mu.Lock()
		res, ended := r.res, r.ended
		r.mu.Unlock()
		switch {
		case res.OK >= n:
			return nil
		case over && res.OK+res.Bad() == res.Sent:
			return fmt.Errorf("the load ended with %d of the %d answers awaited (%d sent, %d not answered with success)",
				res.OK, n, res.Sent, res.Bad())
		}
		sending := r.sending
		if over {
			sending = nil // closed: look only for the requests still in flight
		}
		select {
		case <-ended:
		case <-sending:
		case <-ctx.Done():
			return fmt.Errorf("%d of the %d answers awaited (%d sent, %d not answered with success): %w",
				res.OK, n, res.Sent, res.Bad(), context.Cause(ctx))
		}
	}
}

// Stop ends the load: no further request starts. It returns the result
// once the requests in flight have ended. It may be called more than once,
// and after Wait.
func (r *Run) Stop() Result {
	r.stop()
	return r.Wait()
}

// Wait returns the result once the load has ended by itself (Options.Requests
// sent, or its context ended) and the requests in flight have ended. With
// neither, only Stop ends it.
func (r *Run) Wait() Result {
	<-r.sending
	r.wg.Wait()
	r.stop()
	return r.Result()
}

// Get fetches url on a fresh connection, as one request of a load does:
// nil for a 2xx answer read to its end, a *StatusError for another status.
// It waits at most 30 s.
func Get(ctx context.Context, url string) error {
	return get(ctx, defaultClient, url)
}

var defaultClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("cannot read the answer to GET %s: %w", url, err)
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	return nil
}
