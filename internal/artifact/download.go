package artifact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/atomicfile"
)

const (
	// DefaultMaxSize caps a download when Downloader.MaxSize is zero.
	DefaultMaxSize int64 = 1 << 30
	// DefaultTimeout bounds one HTTP request, body included, when
	// Downloader.Timeout is zero: generous, since the stall timeout is
	// what catches a dead connection.
	DefaultTimeout = time.Hour
	// DefaultStallTimeout is how long a download may go without receiving
	// a byte (headers included) when Downloader.StallTimeout is zero.
	DefaultStallTimeout = time.Minute
	// DefaultUserAgent is sent when Downloader.UserAgent is empty.
	DefaultUserAgent = "better-paas-updater"
	// PartSuffix is appended to the destination for the partial file a
	// download writes and a later Fetch resumes.
	PartSuffix = ".part"
)

// errStalled and errTimeout are the causes the request context is
// cancelled with, so the error says which bound was hit.
var (
	errStalled = errors.New("stalled")
	errTimeout = errors.New("timed out")
)

// Downloader fetches one URL to a file. It resumes a previous partial
// download (dst+".part", HTTP Range, verifying a 206's Content-Range; a 200
// or a Content-Range starting elsewhere restarts from byte 0), caps the
// size (MaxSize; a Content-Length or body over it wraps ErrUntrusted
// "larger than"), has a per-request timeout and a stall timeout, follows
// redirects, sends "Authorization: Bearer Token" only to the host (and
// port) of the first URL, and renames dst+".part" to dst, fsynced, only
// when complete (as many bytes as announced and as size says). A partial
// file never appears at dst.
//
// The zero value is usable. A Downloader holds no state; Fetch calls for
// different dst may run concurrently, calls for one dst must not.
type Downloader struct {
	// Client sends the requests; nil: a client with Go's default transport
	// (dial and TLS handshake timeouts). Its Timeout, if any, applies too;
	// its CheckRedirect is kept and runs after the token is stripped.
	Client *http.Client
	// MaxSize caps the size of a download; DefaultMaxSize when zero.
	MaxSize int64
	// Token is an optional bearer token (GitHub), sent only to the first
	// URL's host, never over plain http except to a loopback host.
	Token string
	// UserAgent is sent as User-Agent; DefaultUserAgent when empty.
	UserAgent string
	// Timeout bounds one request, body included; DefaultTimeout when zero.
	Timeout time.Duration
	// StallTimeout fails a request that receives no byte for this long;
	// DefaultStallTimeout when zero.
	StallTimeout time.Duration
}

func (d Downloader) maxSize() int64 {
	if d.MaxSize > 0 {
		return d.MaxSize
	}
	return DefaultMaxSize
}

func (d Downloader) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	return DefaultTimeout
}

func (d Downloader) stallTimeout() time.Duration {
	if d.StallTimeout > 0 {
		return d.StallTimeout
	}
	return DefaultStallTimeout
}

func (d Downloader) userAgent() string {
	if d.UserAgent != "" {
		return d.UserAgent
	}
	return DefaultUserAgent
}

// Fetch downloads rawURL to dst. size is the expected size in bytes (0:
// unknown); a size over MaxSize, or an answer announcing or sending more
// than MaxSize or other than size, wraps ErrUntrusted and removes the
// partial file. A transport failure (refused connection, HTTP status other
// than 200/206, stall, timeout, cut body) returns an error wrapping
// neither ErrUntrusted nor ErrNoAsset and keeps dst+".part" for the next
// call to resume; a cancelled ctx returns an error wrapping ctx.Err().
// Fetch replaces an existing dst.
func (d Downloader) Fetch(ctx context.Context, rawURL, dst string, size int64) error {
	shown := redactURL(rawURL)
	if size < 0 {
		return fmt.Errorf("cannot download %s: negative expected size %d", shown, size)
	}
	if limit := d.maxSize(); size > limit {
		return untrustedf("cannot download %s: it is %d bytes, larger than the limit of %d bytes (raise maxSize if it is expected)", shown, size, limit)
	}
	part := dst + PartSuffix
	for attempt := 0; ; attempt++ {
		restart, err := d.attempt(ctx, rawURL, part, size)
		if err != nil {
			if errors.Is(err, ErrUntrusted) {
				_ = os.Remove(part)
			}
			return err
		}
		if restart == "" {
			break
		}
		// The server cannot resume this part: start over, once.
		if err := os.Remove(part); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot remove %s to restart the download: %w", part, err)
		}
		if attempt > 0 {
			return fmt.Errorf("cannot download %s: %s, even after restarting from byte 0", shown, restart)
		}
	}
	return atomicfile.Rename(part, dst)
}

// partSize returns the size of an existing regular part file, 0 when there
// is none; anything else at that name is removed.
func partSize(part string) (int64, error) {
	fi, err := os.Lstat(part)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("cannot inspect partial download %s: %w", part, err)
	case !fi.Mode().IsRegular():
		if err := os.RemoveAll(part); err != nil {
			return 0, fmt.Errorf("cannot remove %s, which is not a regular file: %w", part, err)
		}
		return 0, nil
	}
	return fi.Size(), nil
}

