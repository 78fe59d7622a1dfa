package github

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

var (
	// ErrRateLimited means GitHub refused a request because a rate limit
	// was exceeded (HTTP 403 or 429 with Retry-After, with
	// X-RateLimit-Remaining: 0, or with a "rate limit" message). The error
	// is a *RateLimitError that says when a request may be sent again;
	// until then the Client sends none. Wait, or configure a token: an
	// authenticated client gets 5000 requests an hour instead of 60.
	ErrRateLimited = errors.New("rate limit of the GitHub API exceeded")

	// ErrAuth means GitHub refused the credentials or their access to the
	// repository (HTTP 401, or 403 without rate-limit signs). Retrying
	// does not help: a human must fix the token or its permissions. The
	// error is a *StatusError.
	ErrAuth = errors.New("access denied by GitHub")

	// ErrNotFound means the repository does not exist at BaseURL, or it is
	// private and the request carried no token that can read it (HTTP
	// 404). The error is a *StatusError.
	ErrNotFound = errors.New("repository not found")

	// ErrTooLarge means a response body was longer than MaxBodyBytes. The
	// response is discarded rather than truncated.
	ErrTooLarge = errors.New("response body too large")

	// ErrInvalidResponse means GitHub answered something this package does
	// not understand or must not follow: a body that is not GitHub's
	// release JSON, a 304 to an unconditional request, or a pagination
	// link to another host or scheme (following it would send the token
	// there).
	ErrInvalidResponse = errors.New("invalid response from GitHub")

	// ErrInvalidRepository means Owner or Name is empty or not a valid
	// GitHub name. Fix the configuration.
	ErrInvalidRepository = errors.New("invalid GitHub repository")

	// ErrInvalidBaseURL means BaseURL is not an absolute http(s) URL, or it
	// is plain http to a host other than loopback while a token is set (the
	// token would cross the network in clear text). Fix the configuration.
	ErrInvalidBaseURL = errors.New("invalid GitHub API base URL")

	// ErrInvalidToken means a token is empty where one is required, or
	// holds characters an HTTP header cannot carry (whitespace or control
	// characters inside it). Fix the token file or variable.
	ErrInvalidToken = errors.New("invalid GitHub token")
)

// RateLimitError says GitHub rate-limited the client and when it may ask
// again. errors.Is(err, ErrRateLimited) is true for it.
type RateLimitError struct {
	// Reset is the earliest time, on the local clock, at which the Client
	// sends another request.
	Reset time.Time
	// RetryAfter is how long from the moment the error was made until
	// Reset.
	RetryAfter time.Duration
}

// Error says when the next request may be sent.
func (e *RateLimitError) Error() string {
	return fmt.Sprintf("%s: no request before %s (in %s)", ErrRateLimited,
		e.Reset.UTC().Format(time.RFC3339), e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// StatusError is an HTTP answer from GitHub that is neither a success nor
// a rate limit. Kind is ErrAuth, ErrNotFound or nil (any other status,
// such as a 5xx, which is worth a retry later); errors.Is matches Kind.
type StatusError struct {
	Kind       error
	StatusCode int
	// URL is the request URL, without credentials.
	URL string
	// Message is GitHub's "message" field, shortened, with the token (if
	// GitHub echoed it) replaced by "[redacted]"; "" when absent.
	Message string
	// Hint tells a human what to check; "" when there is nothing to do
	// but wait.
	Hint string
}

// Error names the status, the URL, GitHub's message and the fix.
func (e *StatusError) Error() string {
	s := fmt.Sprintf("HTTP %d %s from %s", e.StatusCode, http.StatusText(e.StatusCode), e.URL)
	if e.Message != "" {
		s += fmt.Sprintf(" (GitHub says %q)", e.Message)
	}
	if e.Kind != nil {
		s = e.Kind.Error() + ": " + s
	} else {
		s = "unexpected " + s
	}
	if e.Hint != "" {
		s += ": " + e.Hint
	}
	return s
}

// Unwrap returns Kind, so errors.Is(err, ErrAuth) and
// errors.Is(err, ErrNotFound) work.
func (e *StatusError) Unwrap() error { return e.Kind }
