package github

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RateLimit is the REST API budget GitHub announced in the
// X-RateLimit-* headers of an answer.
type RateLimit struct {
	// Remaining is X-RateLimit-Remaining: requests left in the window.
	Remaining int
	// Limit is X-RateLimit-Limit, 0 when the answer did not say.
	Limit int
	// Reset is X-RateLimit-Reset, zero when the answer did not say.
	Reset time.Time
	// SeenAt is when the answer arrived (the local clock).
	SeenAt time.Time
}

// lastRateLimit is the budget of the newest answer seen by any Client of
// this process: the reconciler builds a Client per reconcile, so the
// budget cannot live in one.
var lastRateLimit struct {
	sync.Mutex
	rl RateLimit
	ok bool
}

// LastRateLimit returns the rate-limit budget announced by the newest
// GitHub answer any Client of this process received, and false when no
// answer carried X-RateLimit-Remaining yet (nothing was asked, or every
// listing came from the cache). It is for metrics: the budget is shared
// by every user of the token, so it may be lower by the time it is read.
func LastRateLimit() (RateLimit, bool) {
	lastRateLimit.Lock()
	defer lastRateLimit.Unlock()
	return lastRateLimit.rl, lastRateLimit.ok
}

// noteRateLimit remembers the budget h announces, if it announces one.
func noteRateLimit(h http.Header, now time.Time) {
	remaining, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	if err != nil || remaining < 0 {
		return
	}
	rl := RateLimit{Remaining: remaining, SeenAt: now}
	if n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit"))); err == nil && n >= 0 {
		rl.Limit = n
	}
	if secs, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64); err == nil && secs > 0 {
		rl.Reset = time.Unix(secs, 0)
	}
	lastRateLimit.Lock()
	defer lastRateLimit.Unlock()
	lastRateLimit.rl, lastRateLimit.ok = rl, true
}

// CacheFetchedAt returns when the listing in the cache file at path was
// last fetched or revalidated, whatever repository it is for; zero when
// the file holds no listing. A missing file is an error matching
// fs.ErrNotExist; a file that is not a release cache is an error too. It
// is for metrics: it reads the file without locking it, which is safe as
// the file is only ever replaced whole.
func CacheFetchedAt(path string) (time.Time, error) {
	fh, err := os.Open(path)
	if err != nil {
		return time.Time{}, err
	}
	defer fh.Close()
	var f struct {
		APIVersion string    `json:"apiVersion"`
		Kind       string    `json:"kind"`
		FetchedAt  time.Time `json:"fetchedAt"`
	}
	if err := json.NewDecoder(io.LimitReader(fh, maxCacheBytes)).Decode(&f); err != nil {
		return time.Time{}, fmt.Errorf("%w: cannot decode %s: %w", errCacheUnusable, path, err)
	}
	if f.APIVersion != CacheAPIVersion || f.Kind != CacheKind {
		return time.Time{}, fmt.Errorf("%w: %s has apiVersion %q and kind %q, want %q and %q",
			errCacheUnusable, path, f.APIVersion, f.Kind, CacheAPIVersion, CacheKind)
	}
	return f.FetchedAt, nil
}
