package github

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/better-paas/updater/internal/releases"
)

// fetchResult is one successful conversation with GitHub.
type fetchResult struct {
	notModified bool
	etag        string
	releases    []releases.Release
	// notBefore is set when a successful answer already says the rate
	// limit is used up (X-RateLimit-Remaining: 0).
	notBefore time.Time
}

// ghRelease is the part of GitHub's release object this package reads
// (GET /repos/{owner}/{repo}/releases, API version 2022-11-28).
type ghRelease struct {
	TagName     string     `json:"tag_name"`
	Name        string     `json:"name"`
	Body        string     `json:"body"`
	HTMLURL     string     `json:"html_url"`
	Draft       bool       `json:"draft"`
	Prerelease  bool       `json:"prerelease"`
	PublishedAt *time.Time `json:"published_at"`
	Assets      []ghAsset  `json:"assets"`
}

type ghAsset struct {
	Name  string `json:"name"`
	Size  int64  `json:"size"`
	State string `json:"state"`
	// Digest is "sha256:<hex>" on assets uploaded since GitHub started
	// computing digests; absent or null on older ones.
	Digest             *string `json:"digest"`
	BrowserDownloadURL string  `json:"browser_download_url"`
}

// fetch reads all pages of the release list. etag, when not empty, makes
// the first request conditional. now is the local time the fetch started,
// used to turn rate-limit headers into a local reset time.
func (c *Client) fetch(ctx context.Context, etag string, now time.Time) (fetchResult, error) {
	base, err := url.Parse(c.baseURL())
	if err != nil {
		return fetchResult{}, fmt.Errorf("%w: %w", ErrInvalidBaseURL, err)
	}
	next := c.baseURL() + "/repos/" + url.PathEscape(c.Owner) + "/" + url.PathEscape(c.Name) + "/releases?per_page=100"
	var res fetchResult
	var all []ghRelease
	for page := 1; next != "" && page <= maxPages; page++ {
		conditional := ""
		if page == 1 {
			conditional = etag
		}
		p, err := c.fetchPage(ctx, next, conditional, now)
		if err != nil {
			return fetchResult{}, fmt.Errorf("cannot get page %d of the release list: %w", page, err)
		}
		if p.notModified {
			return fetchResult{notModified: true, notBefore: p.notBefore}, nil
		}
		if page == 1 {
			res.etag = p.etag
		}
		res.notBefore = p.notBefore
		all = append(all, p.releases...)
		next = ""
		if p.next != "" {
			n, err := checkNext(base, p.url, p.next)
			if err != nil {
				return fetchResult{}, fmt.Errorf("cannot follow page %d of the release list: %w", page+1, err)
			}
			next = n
		}
	}
	res.releases = c.convert(all)
	return res, nil
}

// pageResult is one page.
type pageResult struct {
	url         *url.URL
	notModified bool
	etag        string
	next        string
	releases    []ghRelease
	notBefore   time.Time
}

func (c *Client) fetchPage(ctx context.Context, rawURL, etag string, now time.Time) (pageResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return pageResult{}, fmt.Errorf("cannot create request for %s: %w", redactURL(rawURL), err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", APIVersion)
	req.Header.Set("User-Agent", c.userAgent())
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		// net/http strips passwords from the URL it quotes, and the token
		// travels only in a header, so err carries no secret.
		return pageResult{}, err
	}
	defer func() {
		// Drain a little so the connection can be reused, never much: a
		// hostile body must not keep us reading.
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		_ = resp.Body.Close()
	}()
	noteRateLimit(resp.Header, c.now())
	p := pageResult{url: resp.Request.URL}
	if rl := rateLimitFromHeaders(resp.Header, now, false); rl != nil && resp.StatusCode < 300 {
		// The answer is good but the budget is spent: do not ask again
		// before the reset.
		p.notBefore = rl.Reset
	}

	switch {
	case resp.StatusCode == http.StatusNotModified:
		if etag == "" {
			return pageResult{}, fmt.Errorf("%w: HTTP 304 to a request without If-None-Match from %s", ErrInvalidResponse, redactURL(rawURL))
		}
		p.notModified = true
		return p, nil
	case resp.StatusCode == http.StatusOK:
		body, err := c.readBody(resp)
		if err != nil {
			return pageResult{}, err
		}
		if err := json.Unmarshal(body, &p.releases); err != nil {
			return pageResult{}, fmt.Errorf("%w: cannot decode the release list from %s: %w", ErrInvalidResponse, redactURL(rawURL), err)
		}
		p.etag = resp.Header.Get("ETag")
		p.next = nextLink(resp.Header.Values("Link"))
		return p, nil
	default:
		return pageResult{}, c.statusError(resp, rawURL, now)
	}
}

