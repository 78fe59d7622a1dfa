package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHandlerServesThePageWithItsHeaders: the document and every asset it
// links answer with the security headers; the document is revalidated,
// assets linked with their digest are cacheable for a year.
func TestHandlerServesThePageWithItsHeaders(t *testing.T) {
	h := Handler(Options{})
	res := get(t, h, http.MethodGet, "/", nil)
	page := body(t, res)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("GET / = %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	wantHeaders := map[string]string{
		"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-cache",
	}
	for k, v := range wantHeaders {
		if got := res.Header.Get(k); got != v {
			t.Errorf("GET / %s = %q, want %q", k, got, v)
		}
	}
	if res.Header.Get("ETag") == "" {
		t.Error("GET / has no ETag")
	}

	// Nothing inline that the CSP would block, nothing from elsewhere.
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>[^<\s]`), // inline script
		regexp.MustCompile(`<style`),
		regexp.MustCompile(`\sstyle=`),
		regexp.MustCompile(`\son[a-z]+=`),
		regexp.MustCompile(`(?:src|href)="(?:https?:)?//`),
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("index.html holds %q, which the CSP blocks or which loads from elsewhere", m)
		}
	}

	links := regexp.MustCompile(`"assets/([a-z]+\.[a-z]+)\?v=([0-9a-f]{16})"`).FindAllStringSubmatch(page, -1)
	seen := map[string]bool{}
	for _, l := range links {
		seen[l[1]] = true
		res := get(t, h, http.MethodGet, "/assets/"+l[1]+"?v="+l[2], nil)
		b := body(t, res)
		if res.StatusCode != http.StatusOK || len(b) == 0 {
			t.Errorf("GET /assets/%s = %d, %d bytes", l[1], res.StatusCode, len(b))
		}
		if got := res.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("/assets/%s?v=<digest> Cache-Control = %q, want a year, immutable", l[1], got)
		}
		if res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("/assets/%s lacks the security headers: %v", l[1], res.Header)
		}
		if res.Header.Get("ETag") != `"`+l[2]+`"` {
			t.Errorf("/assets/%s ETag = %s, want the digest %s it is linked with", l[1], res.Header.Get("ETag"), l[2])
		}
		// Without the digest (or with another one) it is revalidated.
		if got := get(t, h, http.MethodGet, "/assets/"+l[1]+"?v=0000000000000000", nil).Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("/assets/%s with a stale digest Cache-Control = %q, want no-cache", l[1], got)
		}
	}
	for _, want := range []string{"app.js", "app.css", "icon.svg"} {
		if !seen[want] {
			t.Errorf("index.html does not link assets/%s with its digest; links: %v", want, links)
		}
	}
	for name, ct := range map[string]string{"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8", "icon.svg": "image/svg+xml"} {
		if got := get(t, h, http.MethodGet, "/assets/"+name, nil).Header.Get("Content-Type"); got != ct {
			t.Errorf("/assets/%s Content-Type = %q, want %q", name, got, ct)
		}
	}
}

// TestHandlerRevalidates: a browser holding the current document gets 304.
func TestHandlerRevalidates(t *testing.T) {
	h := Handler(Options{})
	etag := get(t, h, http.MethodGet, "/", nil).Header.Get("ETag")
	res := get(t, h, http.MethodGet, "/", map[string]string{"If-None-Match": etag})
	if res.StatusCode != http.StatusNotModified {
		t.Errorf("GET / If-None-Match: %s = %d, want 304", etag, res.StatusCode)
	}
	if res.Header.Get("Content-Security-Policy") == "" {
		t.Error("the 304 lacks the CSP")
	}
}

