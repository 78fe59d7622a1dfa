package api_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// routes are every /api/v1 route with a request that would change
// something if it were let through.
var routes = []request{
	{method: http.MethodGet, path: "/api/v1/status"},
	{method: http.MethodGet, path: "/api/v1/releases?refresh=true"},
	{method: http.MethodPost, path: "/api/v1/update", body: `{"version":"v1.2.0"}`},
	{method: http.MethodPost, path: "/api/v1/rollback", body: `{}`},
	{method: http.MethodPost, path: "/api/v1/retry", body: `{"version":"v1.1.0"}`},
	{method: http.MethodGet, path: "/api/v1/history"},
	{method: http.MethodGet, path: "/api/v1/backups"},
	{method: http.MethodGet, path: "/api/v1/events"},
	{method: http.MethodGet, path: "/api/v1/no-such-route"},
	{method: http.MethodGet, path: "/metrics"},
}

// TestEveryRouteRefusesWithoutTheRightCredentials: without a token, with
// a wrong one, to a foreign Host, and (for POST) from a foreign Origin,
// every route is refused with its status and code, and desired.yaml and
// status.yaml are byte for byte what they were; the event stream is never
// reached.
func TestEveryRouteRefusesWithoutTheRightCredentials(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	before := f.fileHashes()
	cases := []struct {
		name   string
		adapt  func(r request) request
		post   bool // only for state-changing routes
		status int
		code   string
	}{
		{"no token", func(r request) request { return r }, false, http.StatusUnauthorized, "unauthorized"},
		{"wrong token", func(r request) request { r.token = "bput_" + strings.Repeat("A", 43); return r }, false, http.StatusUnauthorized, "unauthorized"},
		{"basic", func(r request) request {
			r.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+f.token))
			return r
		}, false, http.StatusUnauthorized, "unauthorized"},
		{"token as scheme", func(r request) request { r.auth = f.token; return r }, false, http.StatusUnauthorized, "unauthorized"},
		{"foreign host", func(r request) request { r.token = f.token; r.host = "attacker.example:8079"; return r }, false, http.StatusForbidden, "forbidden_host"},
		{"rebinding host", func(r request) request { r.token = f.token; r.host = "127.0.0.1.attacker.example"; return r }, false, http.StatusForbidden, "forbidden_host"},
		{"foreign origin", func(r request) request { r.token = f.token; r.origin = "https://attacker.example"; return r }, true, http.StatusForbidden, "forbidden_origin"},
		{"null origin", func(r request) request { r.token = f.token; r.origin = "null"; return r }, true, http.StatusForbidden, "forbidden_origin"},
		{"own origin of another port", func(r request) request {
			r.token = f.token
			r.origin = "http://127.0.0.1:1"
			return r
		}, true, http.StatusForbidden, "forbidden_origin"},
	}
	for _, c := range cases {
		for _, rt := range routes {
			if c.post && rt.method != http.MethodPost {
				continue
			}
			t.Run(c.name+" "+rt.method+" "+rt.path, func(t *testing.T) {
				a := f.do(c.adapt(rt))
				if a.code != c.status || a.errorCode() != c.code {
					t.Errorf("HTTP %d %s, want %d %s: %s", a.code, a.errorCode(), c.status, c.code, a.body)
				}
				if c.status == http.StatusUnauthorized && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", a.header.Get("WWW-Authenticate"))
				}
				if ct := a.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
					t.Errorf("Content-Type = %q", ct)
				}
			})
			// Wrong tokens spend the client's attempts; a minute gives them back.
			f.clock.Add(time.Minute)
		}
	}
	if got := f.fileHashes(); got != before {
		t.Errorf("refused requests changed the files:\n%s\n%s", before, got)
	}
	if n := f.events.Load(); n != 0 {
		t.Errorf("refused requests reached the event stream %d times", n)
	}
	if n := f.scrapes.Load(); n != 0 {
		t.Errorf("refused requests reached the metrics %d times", n)
	}
}