// readBody reads at most MaxBodyBytes, failing with ErrTooLarge beyond.
func (c *Client) readBody(resp *http.Response) ([]byte, error) {
	limit := c.maxBody()
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes announced, the limit is %d", ErrTooLarge, resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the response body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return body, nil
}

// statusError classifies a failed answer. GitHub's rules: a 403 or 429
// with Retry-After, with X-RateLimit-Remaining: 0, or with a message about
// a (secondary) rate limit is a rate limit; any other 403, and a 401, is
// an access problem.
func (c *Client) statusError(resp *http.Response, rawURL string, now time.Time) error {
	msg := c.githubMessage(resp.Body)
	code := resp.StatusCode
	if code == http.StatusForbidden || code == http.StatusTooManyRequests {
		mentionsLimit := strings.Contains(strings.ToLower(msg), "rate limit")
		if rl := rateLimitFromHeaders(resp.Header, now, code == http.StatusTooManyRequests || mentionsLimit); rl != nil {
			return rl
		}
	}
	e := &StatusError{StatusCode: code, URL: redactURL(rawURL), Message: msg}
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		e.Kind = ErrAuth
		if c.Token == "" {
			e.Hint = fmt.Sprintf("the request had no token; set one (GITHUB_TOKEN or a token file) that can read %s", c.repo())
		} else {
			e.Hint = fmt.Sprintf("check that the token is valid, not expired, and can read %s", c.repo())
		}
	case http.StatusNotFound:
		e.Kind = ErrNotFound
		e.Hint = fmt.Sprintf("check that %s exists on %s, or set a token that can read it if it is private", c.repo(), c.baseURL())
	}
	return e
}

// githubMessage reads the "message" of GitHub's error body, bounded, with
// the token removed should a server echo it.
func (c *Client) githubMessage(body io.Reader) string {
	var e struct {
		Message string `json:"message"`
	}
	data, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	if json.Unmarshal(data, &e) != nil {
		return ""
	}
	msg := strings.Join(strings.Fields(e.Message), " ")
	if c.Token != "" {
		msg = strings.ReplaceAll(msg, c.Token, "[redacted]")
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}

// rateLimitFromHeaders reads GitHub's rate-limit headers. It returns nil
// when they do not say the client is limited, unless limited is true (a
// 429, or a message naming a rate limit), in which case it falls back to
// waiting defaultRateLimitWait. Retry-After wins over X-RateLimit-Reset.
// The reset time is measured against the server's Date header when
// present, so a skewed local clock does not shorten or stretch the wait.
func rateLimitFromHeaders(h http.Header, now time.Time, limited bool) *RateLimitError {
	var wait time.Duration
	found := false
	if ra := strings.TrimSpace(h.Get("Retry-After")); ra != "" {
		if secs, err := strconv.ParseInt(ra, 10, 64); err == nil && secs >= 0 {
			wait, found = time.Duration(min(secs, int64(maxRateLimitWait/time.Second)))*time.Second, true
		} else if t, err := http.ParseTime(ra); err == nil {
			wait, found = t.Sub(serverNow(h, now)), true
		}
	}
	if !found && strings.TrimSpace(h.Get("X-RateLimit-Remaining")) == "0" {
		if secs, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64); err == nil {
			wait, found = time.Unix(secs, 0).Sub(serverNow(h, now)), true
		} else {
			found = true // spent, reset unknown: wait the default
		}
	}
	if !found && !limited {
		return nil
	}
	if wait <= 0 {
		// Reset already passed by our reckoning, or unknown: GitHub asks
		// for at least a minute before retrying.
		wait = defaultRateLimitWait
	}
	wait = min(wait, maxRateLimitWait)
	return &RateLimitError{Reset: now.Add(wait), RetryAfter: wait}
}

