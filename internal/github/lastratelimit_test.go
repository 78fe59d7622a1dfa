package github

import (
	"errors"
	"io/fs"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// The budget of the newest answer is kept for metrics, across Clients
// (the reconciler builds one per reconcile), and the cache's age is
// readable without a Client.
func TestLastRateLimitAndCacheFetchedAt(t *testing.T) {
	clock := newClock()
	body := fixture(t)
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `"v1"`, body)
	})
	cacheFile := filepath.Join(t.TempDir(), "cache.json")
	if _, err := CacheFetchedAt(cacheFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("CacheFetchedAt of a missing file: %v, want fs.ErrNotExist", err)
	}
	mustList(t, newClient(f, clock, cacheFile))
	rl, ok := LastRateLimit()
	if !ok || rl.Remaining != 59 || rl.Limit != 60 || !rl.SeenAt.Equal(clock.Now()) ||
		!rl.Reset.Equal(clock.Now().Add(time.Hour).Truncate(time.Second)) {
		t.Errorf("LastRateLimit() = %+v, %v; want 59 of 60 remaining, seen now, reset in an hour", rl, ok)
	}
	at, err := CacheFetchedAt(cacheFile)
	if err != nil || !at.Equal(clock.Now()) {
		t.Errorf("CacheFetchedAt = %v, %v; want %v", at, err, clock.Now())
	}
	if _, err := CacheFetchedAt(filepath.Join("testdata", "releases.json")); err == nil {
		t.Error("CacheFetchedAt read a file that is not a release cache")
	}
}