// TestHandlerRefusals: unknown paths and methods answer the API's JSON
// errors, with the security headers all the same.
func TestHandlerRefusals(t *testing.T) {
	h := Handler(Options{})
	for _, c := range []struct {
		method, target string
		code           int
		errCode        string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/assets/", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/assets/index.html", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/assets/../web.go", http.StatusNotFound, "not_found"},
		{http.MethodGet, "/static/app.js", http.StatusNotFound, "not_found"},
		{http.MethodPost, "/", http.StatusMethodNotAllowed, "method_not_allowed"},
		{http.MethodDelete, "/assets/app.js", http.StatusMethodNotAllowed, "method_not_allowed"},
	} {
		res := get(t, h, c.method, c.target, nil)
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal([]byte(body(t, res)), &e); err != nil {
			t.Errorf("%s %s: not a JSON error: %v", c.method, c.target, err)
		}
		if res.StatusCode != c.code || e.Error.Code != c.errCode || e.Error.Message == "" {
			t.Errorf("%s %s = %d %+v, want %d %s with a message", c.method, c.target, res.StatusCode, e.Error, c.code, c.errCode)
		}
		if res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s lacks the security headers", c.method, c.target)
		}
	}
	if allow := get(t, h, http.MethodPost, "/", nil).Header.Get("Allow"); allow != "GET, HEAD" {
		t.Errorf("405 Allow = %q", allow)
	}
	if res := get(t, h, http.MethodHead, "/", nil); res.StatusCode != http.StatusOK {
		t.Errorf("HEAD / = %d", res.StatusCode)
	}
}

// TestFrameAncestors: the configured sources go into the CSP; a value that
// would end the directive, or 'none' beside others, is refused by
// CheckFrameAncestors and makes the handler send 'none'.
func TestFrameAncestors(t *testing.T) {
	csp := func(sources ...string) string {
		return get(t, Handler(Options{FrameAncestors: sources}), http.MethodGet, "/", nil).Header.Get("Content-Security-Policy")
	}
	if got := csp("'self'", "https://dashboard.example.com", "http://localhost:3000"); !strings.Contains(got,
		"; frame-ancestors 'self' https://dashboard.example.com http://localhost:3000; ") {
		t.Errorf("CSP = %q", got)
	}
	good := [][]string{nil, {"'none'"}, {"'self'"}, {"https:"}, {"https://*.example.com"}, {"https://a.example:8443"},
		{"dashboard.example.com"}, {"https://a.example/embed/"}}
	for _, g := range good {
		if err := CheckFrameAncestors(g); err != nil {
			t.Errorf("CheckFrameAncestors(%q) = %v, want nil", g, err)
		}
	}
	bad := [][]string{
		{"https://a.example; script-src *"},
		{"https://a.example, https://b.example"},
		{"https://a.example https://b.example"},
		{"'unsafe-inline'"},
		{""},
		{"https://a.example\n"},
		{"'none'", "'self'"},
		{"https://ä.example"},
	}
	for _, b := range bad {
		err := CheckFrameAncestors(b)
		if err == nil || !strings.HasPrefix(err.Error(), "frameAncestors: ") {
			t.Errorf("CheckFrameAncestors(%q) = %v, want an error naming frameAncestors", b, err)
		}
		if got := csp(b...); !strings.Contains(got, "frame-ancestors 'none';") {
			t.Errorf("with %q the CSP is %q, want frame-ancestors 'none'", b, got)
		}
	}
}

// TestHandlerFirstRequestsAtOnce: the page is built on the first request;
// requests that come at once on a new handler all get the same document
// and assets as a handler already in use, the assets byte for byte as
// embedded.
func TestHandlerFirstRequestsAtOnce(t *testing.T) {
	warm := Handler(Options{})
	wantDoc := get(t, warm, http.MethodGet, "/", nil)
	wantBody, wantETag := body(t, wantDoc), wantDoc.Header.Get("ETag")
	js, err := static.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}

	cold := Handler(Options{})
	const n = 16
	type answer struct{ doc, etag, js string }
	answers := make(chan answer, n)
	for range n {
		go func() {
			// get and body may call t.Fatal, which only the test's
			// goroutine may: report through the channel instead.
			var a answer
			rec := httptest.NewRecorder()
			cold.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			a.doc, a.etag = rec.Body.String(), rec.Header().Get("ETag")
			rec = httptest.NewRecorder()
			cold.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/assets/app.js", nil))
			a.js = rec.Body.String()
			answers <- a
		}()
	}
	for range n {
		a := <-answers
		if a.doc != wantBody || a.etag != wantETag {
			t.Errorf("a first request got ETag %s and a %d-byte document, want %s and %d bytes", a.etag, len(a.doc), wantETag, len(wantBody))
		}
		if a.js != string(js) {
			t.Errorf("a first request got a %d-byte app.js, want the %d embedded bytes", len(a.js), len(js))
		}
	}
}
