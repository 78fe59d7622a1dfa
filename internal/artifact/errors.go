package artifact

import (
	"errors"
	"fmt"
	"net"
	"net/url"

	"github.com/better-paas/updater/internal/signedsums"
)

// ErrUntrusted is wrapped by every refusal meaning "this release's files
// cannot be trusted or used": it is signedsums.ErrUntrusted, so refusals
// from signature and checksum parsing match it too.
var ErrUntrusted = signedsums.ErrUntrusted

// ErrNoAsset is wrapped when a release has no asset of the requested name
// (typically none built for this OS and architecture). It does not wrap
// ErrUntrusted: nothing was refused, there is nothing to fetch.
var ErrNoAsset = errors.New("no such release asset")

// untrustedError is a refusal whose message says what is wrong without
// repeating ErrUntrusted's text; errors.Is(err, ErrUntrusted) holds.
type untrustedError struct{ msg string }

func (e *untrustedError) Error() string { return e.msg }
func (e *untrustedError) Unwrap() error { return ErrUntrusted }

func untrustedf(format string, args ...any) error {
	return &untrustedError{msg: fmt.Sprintf(format, args...)}
}

// redactURL returns u without user info and query: a pre-signed storage
// URL's query is a credential.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User = nil
	p.RawQuery = ""
	p.ForceQuery = false
	p.Fragment = ""
	return p.String()
}

// isLoopback reports whether host (without port) is a loopback name or
// address, where plain http cannot leak a token to the network.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