// serverNow is the server's Date, or the local now without one.
func serverNow(h http.Header, now time.Time) time.Time {
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		return t
	}
	return now
}

// nextLink returns the URL of rel="next" in Link headers (RFC 8288), ""
// when there is none.
func nextLink(values []string) string {
	for _, v := range values {
		for _, part := range splitLinks(v) {
			part = strings.TrimSpace(part)
			if !strings.HasPrefix(part, "<") {
				continue
			}
			end := strings.Index(part, ">")
			if end < 0 {
				continue
			}
			target := part[1:end]
			for _, param := range strings.Split(part[end+1:], ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// splitLinks splits a Link header value on the commas between links, not
// on commas inside <URL>.
func splitLinks(v string) []string {
	var parts []string
	inURL, start := false, 0
	for i, r := range v {
		switch r {
		case '<':
			inURL = true
		case '>':
			inURL = false
		case ',':
			if !inURL {
				parts = append(parts, v[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, v[start:])
}

// checkNext resolves a next link against the page it came from and
// refuses one that leaves the API's scheme and host: the request would
// carry the token there.
func checkNext(base, page *url.URL, next string) (string, error) {
	ref, err := url.Parse(next)
	if err != nil {
		return "", fmt.Errorf("%w: unparsable next link: %w", ErrInvalidResponse, err)
	}
	u := page.ResolveReference(ref)
	if u.Scheme != base.Scheme || !strings.EqualFold(u.Host, base.Host) || u.User != nil {
		return "", fmt.Errorf("%w: next link %s points away from %s://%s", ErrInvalidResponse, redactURL(u.String()), base.Scheme, base.Host)
	}
	return u.String(), nil
}

// safeReleaseURL returns u when it is an http(s) URL, else "": the page
// links to it, and a javascript: or data: URL from a compromised or
// impersonated server must not become a link.
func safeReleaseURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	return u
}

// convert keeps published, release-shaped tags (prereleases only when
// asked) and sorts them, highest version first.
func (c *Client) convert(in []ghRelease) []releases.Release {
	var out []releases.Release
	seen := make(map[string]bool)
	for _, g := range in {
		if g.Draft || !releases.IsReleaseTag(g.TagName) || seen[g.TagName] {
			continue
		}
		pre := g.Prerelease || semver.Prerelease(g.TagName) != ""
		if pre && !c.Prerelease {
			continue
		}
		seen[g.TagName] = true
		r := releases.Release{Version: g.TagName, Tag: g.TagName, Prerelease: pre,
			Name: g.Name, Notes: releases.CapNotes(g.Body), URL: safeReleaseURL(g.HTMLURL)}
		if g.PublishedAt != nil {
			r.PublishedAt = g.PublishedAt.UTC()
		}
		for _, a := range g.Assets {
			// "starter" or "open" assets are uploads that never finished.
			if a.State != "" && a.State != "uploaded" {
				continue
			}
			asset := releases.Asset{Name: a.Name, Size: a.Size, URL: a.BrowserDownloadURL}
			if a.Digest != nil {
				asset.Digest = *a.Digest
			}
			r.Assets = append(r.Assets, asset)
		}
		out = append(out, r)
	}
	releases.Sort(out)
	return out
}
