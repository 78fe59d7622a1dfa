package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/apitoken"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/releases"
)

// Options configure the handler New builds.
type Options struct {
	// Config is updater.yaml: desired.yaml's path, the api block (hosts,
	// origins), the install for the release check. Required.
	Config *config.Config
	// Layout is the state folder: status.yaml, the backups. Required.
	Layout layout.Layout
	// Verifier checks bearer tokens against the stored hash. Required.
	Verifier *apitoken.Verifier
	// Events streams the running operation's events (internal/events),
	// mounted at /api/v1/events behind the token; nil answers 503
	// unavailable.
	Events http.Handler
	// Metrics serves the Prometheus metrics (package metrics), mounted at
	// /metrics behind the token like every /api/v1 route; nil answers 404.
	Metrics http.Handler
	// Fleet, when set, syncs the fleet repo now (fleet.WebhookHandler),
	// mounted at POST /api/v1/fleet/sync behind the token, for a git
	// host's push webhook; nil answers 404.
	Fleet http.Handler
	// Page serves the Software Updates page at / and /assets/ (package
	// web), without a token; nil answers 404.
	Page http.Handler
	// Source, when set, replaces the release source updater.yaml names
	// (tests); nil uses updater.yaml's.
	Source releases.Source
	// Now is the clock of the rate limit and of the annotations written;
	// time.Now when nil.
	Now func() time.Time
	// Log receives one line per change made and, at debug level, one per
	// refusal. The zero Logger discards.
	Log logr.Logger
}

// server is the handler New returns.
type server struct {
	cfg      *config.Config
	layout   layout.Layout
	verifier *apitoken.Verifier
	events   http.Handler
	metrics  http.Handler
	page     http.Handler
	fleet    http.Handler
	source   releases.Source
	now      func() time.Time
	log      logr.Logger
	hosts    hostPolicy
	limiter  *failureLimiter
	routes   map[string]route
}

// route is one /api/v1 endpoint: the method it answers and its handler.
type route struct {
	method string
	handle http.HandlerFunc
}

// New returns the API's handler (see the package documentation for what
// it answers and refuses). It is safe for concurrent use; desired.yaml
// edits are serialised. Options.Config, Layout and Verifier are required:
// New panics without them, a mistake in the caller's code.
func New(o Options) http.Handler {
	if o.Config == nil || o.Verifier == nil || o.Layout.Status == "" {
		panic("api.New: Options.Config, Layout and Verifier are required")
	}
	s := &server{
		cfg: o.Config, layout: o.Layout, verifier: o.Verifier, events: o.Events, metrics: o.Metrics, page: o.Page, fleet: o.Fleet,
		source: o.Source, now: o.Now, log: o.Log,
		hosts: newHostPolicy(o.Config.API), limiter: newFailureLimiter(),
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.routes = map[string]route{
		"/api/v1/status":     {http.MethodGet, s.getStatus},
		"/api/v1/releases":   {http.MethodGet, s.getReleases},
		"/api/v1/update":     {http.MethodPost, s.postUpdate},
		"/api/v1/rollback":   {http.MethodPost, s.postRollback},
		"/api/v1/retry":      {http.MethodPost, s.postRetry},
		"/api/v1/history":    {http.MethodGet, s.getHistory},
		"/api/v1/backups":    {http.MethodGet, s.getBackups},
		"/api/v1/events":     {http.MethodGet, s.getEvents},
		"/api/v1/fleet/sync": {http.MethodPost, s.postFleetSync},
	}
	return s
}

// ServeHTTP checks the Host, then dispatches: /healthz, /metrics,
// /api/..., the page.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if !s.hosts.allows(r.Host) {
		s.refuse(w, r, http.StatusForbidden, CodeForbiddenHost,
			"this updater does not answer to host "+quoteHost(r.Host)+"; use 127.0.0.1 or localhost, or add the name to api.hosts in updater.yaml")
		return
	}
	switch p := r.URL.Path; {
	case p == "/healthz":
		s.healthz(w, r)
	case p == "/metrics":
		s.serveMetrics(w, r)
	case p == "/api" || strings.HasPrefix(p, "/api/"):
		s.serveAPI(w, r)
	case s.page != nil:
		s.page.ServeHTTP(w, r)
	default:
		writeError(w, http.StatusNotFound, CodeNotFound, "there is no page at "+p+" (the page is not built into this daemon); the API is under /api/v1/")
	}
}

func quoteHost(h string) string {
	if h == "" {
		return "(none)"
	}
	return `"` + h + `"`
}

// healthz says the daemon's API is up; it needs no token and says nothing
// else.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use GET /healthz")
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// serveMetrics serves the Prometheus metrics behind the same Origin
// rules, rate limit and token as /api/v1: they name versions, failures
// and timings. Prometheus sends the token with `authorization` in its
// scrape config.
func (s *server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if s.checkOrigin(w, r) || !s.authenticate(w, r) {
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use GET /metrics")
		return
	}
	if s.metrics == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "this daemon serves no metrics")
		return
	}
	s.metrics.ServeHTTP(w, r)
}

// serveAPI applies the Origin rules, the rate limit and the token, then
// routes.
func (s *server) serveAPI(w http.ResponseWriter, r *http.Request) {
	if s.checkOrigin(w, r) || !s.authenticate(w, r) {
		return
	}
	rt, ok := s.routes[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, CodeNotFound, "no route "+r.URL.Path+"; the routes are /api/v1/status, releases, update, rollback, retry, history, backups, events and fleet/sync")
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "use "+rt.method+" "+r.URL.Path)
		return
	}
	rt.handle(w, r)
}

// postFleetSync hands POST /api/v1/fleet/sync to the fleet sync's
// webhook handler, once the Origin rules and the token let it through.
func (s *server) postFleetSync(w http.ResponseWriter, r *http.Request) {
	if s.fleet == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "this daemon follows no fleet repo; set desiredFrom.git in updater.yaml")
		return
	}
	s.fleet.ServeHTTP(w, r)
}
