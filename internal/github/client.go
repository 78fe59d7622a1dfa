package github

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/releases"
)

const (
	// DefaultBaseURL is the API of github.com.
	DefaultBaseURL = "https://api.github.com"
	// DefaultTTL is how long a fetched listing is answered from the cache
	// without asking GitHub, as the product promises ("results are cached
	// for 30 minutes").
	DefaultTTL = 30 * time.Minute
	// DefaultTimeout bounds one HTTP request of the default HTTPClient,
	// body included, so a body that never ends cannot block a reconcile.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxBodyBytes caps one response body.
	DefaultMaxBodyBytes int64 = 5 << 20
	// DefaultUserAgent is sent when UserAgent is empty; GitHub rejects
	// requests without a User-Agent.
	DefaultUserAgent = "better-paas-updater"
	// APIVersion is the GitHub REST API version the JSON parsing is
	// written against.
	APIVersion = "2022-11-28"

	// maxPages bounds pagination: at 100 releases a page, the newest 1000
	// releases are read and the rest ignored. GitHub lists releases newest
	// first, so the latest version is always within the first pages; the
	// bound also stops a server whose "next" link never ends.
	maxPages = 10
	// defaultRateLimitWait is how long to wait after a rate limit that
	// gives no time (GitHub: "wait for at least one minute").
	defaultRateLimitWait = time.Minute
	// maxRateLimitWait bounds any wait, so a broken header or a skewed
	// clock cannot stop update checks for longer than GitHub's hourly
	// window.
	maxRateLimitWait = time.Hour
)

// Client lists the releases of one GitHub repository through the REST API
// and is a releases.Source. It caches the answer in memory and, when
// CacheFile is set, on disk, so a restart does not spend rate limit, and
// it revalidates with ETags (a 304 costs no rate limit).
//
// Configure the exported fields before the first call and do not change
// them afterwards. A Client is safe for concurrent use; concurrent calls
// are serialised so only one of them talks to GitHub. The zero values of
// the optional fields select the documented defaults.
type Client struct {
	// BaseURL is the API base: DefaultBaseURL when empty; for GitHub
	// Enterprise Server "https://HOST/api/v3". Plain http is allowed only
	// without a token or to a loopback host (tests).
	BaseURL string
	// Owner and Name identify the repository ("better-paas" and
	// "better-paas" for github.com/better-paas/better-paas).
	Owner, Name string
	// Token, when not empty, is sent as "Authorization: Bearer <Token>".
	// It is never logged, never put in an error and never written to the
	// cache file. See TokenFromEnv and TokenFromFile.
	Token string
	// Prerelease includes prereleases in the listing (spec channel
	// "prerelease"). By default only full releases are listed.
	Prerelease bool
	// CacheFile is where the cache is persisted (in the updater's state
	// folder, for example "<stateDir>/github-releases.json"); its folder
	// must exist. "" keeps the cache in memory only.
	CacheFile string
	// ReadOnlyCache reads CacheFile but never writes it: a fresh answer or
	// a rate limit is kept in memory only. `plan`, which must change
	// nothing, sets it.
	ReadOnlyCache bool
	// TTL is how long a fetched listing is answered without a request;
	// DefaultTTL when zero.
	TTL time.Duration
	// HTTPClient sends the requests; when nil, a client with a
	// DefaultTimeout overall timeout. A custom client should have a
	// timeout too: the context is then the only bound.
	HTTPClient *http.Client
	// MaxBodyBytes caps each response body; DefaultMaxBodyBytes when zero.
	MaxBodyBytes int64
	// UserAgent is sent as User-Agent; DefaultUserAgent when empty.
	UserAgent string
	// Now is the clock; time.Now when nil. Tests inject a fake one.
	Now func() time.Time

	initOnce    sync.Once
	sem         chan struct{} // held while one call works; guards state
	defaultHTTP *http.Client
	state       cacheState
}

var _ releases.Source = (*Client)(nil)

// cacheState is what the Client remembers between calls.
type cacheState struct {
	// ETag of the first page of the last 200 answer, for If-None-Match.
	ETag string
	// FetchedAt is when the releases were last fetched or revalidated;
	// zero when nothing is cached.
	FetchedAt time.Time
	Releases  []releases.Release
	// NotBefore is when the Client may send a request again after a rate
	// limit; zero when not rate-limited.
	NotBefore time.Time
}

func (s *cacheState) hasListing() bool { return !s.FetchedAt.IsZero() }

// List returns the repository's releases, highest version first (see
// releases.Sort): published releases whose tag passes
// releases.IsReleaseTag, without drafts, and without prereleases unless
// Prerelease is set. A release is a prerelease when GitHub marks it so or
// its version has a -suffix. Commit is empty (GitHub does not give the
// tag's commit; the caller resolves it with git) and the order ignores
// GitHub's "latest" flag: the caller picks the highest version.
//
// Within TTL of the last successful fetch, List answers from the cache
// without any request, keeping the cached FetchedAt. After it, List sends
// a conditional request (If-None-Match); a 304 keeps the cached releases
// and renews FetchedAt. While rate-limited (see RateLimitError) List sends
// nothing before the reset time, even across restarts when CacheFile is
// set.
//
// When GitHub cannot be asked or answers with any failure and a cached
// listing exists, List returns that listing with Stale set to the error,
// its FetchedAt unchanged, and a nil error. Without a cached listing it
// returns the error, "cannot list releases of OWNER/NAME: ...", matching
// ErrRateLimited, ErrAuth, ErrNotFound, ErrTooLarge, ErrInvalidResponse,
// the context's error or a transport error; configuration mistakes match
// ErrInvalidRepository, ErrInvalidBaseURL or ErrInvalidToken and are
// returned even when a cache exists, as is the context's error when ctx
// ends while another call is using the Client. List is idempotent and
// cheap to call on every reconcile.
func (c *Client) List(ctx context.Context) (releases.Listing, error) {
	return c.list(ctx, false)
}

