package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/better-paas/updater/api"
	"github.com/better-paas/updater/internal/apitoken"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/metrics"
	"github.com/better-paas/updater/status"
)

// clock is the injected time of a test server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a real API server on 127.0.0.1 over a state folder with a
// desired.yaml, a status.yaml and a token.
type fixture struct {
	t      *testing.T
	dir    string
	cfg    *config.Config
	layout layout.Layout
	token  string
	clock  *clock
	srv    *httptest.Server
	events atomic.Int64 // requests that reached Options.Events
	// scrapes counts requests that reached Options.Metrics.
	scrapes atomic.Int64
}

const initialDesired = `apiVersion: updates.better-paas.io/v1
kind: DesiredVersion
metadata:
  name: web-1
  annotations:
    owner: ansible
spec:
  version: v1.1.0
  channel: stable
`

// fixtureOptions vary a fixture.
type fixtureOptions struct {
	install   string       // installDir; "" for a folder that is not a git checkout
	page      http.Handler // Options.Page
	noEvents  bool         // leave Options.Events nil
	noMetrics bool         // leave Options.Metrics nil
}

// newFixture builds the server.
func newFixture(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	dir := t.TempDir()
	install := o.install
	if install == "" {
		install = filepath.Join(dir, "install")
	}
	f := &fixture{t: t, dir: dir, clock: &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}}
	var err error
	f.cfg, err = config.Parse(filepath.Join(dir, "updater.yaml"), []byte(fmt.Sprintf(`apiVersion: updates.better-paas.io/v1
kind: UpdaterConfig
installDir: %s
stateDir: %s
desiredFile: %s
releases:
  source: git-tags
build:
  backend:
    command: ["go", "build", "-o", "$(OUTPUT)", "./backend"]
health:
  url: http://127.0.0.1:8080/api/health
api:
  listen: 127.0.0.1:0
  hosts: [updates.example.com]
  origins: ["https://dashboard.example.com"]
`, install, filepath.Join(dir, "state"), filepath.Join(dir, "desired.yaml"))))
	if err != nil {
		t.Fatal(err)
	}
	f.layout = layout.New(f.cfg)
	if err := f.layout.Create(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.cfg.DesiredFile, []byte(initialDesired), 0o644); err != nil {
		t.Fatal(err)
	}
	st := status.New()
	st.CurrentVersion, st.CurrentCommit = "v1.1.0", "1111111111111111111111111111111111111111"
	st.LastKnownGood = &status.Revision{Version: "v1.0.0", Commit: "0000000000000000000000000000000000000000"}
	st.AddHistory(status.HistoryEntry{ID: "op-1", From: "v1.0.0", To: "v1.1.0", Result: status.ResultSucceeded,
		StartedAt: f.clock.Now().Add(-time.Hour), FinishedAt: f.clock.Now().Add(-59 * time.Minute)})
	if err := status.Save(f.layout.Status, st); err != nil {
		t.Fatal(err)
	}
	if f.token, err = apitoken.Create(f.layout.APIToken); err != nil {
		t.Fatal(err)
	}
	var events http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.events.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, ": hello\n\n")
	})
	if o.noEvents {
		events = nil
	}
	var scrape http.Handler
	if !o.noMetrics {
		exporter := metrics.New(metrics.Options{Layout: f.layout, Version: "v9.9.9", Now: f.clock.Now, Log: testr.New(t)}).Handler()
		scrape = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.scrapes.Add(1)
			exporter.ServeHTTP(w, r)
		})
	}
	h := api.New(api.Options{
		Config: f.cfg, Layout: f.layout, Verifier: apitoken.NewVerifier(f.layout.APIToken),
		Events: events, Metrics: scrape, Page: o.page, Now: f.clock.Now, Log: testr.New(t),
	})
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// request is one HTTP request of a test.
type request struct {
	method, path string
	body         string
	token        string // "" sends no Authorization header
	auth         string // a raw Authorization header instead
	host         string // "" keeps the server's own
	origin       string
	contentType  string // defaults to application/json when there is a body
}

// answer is what came back.
type answer struct {
	code   int
	header http.Header
	body   []byte
}

// errorCode is the error code of a JSON error answer, "" when none.
func (a answer) errorCode() string {
	var e api.ErrorBody
	if json.Unmarshal(a.body, &e) != nil {
		return ""
	}
	return e.Error.Code
}

func (f *fixture) do(r request) answer {
	f.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = bytes.NewBufferString(r.body)
	}
	req, err := http.NewRequest(r.method, f.srv.URL+r.path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.auth != "" {
		req.Header.Set("Authorization", r.auth)
	}
	if r.host != "" {
		req.Host = r.host
	}
	if r.origin != "" {
		req.Header.Set("Origin", r.origin)
	}
	switch {
	case r.contentType != "":
		req.Header.Set("Content-Type", r.contentType)
	case r.body != "":
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return answer{code: resp.StatusCode, header: resp.Header, body: b}
}

// decode decodes a JSON answer into v.
func (f *fixture) decode(a answer, v any) {
	f.t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		f.t.Fatalf("answer %d is not JSON: %v\n%s", a.code, err, a.body)
	}
}

// fileHashes hashes desired.yaml and status.yaml.
func (f *fixture) fileHashes() string {
	f.t.Helper()
	out := ""
	for _, p := range []string{f.cfg.DesiredFile, f.layout.Status} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		out += filepath.Base(p) + "=" + hex.EncodeToString(sum[:]) + " "
	}
	return out
}

// generation is desired.yaml's current generation.
func (f *fixture) generation() string {
	f.t.Helper()
	b, err := os.ReadFile(f.cfg.DesiredFile)
	if err != nil {
		f.t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