// TestHealthzAndPageNeedNoToken: /healthz answers without a token (but
// still checks the Host); the page is served without one; without a page
// / is a JSON 404.
func TestHealthzAndPageNeedNoToken(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<!doctype html>page") })
	f := newFixture(t, fixtureOptions{page: page})
	if a := f.do(request{method: http.MethodGet, path: "/healthz"}); a.code != http.StatusOK || strings.TrimSpace(string(a.body)) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", a.code, a.body)
	}
	if a := f.do(request{method: http.MethodGet, path: "/healthz", host: "attacker.example"}); a.code != http.StatusForbidden || a.errorCode() != "forbidden_host" {
		t.Errorf("healthz to a foreign host: %d %s", a.code, a.body)
	}
	for _, p := range []string{"/", "/assets/app.js"} {
		if a := f.do(request{method: http.MethodGet, path: p}); a.code != http.StatusOK || string(a.body) != "<!doctype html>page" || a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d %s %v", p, a.code, a.body, a.header)
		}
	}
	bare := newFixture(t, fixtureOptions{})
	if a := bare.do(request{method: http.MethodGet, path: "/"}); a.code != http.StatusNotFound || a.errorCode() != "not_found" {
		t.Errorf("no page: %d %s", a.code, a.body)
	}
}

// TestHostsAndOrigins: api.hosts names are answered; api.origins may
// POST and get CORS headers and preflights; other origins get none.
func TestHostsAndOrigins(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	for _, host := range []string{"updates.example.com", "UPDATES.example.com:443", "localhost:8079", "[::1]:8079", "127.0.0.2"} {
		if a := f.do(request{method: http.MethodGet, path: "/api/v1/history", token: f.token, host: host}); a.code != http.StatusOK {
			t.Errorf("Host %s: %d %s", host, a.code, a.body)
		}
	}
	dash := "https://dashboard.example.com"
	a := f.do(request{method: http.MethodOptions, path: "/api/v1/update", origin: dash})
	if a.code != http.StatusNoContent || a.header.Get("Access-Control-Allow-Origin") != dash ||
		!strings.Contains(a.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight from api.origins: %d %v", a.code, a.header)
	}
	if a := f.do(request{method: http.MethodOptions, path: "/api/v1/update", origin: "https://attacker.example"}); a.code != http.StatusForbidden || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from a foreign origin: %d %v", a.code, a.header)
	}
	a = f.do(request{method: http.MethodPost, path: "/api/v1/update", token: f.token, origin: dash, body: `{"version":"v1.2.0"}`})
	if a.code != http.StatusOK || a.header.Get("Access-Control-Allow-Origin") != dash {
		t.Errorf("POST from api.origins: %d %v %s", a.code, a.header, a.body)
	}
	// The page's own origin may POST and needs no CORS.
	own := "http://" + strings.TrimPrefix(f.srv.URL, "http://")
	if a := f.do(request{method: http.MethodPost, path: "/api/v1/update", token: f.token, origin: own, body: `{"version":"v1.3.0"}`}); a.code != http.StatusOK || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("POST from the own origin: %d %v %s", a.code, a.header, a.body)
	}
	// A foreign origin may read (the token still guards it) but gets no
	// CORS headers, so its page cannot see the answer.
	if a := f.do(request{method: http.MethodGet, path: "/api/v1/history", token: f.token, origin: "https://attacker.example"}); a.code != http.StatusOK || a.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from a foreign origin: %d %v", a.code, a.header)
	}
}