// attempt makes one request. It returns a non-empty restart reason when
// the part must be discarded and the download started from byte 0.
func (d Downloader) attempt(ctx context.Context, rawURL, part string, size int64) (restart string, err error) {
	shown := redactURL(rawURL)
	limit := d.maxSize()
	off, err := partSize(part)
	if err != nil {
		return "", err
	}
	if size > 0 && off > size {
		return fmt.Sprintf("the partial file has %d bytes, more than the %d expected", off, size), nil
	}
	if size > 0 && off == size {
		return "", nil // complete before; the caller verifies the content
	}
	t, err := d.start(ctx, rawURL, off)
	if err != nil {
		return "", err
	}
	defer t.close()
	resp := t.resp

	expected := int64(-1) // total size of the file, -1 when unknown
	switch resp.StatusCode {
	case http.StatusOK:
		off = 0 // a full answer, Range or not
		expected = resp.ContentLength
	case http.StatusPartialContent:
		if off == 0 {
			return "", fmt.Errorf("cannot download %s: HTTP 206 to a request without Range", shown)
		}
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != off {
			return fmt.Sprintf("asked to resume at byte %d, the server answered Content-Range %q", off, resp.Header.Get("Content-Range")), nil
		}
		if total >= 0 && resp.ContentLength >= 0 && off+resp.ContentLength != total {
			return fmt.Sprintf("Content-Range %q does not agree with Content-Length %d", resp.Header.Get("Content-Range"), resp.ContentLength), nil
		}
		expected = total
		if expected < 0 && resp.ContentLength >= 0 {
			expected = off + resp.ContentLength
		}
	case http.StatusRequestedRangeNotSatisfiable:
		if off > 0 {
			return fmt.Sprintf("the server cannot resume at byte %d (HTTP 416)", off), nil
		}
		return "", t.statusError()
	default:
		return "", t.statusError()
	}
	if expected > limit {
		return "", untrustedf("cannot download %s: the server announces %d bytes, larger than the limit of %d bytes (raise maxSize if it is expected)", shown, expected, limit)
	}
	if size > 0 && expected >= 0 && expected != size {
		return "", untrustedf("cannot download %s: the server announces %d bytes, the release lists %d", shown, expected, size)
	}

	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if off == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(part, flags, 0o600)
	if err != nil {
		return "", fmt.Errorf("cannot open %s: %w", part, err)
	}
	defer func() {
		if f != nil {
			_ = f.Close()
		}
	}()
	got, copyErr := t.copy(f, off, func(n int64) error {
		if n > limit {
			return untrustedf("cannot download %s: more than %d bytes, larger than the limit (raise maxSize if it is expected)", shown, limit)
		}
		if size > 0 && n > size {
			return untrustedf("cannot download %s: more than the %d bytes the release lists", shown, size)
		}
		return nil
	})
	// Keep what arrived durable, so a resume after a crash starts from
	// bytes that are really there.
	if err := f.Sync(); err != nil && copyErr == nil {
		copyErr = fmt.Errorf("cannot sync %s: %w", part, err)
	}
	cerr := f.Close()
	f = nil
	if copyErr != nil {
		return "", copyErr
	}
	if cerr != nil {
		return "", fmt.Errorf("cannot close %s: %w", part, cerr)
	}
	if expected >= 0 && got != expected {
		return "", fmt.Errorf("cannot download %s: the body ended after %d of %d bytes", shown, got, expected)
	}
	if size > 0 && got != size {
		return "", fmt.Errorf("cannot download %s: the body ended after %d of %d bytes", shown, got, size)
	}
	return "", nil
}