// Refresh is List without the TTL: it always asks GitHub (the CLI's
// --refresh), still conditionally with If-None-Match so an unchanged
// repository costs no rate limit. It honours a rate limit like List and
// falls back to the cache the same way.
func (c *Client) Refresh(ctx context.Context) (releases.Listing, error) {
	return c.list(ctx, true)
}

func (c *Client) init() {
	c.initOnce.Do(func() {
		c.sem = make(chan struct{}, 1)
		c.defaultHTTP = &http.Client{Timeout: DefaultTimeout}
	})
}

func (c *Client) list(ctx context.Context, force bool) (releases.Listing, error) {
	c.init()
	if err := c.validate(); err != nil {
		return releases.Listing{}, c.wrap(err)
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return releases.Listing{}, c.wrap(ctx.Err())
	}
	defer func() { <-c.sem }()

	c.syncFromFile(ctx)
	now := c.now()
	st := &c.state
	if now.Before(st.NotBefore) {
		return c.fail(&RateLimitError{Reset: st.NotBefore, RetryAfter: st.NotBefore.Sub(now)})
	}
	// A FetchedAt in the future means the clock went back: revalidate
	// rather than trust the cache for longer than TTL.
	if !force && st.hasListing() && !now.Before(st.FetchedAt) && now.Sub(st.FetchedAt) < c.ttl() {
		return c.listing(nil), nil
	}

	etag := ""
	if st.hasListing() {
		etag = st.ETag
	}
	res, err := c.fetch(ctx, etag, now)
	if err != nil {
		var rl *RateLimitError
		if errors.As(err, &rl) {
			st.NotBefore = rl.Reset
			c.persist(ctx)
		}
		return c.fail(err)
	}
	if !res.notModified {
		st.Releases = res.releases
		st.ETag = res.etag
	}
	st.FetchedAt = now
	st.NotBefore = res.notBefore
	c.persist(ctx)
	return c.listing(nil), nil
}

// fail answers a failure: the cached listing marked stale when there is
// one, else the error.
func (c *Client) fail(err error) (releases.Listing, error) {
	err = c.wrap(err)
	if c.state.hasListing() {
		return c.listing(err), nil
	}
	return releases.Listing{}, err
}

func (c *Client) wrap(err error) error {
	return fmt.Errorf("cannot list releases of %s: %w", c.repo(), err)
}

// listing copies the cached releases, so a caller that edits its Listing
// cannot change the cache.
func (c *Client) listing(stale error) releases.Listing {
	rels := make([]releases.Release, len(c.state.Releases))
	for i, r := range c.state.Releases {
		r.Assets = append([]releases.Asset(nil), r.Assets...)
		rels[i] = r
	}
	return releases.Listing{
		Releases:  rels,
		Source:    c.sourceName(),
		FetchedAt: c.state.FetchedAt,
		Stale:     stale,
	}
}

func (c *Client) sourceName() string {
	s := "GitHub releases of " + c.repo()
	if base := c.baseURL(); base != DefaultBaseURL {
		if u, err := url.Parse(base); err == nil {
			s += " on " + u.Host
		}
	}
	return s
}

func (c *Client) repo() string { return c.Owner + "/" + c.Name }

func (c *Client) baseURL() string {
	if c.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimRight(c.BaseURL, "/")
}

func (c *Client) ttl() time.Duration {
	if c.TTL <= 0 {
		return DefaultTTL
	}
	return c.TTL
}

func (c *Client) maxBody() int64 {
	if c.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return c.MaxBodyBytes
}

func (c *Client) userAgent() string {
	if c.UserAgent == "" {
		return DefaultUserAgent
	}
	return c.UserAgent
}

func (c *Client) httpClient() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return c.defaultHTTP
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// validate checks the configuration before anything is sent, so a
// mistake is reported as such rather than as a network failure.
func (c *Client) validate() error {
	if !validOwner(c.Owner) || !validName(c.Name) {
		return fmt.Errorf("%w: owner %q and name %q must be non-empty GitHub names (letters, digits, '-', '_', '.')",
			ErrInvalidRepository, c.Owner, c.Name)
	}
	u, err := url.Parse(c.baseURL())
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%w: %q must be an absolute http(s) URL without credentials, query or fragment, such as %s",
			ErrInvalidBaseURL, redactURL(c.baseURL()), DefaultBaseURL)
	}
	if c.Token != "" {
		if err := checkToken(c.Token); err != nil {
			return err
		}
		if u.Scheme == "http" && !isLoopback(u.Hostname()) {
			return fmt.Errorf("%w: refusing to send the token over plain http to %s; use https", ErrInvalidBaseURL, u.Host)
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURL drops credentials from a URL for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparsable URL>"
	}
	u.User = nil
	return u.String()
}

// logger returns the logger the caller put in ctx; discarded when none.
func logger(ctx context.Context) logr.Logger { return logr.FromContextOrDiscard(ctx) }