// TestStatusHistoryAndEvents: with the token, status shows desired.yaml
// with its generation and status.yaml as it marshals; history the
// history; events reaches the stream.
func TestStatusHistoryAndEvents(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	var st struct {
		Desired desired.State
		Status  status.VersionStatus
	}
	a := f.do(request{method: http.MethodGet, path: "/api/v1/status", token: f.token})
	if a.code != http.StatusOK {
		t.Fatalf("status: %d %s", a.code, a.body)
	}
	f.decode(a, &st)
	if st.Desired.File != f.cfg.DesiredFile || st.Desired.Version != "v1.1.0" || st.Desired.Generation != f.generation() || st.Desired.Error != "" {
		t.Errorf("desired = %+v", st.Desired)
	}
	if st.Status.CurrentVersion != "v1.1.0" || st.Status.LastKnownGood.Version != "v1.0.0" || len(st.Status.History) != 1 {
		t.Errorf("status = %+v", st.Status)
	}
	for _, field := range []string{`"currentVersion"`, `"currentCommit"`, `"lastKnownGood"`, `"history"`} {
		if !strings.Contains(string(a.body), field) {
			t.Errorf("status lacks %s: %s", field, a.body)
		}
	}

	// An unusable desired.yaml is described, not an error.
	if err := os.WriteFile(f.cfg.DesiredFile, []byte("spec: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st.Desired = desired.State{}
	f.decode(f.do(request{method: http.MethodGet, path: "/api/v1/status", token: f.token}), &st)
	if st.Desired.Error == "" || st.Desired.Version != "" || st.Desired.Generation != f.generation() {
		t.Errorf("unusable desired = %+v", st.Desired)
	}

	var h struct{ History []status.HistoryEntry }
	f.decode(f.do(request{method: http.MethodGet, path: "/api/v1/history", token: f.token}), &h)
	if len(h.History) != 1 || h.History[0].ID != "op-1" || h.History[0].Result != status.ResultSucceeded {
		t.Errorf("history = %+v", h.History)
	}

	a = f.do(request{method: http.MethodGet, path: "/api/v1/events", token: f.token})
	if a.code != http.StatusOK || a.header.Get("Content-Type") != "text/event-stream" || f.events.Load() != 1 {
		t.Errorf("events: %d %v, reached %d", a.code, a.header, f.events.Load())
	}
	if a := f.do(request{method: http.MethodPost, path: "/api/v1/status", token: f.token}); a.code != http.StatusMethodNotAllowed || a.errorCode() != "method_not_allowed" || a.header.Get("Allow") != "GET" {
		t.Errorf("POST status: %d %v %s", a.code, a.header, a.body)
	}
}

// TestUpdateWritesWhatSetWrites: POST update writes desired.yaml as `set`
// does, answers its new generation, and refuses a stale generation, a bad
// version and a malformed body, each with nothing written.
func TestUpdateWritesWhatSetWrites(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	gen := f.generation()
	a := f.do(request{method: http.MethodPost, path: "/api/v1/update", token: f.token, body: `{"version":"v1.2.0","ifGeneration":"` + gen + `"}`})
	if a.code != http.StatusOK {
		t.Fatalf("update: %d %s", a.code, a.body)
	}
	var ans struct{ Desired desired.State }
	f.decode(a, &ans)
	if ans.Desired.Version != "v1.2.0" || ans.Desired.Generation != f.generation() || ans.Desired.Generation == gen {
		t.Errorf("answer = %+v", ans.Desired)
	}
	d, err := spec.Load(f.cfg.DesiredFile)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d.Spec, spec.Spec{Version: "v1.2.0", Channel: spec.ChannelStable}) || d.Metadata.Name != "web-1" || d.Metadata.Annotations["owner"] != "ansible" {
		t.Errorf("desired.yaml = %+v", d)
	}

	written := f.fileHashes()
	for _, c := range []struct {
		name, body, contentType string
		status                  int
		code                    string
	}{
		{"stale generation", `{"version":"v1.3.0","ifGeneration":"` + gen + `"}`, "", http.StatusConflict, "conflict"},
		{"not a generation", `{"version":"v1.3.0","ifGeneration":"42"}`, "", http.StatusBadRequest, "bad_request"},
		{"bad version", `{"version":"1.3"}`, "", http.StatusBadRequest, "invalid_spec"},
		{"no version", `{}`, "", http.StatusBadRequest, "invalid_spec"},
		{"unknown field", `{"version":"v1.3.0","allowDowngrade":true}`, "", http.StatusBadRequest, "bad_request"},
		{"two values", `{"version":"v1.3.0"}{"version":"v1.4.0"}`, "", http.StatusBadRequest, "bad_request"},
		{"not JSON", `version=v1.3.0`, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType, "bad_request"},
		{"too large", `{"version":"` + strings.Repeat("v", 70<<10) + `"}`, "", http.StatusRequestEntityTooLarge, "bad_request"},
	} {
		a := f.do(request{method: http.MethodPost, path: "/api/v1/update", token: f.token, body: c.body, contentType: c.contentType})
		if a.code != c.status || a.errorCode() != c.code {
			t.Errorf("%s: %d %s, want %d %s: %s", c.name, a.code, a.errorCode(), c.status, c.code, a.body)
		}
	}
	if got := f.fileHashes(); got != written {
		t.Error("a refused update changed the files")
	}
	// latest is a version too.
	if a := f.do(request{method: http.MethodPost, path: "/api/v1/update", token: f.token, body: `{"version":"latest"}`}); a.code != http.StatusOK {
		t.Errorf("latest: %d %s", a.code, a.body)
	}
}

// TestRollbackPinsTheLastKnownGoodVersion: rollback pins lastKnownGood
// with allowDowngrade and the request time; a second one, or one when the
// last known good version runs, is a conflict.
func TestRollbackPinsTheLastKnownGoodVersion(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	a := f.do(request{method: http.MethodPost, path: "/api/v1/rollback", token: f.token, body: `{"ifGeneration":"` + f.generation() + `"}`})
	if a.code != http.StatusOK {
		t.Fatalf("rollback: %d %s", a.code, a.body)
	}
	var ans struct {
		Desired desired.State
		Version string
	}
	f.decode(a, &ans)
	d, err := spec.Load(f.cfg.DesiredFile)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Version != "v1.0.0" || !reflect.DeepEqual(d.Spec, spec.Spec{Version: "v1.0.0", Channel: spec.ChannelStable, AllowDowngrade: true}) ||
		d.Metadata.Annotations[spec.RollbackAnnotation] != "2026-05-01T12:00:00Z" || d.Metadata.Annotations["owner"] != "ansible" {
		t.Errorf("answer %+v, desired.yaml %+v", ans, d)
	}
	// A stale generation is a conflict, nothing written.
	before := f.fileHashes()
	if a := f.do(request{method: http.MethodPost, path: "/api/v1/rollback", token: f.token, body: `{"ifGeneration":"sha256:` + strings.Repeat("0", 64) + `"}`}); a.code != http.StatusConflict || a.errorCode() != "conflict" {
		t.Errorf("stale rollback: %d %s", a.code, a.body)
	}
	if f.fileHashes() != before {
		t.Error("a stale rollback changed the files")
	}
	// Once the last known good version runs and no good version came
	// before it, there is nothing to roll back to.
	st, err := status.Load(f.layout.Status)
	if err != nil {
		t.Fatal(err)
	}
	st.CurrentVersion = "v1.0.0"
	if err := status.Save(f.layout.Status, st); err != nil {
		t.Fatal(err)
	}
	before = f.fileHashes()
	a = f.do(request{method: http.MethodPost, path: "/api/v1/rollback", token: f.token})
	if a.code != http.StatusConflict || a.errorCode() != "conflict" || !strings.Contains(string(a.body), "the only version that has passed its health check") {
		t.Errorf("rollback to what runs: %d %s", a.code, a.body)
	}
	if f.fileHashes() != before {
		t.Error("a refused rollback changed the files")
	}
}

// TestRetryStampsTheAnnotation: retry writes what `retry` writes, with
// the injected clock's time; a version the pinned spec does not ask for
// is invalid_spec.
func TestRetryStampsTheAnnotation(t *testing.T) {
	f := newFixture(t, fixtureOptions{})
	a := f.do(request{method: http.MethodPost, path: "/api/v1/retry", token: f.token})
	if a.code != http.StatusOK {
		t.Fatalf("retry: %d %s", a.code, a.body)
	}
	d, err := spec.Load(f.cfg.DesiredFile)
	if err != nil {
		t.Fatal(err)
	}
	if stamp, v := d.RetryRequest(); stamp != "2026-05-01T12:00:00Z" || v != "" || d.Spec.Version != "v1.1.0" {
		t.Errorf("retry request %q %q, spec %+v", stamp, v, d.Spec)
	}
	before := f.fileHashes()
	if a := f.do(request{method: http.MethodPost, path: "/api/v1/retry", token: f.token, body: `{"version":"v1.0.0"}`}); a.code != http.StatusBadRequest || a.errorCode() != "invalid_spec" {
		t.Errorf("retry of another version: %d %s", a.code, a.body)
	}
	if err := os.Remove(f.cfg.DesiredFile); err != nil {
		t.Fatal(err)
	}
	if a := f.do(request{method: http.MethodPost, path: "/api/v1/retry", token: f.token}); a.code != http.StatusConflict || a.errorCode() != "conflict" {
		t.Errorf("retry without desired.yaml: %d %s", a.code, a.body)
	}
	if _, err := os.Stat(f.cfg.DesiredFile); !os.IsNotExist(err) {
		t.Errorf("a refused retry wrote desired.yaml (%v); before: %s", err, before)
	}
}

// TestEventsUnavailableWithoutABroker: no Options.Events is 503.
func TestEventsUnavailableWithoutABroker(t *testing.T) {
	f := newFixture(t, fixtureOptions{noEvents: true})
	if a := f.do(request{method: http.MethodGet, path: "/api/v1/events", token: f.token}); a.code != http.StatusServiceUnavailable || a.errorCode() != "unavailable" {
		t.Errorf("events without a broker: %d %s", a.code, a.body)
	}
}
