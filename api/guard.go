package api

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/better-paas/updater/internal/apitoken"
	"github.com/better-paas/updater/internal/config"
)

// hostPolicy decides which Host headers are this API's.
type hostPolicy struct {
	names map[string]bool // host names and IP literals, any port
	exact map[string]bool // host:port entries of api.hosts
}

// newHostPolicy allows loopback, the listen address's host, and api.hosts.
func newHostPolicy(a config.API) hostPolicy {
	p := hostPolicy{names: map[string]bool{"localhost": true}, exact: map[string]bool{}}
	if host, _, err := net.SplitHostPort(a.Address()); err == nil && a.SocketPath() == "" && host != "" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsUnspecified() {
			p.names[normalHost(host)] = true
		}
	}
	for _, h := range a.Hosts {
		if _, _, err := net.SplitHostPort(h); err == nil {
			p.exact[strings.ToLower(h)] = true
		} else {
			p.names[normalHost(h)] = true
		}
	}
	return p
}

// normalHost lower-cases a host name and drops brackets and a final dot.
func normalHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// allows reports whether hostHeader (host or host:port) names this API.
// Every loopback address is allowed: a browser only sends one when the
// user typed it, never on a page of another site.
func (p hostPolicy) allows(hostHeader string) bool {
	if hostHeader == "" {
		return false
	}
	if p.exact[strings.ToLower(hostHeader)] {
		return true
	}
	host := hostHeader
	if h, _, err := net.SplitHostPort(hostHeader); err == nil {
		host = h
	}
	host = normalHost(host)
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	return p.names[host]
}

// ownOrigin reports whether origin is the API's own: the scheme and the
// Host the request was sent to (a page served by this API).
func ownOrigin(origin, host string) bool {
	return strings.EqualFold(origin, "http://"+host) || strings.EqualFold(origin, "https://"+host)
}

// corsAllowed reports whether origin is one of api.origins.
func (s *server) corsAllowed(origin string) bool {
	for _, o := range s.cfg.API.Origins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// stateChanging reports whether method may change something.
func stateChanging(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// checkOrigin applies the Origin rules to a request under /api/: CORS
// headers for api.origins, answers a preflight, and refuses a
// state-changing request from a foreign origin. It reports whether the
// request was answered.
func (s *server) checkOrigin(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "GET, POST")
			writeError(w, http.StatusMethodNotAllowed, CodeMethodNotAllowed, "OPTIONS is only answered to cross-origin preflights from api.origins")
			return true
		}
		return false
	}
	cors := s.corsAllowed(origin)
	if len(s.cfg.API.Origins) > 0 {
		w.Header().Add("Vary", "Origin")
	}
	if cors {
		w.Header().Set("Access-Control-Allow-Origin", origin)
	}
	foreign := !cors && !ownOrigin(origin, r.Host)
	switch {
	case r.Method == http.MethodOptions && cors:
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
		return true
	case foreign && (r.Method == http.MethodOptions || stateChanging(r.Method)):
		s.refuse(w, r, http.StatusForbidden, CodeForbiddenOrigin, fmt.Sprintf(
			"requests from origin %s may not change anything here; add it to api.origins in updater.yaml if it is your dashboard", origin))
		return true
	}
	return false
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// clientOf identifies a client for the rate limit: its IP address, or
// "unix" for a unix socket (one trusted group of users).
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil || host == "" {
		return "unix"
	}
	return host
}

// authenticate applies the rate limit and checks the bearer token. It
// reports whether the request may go on; otherwise it was answered.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	client, now := clientOf(r), s.now()
	if wait, blocked := s.limiter.blocked(client, now); blocked {
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		s.refuse(w, r, http.StatusTooManyRequests, CodeRateLimited, fmt.Sprintf(
			"too many wrong tokens from this client; wait %d s, then send the token `better-paas-updater token create` or `token rotate` printed", max(secs, 1)))
		return false
	}
	token, presented := bearer(r)
	err := errors.New("no token")
	if presented {
		err = s.verifier.Verify(token)
	}
	if err == nil {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="better-paas-updater"`)
	switch {
	case !presented:
		s.refuse(w, r, http.StatusUnauthorized, CodeUnauthorized,
			`this route needs "Authorization: Bearer <token>"; the token is printed by better-paas-updater token create (or token rotate)`)
	case errors.Is(err, apitoken.ErrMismatch), errors.Is(err, apitoken.ErrNoToken):
		s.limiter.fail(client, now)
		w.Header().Set("WWW-Authenticate", `Bearer realm="better-paas-updater", error="invalid_token"`)
		msg := "the token is wrong; use the one better-paas-updater token create (or token rotate) printed"
		if errors.Is(err, apitoken.ErrNoToken) {
			msg = "no API token has been created on this host; run better-paas-updater token create and send the token it prints"
		}
		s.refuse(w, r, http.StatusUnauthorized, CodeUnauthorized, msg)
	default:
		s.log.Error(err, "Cannot check an API token", "tokenFile", s.verifier.Path())
		s.refuse(w, r, http.StatusInternalServerError, CodeInternal,
			"the daemon cannot read its token file; see its log, or run better-paas-updater token rotate")
	}
	return false
}

// refuse answers a refusal and logs it at debug level: refusals are
// expected (a page without its token) and an attacker must not fill the log.
func (s *server) refuse(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	s.log.V(1).Info("Refused API request", "code", code, "method", r.Method, "path", r.URL.Path, "client", r.RemoteAddr)
	writeError(w, status, code, message)
}