// fetchBytes downloads a small file into memory, refusing more than limit
// bytes (ErrUntrusted). No resume: such files are a few kilobytes.
func (d Downloader) fetchBytes(ctx context.Context, rawURL string, limit int64) ([]byte, error) {
	t, err := d.start(ctx, rawURL, 0)
	if err != nil {
		return nil, err
	}
	defer t.close()
	if t.resp.StatusCode != http.StatusOK {
		return nil, t.statusError()
	}
	shown := redactURL(rawURL)
	if t.resp.ContentLength > limit {
		return nil, untrustedf("cannot download %s: the server announces %d bytes, larger than the limit of %d bytes", shown, t.resp.ContentLength, limit)
	}
	var buf bytes.Buffer
	n, err := t.copy(&buf, 0, func(n int64) error {
		if n > limit {
			return untrustedf("cannot download %s: more than the limit of %d bytes", shown, limit)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if t.resp.ContentLength >= 0 && n != t.resp.ContentLength {
		return nil, fmt.Errorf("cannot download %s: the body ended after %d of %d bytes", shown, n, t.resp.ContentLength)
	}
	return buf.Bytes(), nil
}

// transfer is one request in flight with its timers.
type transfer struct {
	parent context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
	stop   context.CancelFunc
	stall  *time.Timer
	every  time.Duration
	resp   *http.Response
	shown  string
}

// start sends the GET (with Range from off when off > 0) and returns once
// the headers arrived.
func (d Downloader) start(ctx context.Context, rawURL string, off int64) (*transfer, error) {
	shown := redactURL(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("cannot download %s: not an http(s) URL", shown)
	}
	if u.User != nil {
		return nil, fmt.Errorf("cannot download %s: credentials in the URL are not supported (use Token)", shown)
	}
	if d.Token != "" && u.Scheme != "https" && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("cannot download %s: refusing to send the token over plain http; use https", shown)
	}
	tctx, cancel := context.WithCancelCause(ctx)
	tctx, stop := context.WithTimeoutCause(tctx, d.timeout(), errTimeout)
	t := &transfer{parent: ctx, ctx: tctx, cancel: cancel, stop: stop, every: d.stallTimeout(), shown: shown}
	t.stall = time.AfterFunc(t.every, func() { cancel(errStalled) })

	req, err := http.NewRequestWithContext(tctx, http.MethodGet, u.String(), nil)
	if err != nil {
		t.close()
		return nil, fmt.Errorf("cannot create request for %s: %w", shown, err)
	}
	req.Header.Set("User-Agent", d.userAgent())
	req.Header.Set("Accept", "application/octet-stream")
	// No transparent gzip: the bytes hashed must be the bytes published.
	req.Header.Set("Accept-Encoding", "identity")
	if off > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(off, 10)+"-")
	}
	if d.Token != "" {
		req.Header.Set("Authorization", "Bearer "+d.Token)
	}
	resp, err := d.client(u.Host).Do(req)
	if err != nil {
		t.close()
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its URL may carry a pre-signed query
		}
		return nil, t.wrap(fmt.Sprintf("cannot download %s", shown), err)
	}
	t.resp = resp
	t.stall.Reset(t.every)
	return t, nil
}

// client returns the http.Client for one download: d.Client (or a default)
// with a CheckRedirect that drops the Authorization header on any hop to
// another host than firstHost (host:port). Go's client only compares host
// names, so it would send the token to another port, or a subdomain.
func (d Downloader) client(firstHost string) *http.Client {
	var c http.Client
	if d.Client != nil {
		c = *d.Client
	}
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !strings.EqualFold(req.URL.Host, firstHost) {
			req.Header.Del("Authorization")
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// copy copies the body to w, resetting the stall timer on every read.
// check is called with off + the bytes received so far before they are
// written; an error from it ends the copy.
func (t *transfer) copy(w io.Writer, off int64, check func(int64) error) (int64, error) {
	buf := make([]byte, 64<<10)
	total := off
	for {
		n, rerr := t.resp.Body.Read(buf)
		if n > 0 {
			t.stall.Reset(t.every)
			total += int64(n)
			if err := check(total); err != nil {
				return total - int64(n), err
			}
			if _, err := w.Write(buf[:n]); err != nil {
				return total - int64(n), fmt.Errorf("cannot write download of %s: %w", t.shown, err)
			}
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, t.wrap(fmt.Sprintf("cannot download %s: the body broke off after %d bytes", t.shown, total), rerr)
		}
	}
}

// wrap names why a request failed: the parent context's end (wrapped, so
// callers see context.Canceled), a stall or the request timeout.
func (t *transfer) wrap(msg string, err error) error {
	if perr := t.parent.Err(); perr != nil {
		return fmt.Errorf("%s: %w", msg, perr)
	}
	switch context.Cause(t.ctx) {
	case errStalled:
		return fmt.Errorf("%s: no data received for %s (stall timeout)", msg, t.every)
	case errTimeout:
		return fmt.Errorf("%s: the request timed out: %w", msg, err)
	}
	return fmt.Errorf("%s: %w", msg, err)
}

// statusError describes an unexpected HTTP status, with a short excerpt of
// the body. It is transient: callers retry.
func (t *transfer) statusError() error {
	excerpt, _ := io.ReadAll(io.LimitReader(t.resp.Body, 200))
	msg := strings.Join(strings.Fields(string(excerpt)), " ")
	if msg != "" {
		msg = ": " + msg
	}
	return fmt.Errorf("cannot download %s: HTTP %s%s", t.shown, t.resp.Status, msg)
}

func (t *transfer) close() {
	t.stall.Stop()
	if t.resp != nil {
		_ = t.resp.Body.Close()
	}
	t.stop()
	t.cancel(nil)
}

// parseContentRange parses "bytes <start>-<end>/<total>"; total is -1 for
// "*".
func parseContentRange(v string) (start, total int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(spec, "/")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	total = -1
	if tot != "*" {
		n, err := strconv.ParseInt(tot, 10, 64)
		if err != nil || n <= end {
			return 0, 0, false
		}
		total = n
	}
	return start, total, true
}
