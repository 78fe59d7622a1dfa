package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Defaults for the zero fields of Gate.
const (
	DefaultProbeTimeout     = 2 * time.Second
	DefaultDeadline         = 60 * time.Second
	DefaultInterval         = time.Second
	DefaultSuccessThreshold = 3
	DefaultFailureThreshold = 3 // as Kubernetes' failureThreshold
)

// firstRetry is the spacing after the first probe; it doubles up to
// Gate.Interval.
const firstRetry = 25 * time.Millisecond

// refusedRetry is the spacing after a refused connection: nothing listens
// yet, and a refused connect on loopback costs microseconds, so the gate
// looks again soon and notices the app listening within about this long.
// It does not move the backoff of firstRetry.
const refusedRetry = 10 * time.Millisecond

// aliveEvery bounds how often Gate.Alive is asked while probes come every
// refusedRetry (it may run systemctl); never less often than Interval.
const aliveEvery = 100 * time.Millisecond

// maxBody caps how much of a response is read: a health answer is small,
// and a misbehaving app must not make the daemon buffer megabytes.
const maxBody = 64 << 10

// excerptLen is how much of an unhealthy answer goes into an error.
const excerptLen = 200

var (
	// ErrUnhealthy means the app did not answer 2xx: from Probe, for one
	// answer; from Gate.Wait, when Gate.FailureThreshold failing answers
	// came in a row (early), or when the deadline passed and the last
	// probe failed (refused, timed out or non-2xx). The message holds the
	// last probe's error.
	ErrUnhealthy = errors.New("unhealthy")
	// ErrVersionMismatch is returned by Gate.Wait when the deadline passed
	// and the last answer was 2xx but carried another version than
	// Gate.ExpectVersion: typically the old process still answering. It
	// is also wrapped, together with ErrUnhealthy, when the wait ended
	// early on answers with another version that cannot come from the
	// old process (see Gate.FailureThreshold). The message says which
	// version was wanted and got.
	ErrVersionMismatch = errors.New("version mismatch")
	// ErrProcessExited is returned by Gate.Wait as soon as Gate.Alive
	// reports the app's process gone; waiting longer cannot help. The
	// message ends with Gate.ExitDetail's account of why, if any.
	ErrProcessExited = errors.New("process exited")
	// ErrInvalidURL is returned when the URL is not an absolute http or
	// https URL.
	ErrInvalidURL = errors.New("invalid health URL")
)

// Observation is what one probe saw.
type Observation struct {
	// StatusCode is the HTTP status; 0 when no answer came.
	StatusCode int
	// Version is the "version" string of a JSON body like
	// {"version": "v1.2.3"}; "" when the body has none.
	Version string
}

// defaultClient opens a fresh connection per request (the old process must
// not answer through a kept-alive connection), ignores proxy variables
// (the app is local) and does not follow redirects.
var defaultClient = func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	tr.Proxy = nil
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}()

// Probe sends one GET to rawURL and returns what it saw. A nil client
// means a client without connection reuse, proxy or redirects. The
// context bounds the request; give it a timeout.
//
// Errors: ErrInvalidURL; a transport error (refused, timeout) wrapped as
// is; a non-2xx answer wraps ErrUnhealthy and names the status and the
// start of the body. The Observation is filled as far as an answer came,
// also on error. A 2xx answer without a version is not an error here.
func Probe(ctx context.Context, client *http.Client, rawURL string) (Observation, error) {
	u, err := checkURL(rawURL)
	if err != nil {
		return Observation{}, err
	}
	obs, err := probe(ctx, client, rawURL)
	if err != nil {
		return obs, fmt.Errorf("cannot probe %s: %w", u.Redacted(), err)
	}
	return obs, nil
}

// probe is Probe without the URL in its errors, so Gate can name the URL
// once.
func probe(ctx context.Context, client *http.Client, rawURL string) (Observation, error) {
	if client == nil {
		client = defaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return Observation{}, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop `Get "<url>":`, the caller names the URL
		}
		return Observation{}, err
	}
	defer resp.Body.Close()
	obs := Observation{StatusCode: resp.StatusCode}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return obs, fmt.Errorf("cannot read answer (HTTP %d): %w", resp.StatusCode, err)
	}
	obs.Version = version(body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return obs, fmt.Errorf("%w: HTTP %d: %q", ErrUnhealthy, resp.StatusCode, excerpt(body))
	}
	return obs, nil
}

// version extracts {"version": "..."}; anything else yields "".
func version(body []byte) string {
	var v struct {
		Version any `json:"version"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	s, _ := v.Version.(string)
	return s
}

// excerpt returns the start of body as one line of valid UTF-8.
func excerpt(body []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "?")), " ")
	if len(s) <= excerptLen {
		return s
	}
	cut := excerptLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func checkURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// Parse's error repeats the raw URL, which may hold a password.
		return nil, fmt.Errorf("cannot use health URL: %w: it does not parse as a URL", ErrInvalidURL)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("cannot use health URL %q: %w: want http://host:port/path", u.Redacted(), ErrInvalidURL)
	}
	return u, nil
}
