package github

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// failure is one way GitHub can fail, and what List must make of it.
type failure struct {
	name   string
	handle func(t *testing.T, w http.ResponseWriter, r *http.Request)
	check  func(t *testing.T, err error)
}

func isErr(target error) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if !errors.Is(err, target) {
			t.Fatalf("err = %v, want %v", err, target)
		}
	}
}

func statusIs(code int, kind error, hints ...string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != code || se.Kind != kind {
			t.Fatalf("err = %v, want a StatusError %d of kind %v", err, code, kind)
		}
		if kind != nil && !errors.Is(err, kind) {
			t.Fatalf("errors.Is(%v, %v) is false", err, kind)
		}
		for _, h := range hints {
			if !strings.Contains(err.Error(), h) {
				t.Errorf("error %q does not say %q", err, h)
			}
		}
	}
}

// failures echo the token in GitHub's message where they can, to prove
// it is redacted.
var failures = []failure{
	{"401 bad credentials", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		serveError(w, http.StatusUnauthorized, "Bad credentials for "+testToken)
	}, statusIs(401, ErrAuth, "Bad credentials", "check that the token is valid")},
	{"403 without rate-limit signs", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		rateHeaders(w, newClock(), 4999, time.Hour)
		serveError(w, http.StatusForbidden, "Resource not accessible by personal access token")
	}, statusIs(403, ErrAuth, "can read acme/app")},
	{"404", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		serveError(w, http.StatusNotFound, "Not Found")
	}, statusIs(404, ErrNotFound, "check that acme/app exists on http://127.0.0.1", "private")},
	{"500", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		serveError(w, http.StatusInternalServerError, "Server Error")
	}, statusIs(500, nil, "unexpected HTTP 500")},
	{"502 with an HTML body", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte("<html>Unicorn!</html>"))
	}, statusIs(502, nil)},
	{"invalid JSON", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`[{"tag_name": "v1.0.0", `))
	}, isErr(ErrInvalidResponse)},
	{"an object instead of a list", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"message": "Moved Permanently"}`))
	}, isErr(ErrInvalidResponse)},
	{"body over the cap with Content-Length", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		body := "[" + strings.Repeat(" ", 4096) + "]"
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write([]byte(body))
	}, isErr(ErrTooLarge)},
	{"body over the cap without Content-Length", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("["))
		w.(http.Flusher).Flush() // chunked: the length is not announced
		for range 100 {
			if _, err := w.Write([]byte(strings.Repeat(" ", 100))); err != nil {
				return
			}
		}
	}, isErr(ErrTooLarge)},
	{"endless body", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("["))
		chunk := []byte(strings.Repeat(" ", 1024))
		for {
			// Stops when the client hangs up at the cap.
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}, isErr(ErrTooLarge)},
	{"body that never ends (timeout)", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("[ "))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the client must give up
	}, isErr(context.DeadlineExceeded)},
	{"no answer at all (timeout)", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}, isErr(context.DeadlineExceeded)},
	{"304 to an unconditional request", func(t *testing.T, w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == "" {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		serveError(w, http.StatusInternalServerError, "Server Error")
	}, func(t *testing.T, err error) {
		var se *StatusError
		if !errors.Is(err, ErrInvalidResponse) && !errors.As(err, &se) {
			t.Fatalf("err = %v", err)
		}
	}},
}

// failingClient has a token to leak, a small body cap and a short
// timeout, so the failures above are quick.
func failingClient(f *fakeGitHub, clock *fakeClock, cacheFile string) *Client {
	c := newClient(f, clock, cacheFile)
	c.Token = testToken
	c.MaxBodyBytes = 1024
	c.HTTPClient = &http.Client{Timeout: 300 * time.Millisecond}
	return c
}

// TestFailuresWithoutCacheReturnErrors: with nothing cached, each failure
// is an error of the documented kind, phrased "cannot list releases of
// acme/app", without the token.
func TestFailuresWithoutCacheReturnErrors(t *testing.T) {
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) { tt.handle(t, w, r) })
			c := failingClient(f, clock, filepath.Join(t.TempDir(), "cache.json"))
			l, err := c.List(context.Background())
			if err == nil {
				t.Fatalf("no error; listing %+v", l)
			}
			if !strings.HasPrefix(err.Error(), "cannot list releases of acme/app: ") {
				t.Errorf("error %q is not phrased as the convention says", err)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("error leaks the token: %v", err)
			}
			tt.check(t, err)
			if errors.Is(err, ErrRateLimited) {
				t.Fatalf("not a rate limit: %v", err)
			}
			// Not a rate limit, so nothing holds the next call back and
			// nothing was retried behind the caller's back.
			wantCount(t, f, 1)
			_, _ = c.List(context.Background())
			wantCount(t, f, 2)
			if data, err := os.ReadFile(c.CacheFile); err == nil && strings.Contains(string(data), testToken) {
				t.Fatal("cache file leaks the token")
			}
		})
	}
}

// TestFailuresWithCacheServeStale: with a cached answer, every failure
// returns it, marked Stale with the error, keeping its FetchedAt.
func TestFailuresWithCacheServeStale(t *testing.T) {
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
				if n == 1 {
					serveReleases(w, r, clock, `"good"`, releasesBody(t, "v1.0.0", "v1.10.0"))
					return
				}
				tt.handle(t, w, r)
			})
			c := failingClient(f, clock, filepath.Join(t.TempDir(), "cache.json"))
			good := mustList(t, c)
			clock.Add(DefaultTTL + time.Minute)

			l, err := c.List(context.Background())
			if err != nil {
				t.Fatalf("err = %v, want the stale cache", err)
			}
			if l.Stale == nil || !l.FetchedAt.Equal(good.FetchedAt) || !sameStrings(versions(l), []string{"v1.10.0", "v1.0.0"}) {
				t.Fatalf("listing = %+v, want the cached one, stale, fetched at %v", l, good.FetchedAt)
			}
			if strings.Contains(l.Stale.Error(), testToken) {
				t.Fatalf("Stale leaks the token: %v", l.Stale)
			}
			tt.check(t, l.Stale)
			wantCount(t, f, 2)
			// The failure did not touch the persisted answer: a restart
			// still has it (and revalidates, the TTL being over).
			l2, err := failingClient(f, clock, c.CacheFile).List(context.Background())
			if err != nil || !l2.FetchedAt.Equal(good.FetchedAt) {
				t.Fatalf("after restart: %+v, %v", l2, err)
			}
		})
	}
}

// TestContextStopsEndlessBody: with the default client (10 s timeout),
// the caller's context still stops a body that never ends.
func TestContextStopsEndlessBody(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		_, _ = w.Write([]byte("["))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	c := newClient(f, clock, "")
	c.HTTPClient = nil
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.List(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("List took %v after its context ended", d)
	}
}

// TestConnectionRefused: nothing listening is an error, or stale.
func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := &Client{BaseURL: "http://" + addr, Owner: "acme", Name: "app", Token: testToken}
	_, err = c.List(context.Background())
	var opErr *net.OpError
	if !errors.As(err, &opErr) || strings.Contains(err.Error(), testToken) {
		t.Fatalf("err = %v, want a connection error without the token", err)
	}
}
