package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestWrongTokensAreRateLimited: ten wrong tokens within a minute are
// answered 401; the 11th gets 429 with Retry-After (until the first of
// the ten is a minute old: 51 s on the injected clock), and so does the
// right token until then. A missing token is not an attempt.
func TestWrongTokensAreRateLimited(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	before := f.fileHashes()
	wrong := request{method: http.MethodPost, path: "/api/v1/update", token: "bput_" + strings.Repeat("x", 43), body: `{"version":"v9.0.0"}`}
	for range 5 {
		if a := f.do(request{method: http.MethodGet, path: "/api/v1/status"}); a.code != http.StatusUnauthorized {
			t.Fatalf("no token: %d", a.code)
		}
	}
	for i := 1; i <= 10; i++ {
		f.clock.Add(time.Second) // ten tries within a minute
		if a := f.do(wrong); a.code != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: %d %s, want 401", i, a.code, a.body)
		}
	}
	a := f.do(wrong)
	retry, _ := strconv.Atoi(a.header.Get("Retry-After"))
	if a.code != http.StatusTooManyRequests || a.errorCode() != "rate_limited" || retry != 51 {
		t.Errorf("11th wrong token: %d %s Retry-After %q, want 429 rate_limited, 51 s", a.code, a.errorCode(), a.header.Get("Retry-After"))
	}
	right := request{method: http.MethodGet, path: "/api/v1/status", token: f.token}
	if a := f.do(right); a.code != http.StatusTooManyRequests {
		t.Errorf("right token while limited: %d, want 429", a.code)
	}
	f.clock.Add(50 * time.Second)
	if a := f.do(right); a.code != http.StatusTooManyRequests {
		t.Errorf("right token a second before Retry-After: %d, want 429", a.code)
	}
	f.clock.Add(time.Second)
	if a := f.do(right); a.code != http.StatusOK {
		t.Errorf("right token after Retry-After: %d %s", a.code, a.body)
	}
	if a := f.do(wrong); a.code != http.StatusUnauthorized {
		t.Errorf("the attempt that came back: %d, want 401", a.code)
	}
	if a := f.do(wrong); a.code != http.StatusTooManyRequests {
		t.Errorf("and then: %d, want 429 again", a.code)
	}
	if f.fileHashes() != before {
		t.Error("refused requests changed the files")
	}
}
