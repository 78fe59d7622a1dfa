package github

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/releases"
)

// testToken looks like a real token so a leak would be obvious.
const testToken = "ghp_TESTSECRET0123456789abcdefABCDEF0123"

// fakeClock is the injected clock; the fake server reads it too, so its
// Date and X-RateLimit-Reset headers agree with the client's time, as
// GitHub's agree with real time.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recorded is what the fake server saw of one request.
type recorded struct {
	Path, RawQuery string
	Header         http.Header
}

// fakeGitHub is an httptest server on 127.0.0.1 that records every
// request and lets each test answer as GitHub would.
type fakeGitHub struct {
	*httptest.Server
	clock *fakeClock
	mu    sync.Mutex
	reqs  []recorded
	// handle answers request n (1-based).
	handle func(w http.ResponseWriter, r *http.Request, n int)
}

func newFake(t *testing.T, clock *fakeClock, handle func(w http.ResponseWriter, r *http.Request, n int)) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{clock: clock, handle: handle}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs = append(f.reqs, recorded{Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()})
		n := len(f.reqs)
		f.mu.Unlock()
		w.Header().Set("Date", clock.Now().UTC().Format(http.TimeFormat))
		f.handle(w, r, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeGitHub) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *fakeGitHub) req(t *testing.T, n int) recorded {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if n < 1 || n > len(f.reqs) {
		t.Fatalf("request %d not made; %d requests seen", n, len(f.reqs))
	}
	return f.reqs[n-1]
}

// rateHeaders sets GitHub's primary rate-limit headers.
func rateHeaders(w http.ResponseWriter, clock *fakeClock, remaining int, resetIn time.Duration) {
	w.Header().Set("X-RateLimit-Limit", "60")
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	w.Header().Set("X-RateLimit-Used", strconv.Itoa(60-remaining))
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(clock.Now().Add(resetIn).Unix(), 10))
	w.Header().Set("X-RateLimit-Resource", "core")
}

// serveReleases answers like GitHub: 304 when If-None-Match matches etag,
// else 200 with the body and the ETag.
func serveReleases(w http.ResponseWriter, r *http.Request, clock *fakeClock, etag string, body []byte) {
	rateHeaders(w, clock, 59, time.Hour)
	w.Header().Set("Cache-Control", "private, max-age=60, s-maxage=60")
	w.Header().Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
	if etag != "" && r.Header.Get("If-None-Match") == etag {
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	_, _ = w.Write(body)
}

// serveError answers with GitHub's error body shape.
func serveError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"message":           message,
		"documentation_url": "https://docs.github.com/rest",
		"status":            strconv.Itoa(code),
	})
}

// releaseJSON is one release in GitHub's shape, with the fields this
// package reads and a few it ignores.
func releaseJSON(tag string, prerelease bool) map[string]any {
	return map[string]any{
		"url":              "https://api.github.com/repos/acme/app/releases/1",
		"html_url":         "https://github.com/acme/app/releases/tag/" + tag,
		"id":               1,
		"tag_name":         tag,
		"target_commitish": "main",
		"name":             tag,
		"draft":            false,
		"prerelease":       prerelease,
		"created_at":       "2025-06-01T00:00:00Z",
		"published_at":     "2025-06-01T00:00:00Z",
		"assets":           []any{},
		"body":             "notes",
	}
}

func releasesBody(t *testing.T, tags ...string) []byte {
	t.Helper()
	list := make([]any, 0, len(tags))
	for _, tag := range tags {
		list = append(list, releaseJSON(tag, false))
	}
	b, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixture(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "releases.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newClient builds a Client talking to f with the fake clock and a short
// HTTP timeout, so a hung test fails fast.
func newClient(f *fakeGitHub, clock *fakeClock, cacheFile string) *Client {
	return &Client{
		BaseURL:    f.URL,
		Owner:      "acme",
		Name:       "app",
		CacheFile:  cacheFile,
		Now:        clock.Now,
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
	}
}

func versions(l releases.Listing) []string {
	var out []string
	for _, r := range l.Releases {
		out = append(out, r.Version)
	}
	return out
}

func mustList(t *testing.T, c *Client) releases.Listing {
	t.Helper()
	l, err := c.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if l.Stale != nil {
		t.Fatalf("List: unexpected Stale: %v", l.Stale)
	}
	return l
}

func wantCount(t *testing.T, f *fakeGitHub, want int) {
	t.Helper()
	if got := f.count(); got != want {
		t.Fatalf("server saw %d requests, want %d", got, want)
	}
}

func sameStrings(a, b []string) bool {
	return fmt.Sprint(a) == fmt.Sprint(b)
}
