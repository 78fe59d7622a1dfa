package github

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestRateLimitIsRespected: each way GitHub says "rate limited" makes the
// client wait until the reset without asking again, then ask once.
func TestRateLimitIsRespected(t *testing.T) {
	tests := []struct {
		name     string
		limit    func(w http.ResponseWriter, clock *fakeClock)
		wantWait time.Duration
	}{
		{"403 primary limit with X-RateLimit-Reset", func(w http.ResponseWriter, clock *fakeClock) {
			rateHeaders(w, clock, 0, 17*time.Minute)
			serveError(w, http.StatusForbidden, "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit.)")
		}, 17 * time.Minute},
		{"429 primary limit with X-RateLimit-Reset", func(w http.ResponseWriter, clock *fakeClock) {
			rateHeaders(w, clock, 0, 5*time.Minute)
			serveError(w, http.StatusTooManyRequests, "API rate limit exceeded")
		}, 5 * time.Minute},
		{"429 with Retry-After", func(w http.ResponseWriter, clock *fakeClock) {
			w.Header().Set("Retry-After", "120")
			serveError(w, http.StatusTooManyRequests, "You have exceeded a secondary rate limit.")
		}, 2 * time.Minute},
		{"403 with Retry-After and remaining quota", func(w http.ResponseWriter, clock *fakeClock) {
			rateHeaders(w, clock, 40, time.Hour)
			w.Header().Set("Retry-After", "90")
			serveError(w, http.StatusForbidden, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
		}, 90 * time.Second},
		{"403 with an HTTP-date Retry-After", func(w http.ResponseWriter, clock *fakeClock) {
			w.Header().Set("Retry-After", clock.Now().Add(3*time.Minute).UTC().Format(http.TimeFormat))
			serveError(w, http.StatusForbidden, "secondary rate limit")
		}, 3 * time.Minute},
		{"403 secondary limit with only a message", func(w http.ResponseWriter, clock *fakeClock) {
			rateHeaders(w, clock, 40, time.Hour)
			serveError(w, http.StatusForbidden, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
		}, time.Minute},
		{"429 without any header", func(w http.ResponseWriter, clock *fakeClock) {
			serveError(w, http.StatusTooManyRequests, "Too Many Requests")
		}, time.Minute},
		{"absurd Retry-After is capped at an hour", func(w http.ResponseWriter, clock *fakeClock) {
			w.Header().Set("Retry-After", "999999999")
			serveError(w, http.StatusTooManyRequests, "slow down")
		}, time.Hour},
		{"reset already past waits a minute", func(w http.ResponseWriter, clock *fakeClock) {
			rateHeaders(w, clock, 0, -time.Minute)
			serveError(w, http.StatusForbidden, "API rate limit exceeded")
		}, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			limited := true
			f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
				if limited {
					tt.limit(w, clock)
					return
				}
				serveReleases(w, r, clock, `"ok"`, releasesBody(t, "v1.0.0"))
			})
			path := filepath.Join(t.TempDir(), "github-releases.json")
			c := newClient(f, clock, path)
			start := clock.Now()

			_, err := c.List(context.Background())
			var rl *RateLimitError
			if !errors.Is(err, ErrRateLimited) || !errors.As(err, &rl) {
				t.Fatalf("err = %v, want a RateLimitError", err)
			}
			if want := start.Add(tt.wantWait); !rl.Reset.Equal(want) || rl.RetryAfter != tt.wantWait {
				t.Fatalf("Reset %v RetryAfter %v, want %v and %v", rl.Reset, rl.RetryAfter, want, tt.wantWait)
			}
			if errors.Is(err, ErrAuth) {
				t.Fatalf("a rate limit is not an auth error: %v", err)
			}
			wantCount(t, f, 1)

			// Just before the reset: no request, from this client, from a
			// restarted one, nor from Refresh.
			clock.Add(tt.wantWait - time.Second)
			_, err = c.List(context.Background())
			if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
				t.Fatalf("before reset: err = %v, want a RateLimitError with 1s left", err)
			}
			if _, err := newClient(f, clock, path).List(context.Background()); !errors.Is(err, ErrRateLimited) {
				t.Fatalf("restarted client before reset: err = %v", err)
			}
			if _, err := c.Refresh(context.Background()); !errors.Is(err, ErrRateLimited) {
				t.Fatalf("Refresh before reset: err = %v", err)
			}
			wantCount(t, f, 1)

			// At the reset: exactly one request.
			limited = false
			clock.Add(time.Second)
			l := mustList(t, c)
			if len(l.Releases) != 1 {
				t.Fatalf("after reset: %+v", l)
			}
			mustList(t, c)
			wantCount(t, f, 2)
		})
	}
}

// TestRateLimitWithCacheServesStale: rate-limited with a cached answer,
// List returns it with Stale set and no error.
func TestRateLimitWithCacheServesStale(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		if n == 1 {
			serveReleases(w, r, clock, `"ok"`, releasesBody(t, "v1.0.0"))
			return
		}
		rateHeaders(w, clock, 0, 20*time.Minute)
		serveError(w, http.StatusForbidden, "API rate limit exceeded")
	})
	c := newClient(f, clock, "")
	fetched := mustList(t, c).FetchedAt
	clock.Add(DefaultTTL)
	for i := range 3 {
		l, err := c.List(context.Background())
		if err != nil || !errors.Is(l.Stale, ErrRateLimited) || !l.FetchedAt.Equal(fetched) || len(l.Releases) != 1 {
			t.Fatalf("call %d: err %v, listing %+v", i, err, l)
		}
	}
	wantCount(t, f, 2)
}

// TestSpentBudgetOnSuccessIsRemembered: a 200 saying no requests remain
// stops Refresh from spending a request that would fail.
func TestSpentBudgetOnSuccessIsRemembered(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		// The budget is spent by this very answer.
		rateHeaders(w, clock, 0, 10*time.Minute)
		w.Header().Set("ETag", `"ok"`)
		_, _ = w.Write(releasesBody(t, "v1.0.0"))
	})
	c := newClient(f, clock, "")
	mustList(t, c)
	l, err := c.Refresh(context.Background())
	if err != nil || !errors.Is(l.Stale, ErrRateLimited) {
		t.Fatalf("Refresh = %+v, %v; want stale with a rate limit", l, err)
	}
	wantCount(t, f, 1)
	clock.Add(10 * time.Minute)
	if _, err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantCount(t, f, 2)
}

// TestRateLimitResetUsesServerDate: the wait is measured on the server's
// clock (Date header), so a local clock that is off does not matter.
func TestRateLimitResetUsesServerDate(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		server := clock.Now().Add(7 * time.Minute) // the server's clock is ahead
		w.Header().Set("Date", server.UTC().Format(http.TimeFormat))
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(server.Add(4*time.Minute).Unix(), 10))
		serveError(w, http.StatusForbidden, "API rate limit exceeded")
	})
	_, err := newClient(f, clock, "").List(context.Background())
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 4*time.Minute || !rl.Reset.Equal(clock.Now().Add(4*time.Minute)) {
		t.Fatalf("err = %v, want a 4 minute wait on the local clock", err)
	}
}
