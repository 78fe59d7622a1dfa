package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// DefaultAPIListen is where the API listens when updater.yaml does not say:
// loopback only, so a fresh install exposes nothing to the network.
const DefaultAPIListen = "127.0.0.1:8079"

// UnixPrefix marks an api.listen value that names a unix socket.
const UnixPrefix = "unix:"

// maxSocketPath is the longest path a unix socket can have on Linux
// (sun_path is 108 bytes, one of them the terminating NUL).
const maxSocketPath = 107

// API configures the HTTP API and the Software Updates page the daemon
// serves beside the reconcile loop. The API is the dashboard's (and any
// script's) way to do what the CLI does; every /api/v1 route needs the
// bearer token `better-paas-updater token create` makes.
type API struct {
	// Listen is where the API listens: host:port (port 0 picks a free
	// one, logged as "API listening"), or unix:/absolute/path.sock (a
	// socket of mode 0660, for a reverse proxy in the socket's group), or
	// "" to turn the API and the page off. A missing block or field
	// means DefaultAPIListen, which Default fills in; a pointer, so that
	// an explicit "" survives decoding and encoding.
	Listen *string `json:"listen,omitempty"`
	// Hosts are the names, besides the listen address and loopback
	// (localhost, 127.0.0.1, ::1), that requests may carry in their Host
	// header (a reverse proxy's name): "name" allows any port,
	// "name:port" that port only. Any other Host is refused, so a page of
	// another site whose name resolves to 127.0.0.1 (DNS rebinding) gets
	// nothing. Default: none.
	Hosts []string `json:"hosts,omitempty"`
	// Origins are the origins (scheme://host[:port]), besides the API's
	// own, that may make state-changing requests and get CORS headers:
	// the dashboard's, when it calls the API from its own pages. Default:
	// none, so no CORS.
	Origins []string `json:"origins,omitempty"`
	// FrameAncestors are the CSP frame-ancestors source expressions of
	// the page: who may embed it in a frame ('self', https://dashboard.example.com).
	// Default: none, which the page sends as 'none'.
	FrameAncestors []string `json:"frameAncestors,omitempty"`
}

// Address is api.listen: DefaultAPIListen when unset, "" when the API is off.
func (a API) Address() string {
	if a.Listen == nil {
		return DefaultAPIListen
	}
	return *a.Listen
}

// Enabled reports whether the daemon serves the API.
func (a API) Enabled() bool { return a.Address() != "" }

// SocketPath is the unix socket api.listen names, "" when it names a TCP
// address.
func (a API) SocketPath() string {
	p, ok := strings.CutPrefix(a.Address(), UnixPrefix)
	if !ok {
		return ""
	}
	return p
}

// defaultAPI fills in api.listen when it is missing.
func (a *API) defaultAPI() {
	if a.Listen == nil {
		v := DefaultAPIListen
		a.Listen = &v
	}
}

// validateAPI checks the api block, each problem naming the field and the fix.
func (a API) validateAPI(bad func(field, format string, a ...any)) {
	validateListen(a.Address(), bad)
	for i, h := range a.Hosts {
		if err := checkHostEntry(h); err != nil {
			bad(fmt.Sprintf("api.hosts[%d]", i), "%q %v; write a host name such as updates.example.com, optionally with :port", h, err)
		}
	}
	for i, o := range a.Origins {
		if err := checkOrigin(o); err != nil {
			bad(fmt.Sprintf("api.origins[%d]", i), "%q %v; write scheme://host[:port] such as https://dashboard.example.com", o, err)
		}
	}
	for i, s := range a.FrameAncestors {
		field := fmt.Sprintf("api.frameAncestors[%d]", i)
		switch {
		case s == "'none'" && len(a.FrameAncestors) > 1:
			bad(field, "'none' cannot be combined with other sources; remove it, or leave the list empty (the default is 'none')")
		case !isSourceExpression(s):
			bad(field, "%q is not a CSP source expression; write 'self', a scheme such as https:, or an origin such as https://dashboard.example.com", s)
		}
	}
}

// validateListen checks api.listen: "", unix:/absolute/path, or host:port.
func validateListen(v string, bad func(field, format string, a ...any)) {
	const fix = `write host:port (e.g. 127.0.0.1:8079), unix:/absolute/path.sock, or "" to turn the API off`
	if v == "" {
		return
	}
	if p, ok := strings.CutPrefix(v, UnixPrefix); ok {
		switch {
		case p == "":
			bad("api.listen", "%q names no socket path; %s", v, fix)
		case !filepath.IsAbs(p):
			bad("api.listen", "%q is a relative socket path, which would depend on the daemon's working folder; write unix:/absolute/path.sock", v)
		case filepath.Clean(p) != p:
			bad("api.listen", "%q is not a clean path; write unix:%s", v, filepath.Clean(p))
		case len(p) > maxSocketPath:
			bad("api.listen", "the socket path %s is %d bytes, longer than the %d a unix socket allows; choose a shorter path", p, len(p), maxSocketPath)
		}
		return
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		bad("api.listen", "%q is not host:port (%v); %s", v, err, fix)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		bad("api.listen", "%q: port %q is not a number from 0 to 65535; %s", v, port, fix)
	}
	if host != "" && net.ParseIP(host) == nil && !hostName.MatchString(host) {
		bad("api.listen", "%q: %q is neither an IP address nor a host name; %s", v, host, fix)
	}
}

// hostName is a DNS name as people write them: labels of letters, digits
// and hyphens, separated by dots.
var hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$`)

// checkHostEntry checks an api.hosts entry: a host name or IP address,
// optionally with :port (an IPv6 address with a port in brackets).
func checkHostEntry(h string) error {
	host := h
	if strings.Contains(h, "://") || strings.ContainsAny(h, "/?#@ ") {
		return fmt.Errorf("is not a bare host name (no scheme, path or user)")
	}
	if hp, port, err := net.SplitHostPort(h); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("has port %q, not a number from 1 to 65535", port)
		}
		host = hp
	}
	if net.ParseIP(host) == nil && !hostName.MatchString(host) {
		return fmt.Errorf("is not a host name or IP address")
	}
	return nil
}

// checkOrigin checks an api.origins entry: exactly scheme://host[:port],
// the form browsers send in the Origin header.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	switch {
	case err != nil:
		return fmt.Errorf("does not parse (%v)", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("is not an http or https origin")
	case u.Host == "" || u.User != nil || u.Opaque != "":
		return fmt.Errorf("has no host, or has a user name")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#"):
		return fmt.Errorf("has a path, query or fragment, which an origin never carries (no trailing slash)")
	case (u.Scheme == "http" && u.Port() == "80") || (u.Scheme == "https" && u.Port() == "443"):
		return fmt.Errorf("names the default port, which browsers leave out of the Origin they send; remove :%s", u.Port())
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("has port %q, not a number from 1 to 65535", p)
		}
	}
	return nil
}

// Source expressions of CSP Level 3 that frame-ancestors accepts.
var (
	schemeSource = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:$`)
	hostSource   = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://)?(\*|(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*)(:([0-9]+|\*))?(/[^\s;,']*)?$`)
)

// isSourceExpression reports whether s is a source expression
// frame-ancestors accepts: 'self', 'none', a scheme-source or a host-source.
func isSourceExpression(s string) bool {
	switch s {
	case "'self'", "'none'":
		return true
	}
	return schemeSource.MatchString(s) || hostSource.MatchString(s)
}
