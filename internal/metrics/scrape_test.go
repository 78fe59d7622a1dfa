package metrics

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/promtext"
)

// TestHandlerBoundsScrapesAtOnce: with maxScrapes scrapes in flight, one
// more is refused with 503 and a reason; once one ends, the next is
// answered in full, and a HEAD gets the headers only.
func TestHandlerBoundsScrapesAtOnce(t *testing.T) {
	dir := t.TempDir()
	c := New(Options{Layout: layout.Layout{Status: dir + "/status.yaml", Backups: dir + "/backups", ReleaseCache: dir + "/cache.json"}})
	h := c.Handler()
	for range maxScrapes {
		c.scrape <- struct{}{} // as many scrapes as allowed are in flight
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "too many scrapes") {
		t.Errorf("scrape %d answered %d %q, want 503 saying why", maxScrapes+1, rec.Code, rec.Body)
	}

	<-c.scrape // one ends
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != promtext.ContentType ||
		!strings.Contains(body, "\nbetter_paas_updater_status_readable 1\n") || !strings.Contains(body, "\ngo_goroutines ") {
		t.Fatalf("the next scrape answered %d %q:\n%s", rec.Code, rec.Header().Get("Content-Type"), body)
	}
	if got := rec.Header().Get("Content-Length"); got != strconv.Itoa(len(body)) {
		t.Errorf("Content-Length %s for %d bytes", got, len(body))
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/metrics", nil))
	if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") == "" {
		t.Errorf("HEAD answered %d with %d bytes, Content-Length %q", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Length"))
	}
	if n := len(c.scrape); n != maxScrapes-1 {
		t.Errorf("%d scrapes counted in flight after the answers, want the %d the test holds", n, maxScrapes-1)
	}
}
