package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/better-paas/updater/web"
)

// TestPageReadsTheEventStream checks the page's reader of
// /api/v1/events against a scripted stream, byte for byte what the
// text/event-stream format allows: CRLF line ends cut between CR and LF,
// comments, a retry field, an event whose data spans two lines. When the
// stream ends the page reconnects by itself, sending Last-Event-ID: the
// id of the last event it received, and the token in the Authorization
// header both times. (TestSoftwareUpdatesPage runs the page against the
// real daemon; this test pins the wire format the page must read.)
func TestPageReadsTheEventStream(t *testing.T) {
	skipEndToEnd(t)
	t.Parallel()
	chromiumPath(t)
	const token = "t0k3n-for-the-stream-test"
	type conn struct{ auth, lastEventID string }
	conns := make(chan conn, 10)
	second := make(chan struct{})
	mux := http.NewServeMux()
	mux.Handle("/", web.Handler(web.Options{}))
	answer := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+token {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, `{"error":{"code":"unauthorized","message":"Give the token."}}`)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, body)
		}
	}
	mux.Handle("/api/v1/status", answer(`{"desired":{"file":"desired.yaml","version":"v1.1.0","generation":"sha256:`+strings.Repeat("0", 64)+`"},
		"status":{"currentVersion":"v1.0.0","conditions":[{"type":"Ready","status":"True","reason":"UpToDate"}]}}`))
	mux.Handle("/api/v1/releases", answer(`{"currentVersion":"v1.0.0","latestVersion":"v1.0.0","source":"git tags","fetchedAt":"`+
		time.Now().UTC().Format(time.RFC3339)+`","releases":[]}`))
	mux.Handle("/api/v1/history", answer(`{"history":[]}`))
	mux.Handle("/api/v1/backups", answer(`{"backups":[]}`))
	mux.HandleFunc("/api/v1/events", func(w http.ResponseWriter, r *http.Request) {
		conns <- conn{auth: r.Header.Get("Authorization"), lastEventID: r.Header.Get("Last-Event-ID")}
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		flusher := w.(http.Flusher)
		write := func(parts ...string) {
			for _, p := range parts {
				fmt.Fprint(w, p)
				flusher.Flush()
			}
		}
		if r.Header.Get("Last-Event-ID") == "" {
			// The first connection: a step starts and logs a line; then the
			// stream ends, as when a proxy drops it.
			write("retry: 50\r\n\r\n", ": keepalive\r\n\r\n",
				"id: 7\r\nevent: step\r", "\ndata: {\"id\":7,\"time\":\"2026-11-30T12:00:00Z\",\"type\":\"step\",\"operation\":\"op-1\",",
				"\"step\":\"build-backend\",\"phase\":\"do\",\"state\":\"started\"}\r\n\r\n",
				"id: 8\nevent: log\ndata: {\"id\":8,\"type\":\"log\",\"operation\":\"op-1\",\n",
				"data: \"step\":\"build-backend\",\"line\":\"compiling example.com/app\"}\n\n")
			return
		}
		// The reconnection: what happened since.
		write("id: 9\nevent: step\ndata: {\"id\":9,\"time\":\"2026-11-30T12:00:02Z\",\"type\":\"step\",\"operation\":\"op-1\",\"step\":\"build-backend\",\"phase\":\"do\",\"state\":\"succeeded\",\"durationMs\":1234}\n\n")
		select {
		case <-r.Context().Done():
		case <-second:
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(second) })

	b := newBrowser(t, 1000, 900)
	b.do("open the page", chromedp.Navigate(srv.URL+"/"))
	b.wait("the token prompt", `document.getElementById('token-dialog').open`, 10*time.Second)
	b.do("type the token", chromedp.SendKeys(chromedp.CSS("#token-input"), token))
	b.click("#token-submit")
	b.wait("the step to finish", `(document.querySelector('#steps [data-step="build-backend"]') || {dataset: {}}).dataset.state === 'done'`, 15*time.Second)

	first, again := <-conns, <-conns
	if first.auth != "Bearer "+token || again.auth != "Bearer "+token {
		t.Errorf("the stream was asked for with Authorization %q, then %q", first.auth, again.auth)
	}
	if first.lastEventID != "" || again.lastEventID != "8" {
		t.Errorf("Last-Event-ID was %q, then %q; want none, then 8", first.lastEventID, again.lastEventID)
	}
	if got := b.text(`#steps [data-step="build-backend"] .step-time`); got != "1.2 s" {
		t.Errorf("the finished step shows %q, want its duration 1.2 s", got)
	}
	if got := eval[string](b, `document.getElementById('log').textContent`); !strings.Contains(got, "compiling example.com/app") {
		t.Errorf("the log line of a two-line data field is missing: %q", got)
	}
	b.checkConsole()
}
