// Package githubtest is a fake GitHub for tests: an httptest server on
// 127.0.0.1 that answers the REST calls for releases the way GitHub does
// (JSON shape, ETag and 304, rate-limit headers, pagination) and serves
// release assets the way github.com does (a 302 from the download URL to a
// storage host that supports Range requests).
//
// Every test that needs releases uses it, so the JSON the real
// internal/github client parses and the bytes the downloader fetches come
// from one place; a test in this package lists releases through the real
// client, so the fake cannot drift from it.
package githubtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/signedsums"
)

// Server is a fake GitHub. Its embedded httptest.Server is the API and the
// github.com download host; asset bytes are served by a second server on
// another port (like objects.githubusercontent.com), so a client that
// must not carry credentials across hosts can be tested.
//
// It serves:
//   - GET /repos/{owner}/{repo}/releases (?per_page, ?page, Link header),
//     /releases/latest and /releases/tags/{tag}: GitHub's JSON, with an
//     ETag (W/"…") honoured through If-None-Match (304) and X-RateLimit-*
//     headers;
//   - GET /{owner}/{repo}/releases/download/{tag}/{name}: 302 to the
//     storage host's /objects/{id};
//   - GET /objects/{id} on the storage host: the bytes, with
//     Content-Length, Content-Type application/octet-stream, and single
//     Range requests (206 + Content-Range; 416 when unsatisfiable).
//
// A Server is safe for concurrent use.
type Server struct {
	*httptest.Server
	objects *httptest.Server
	done    chan struct{}

	mu       sync.Mutex
	repos    map[string][]*release // "owner/repo" -> releases, oldest first
	blobs    map[int64]*asset      // asset id -> asset
	nextID   int64
	failures []failure
	requests []Request
	token    string
	remain   int
}

// Request is one request either host saw, for tests that assert headers.
type Request struct {
	Method string
	// URI is the request URI: path and query.
	URI string
	// Host is "api" for the API and download host, "objects" for the
	// storage host.
	Host   string
	Header http.Header
}

type release struct {
	id         int64
	owner      string
	repo       string
	tag        string
	body       string
	prerelease bool
	draft      bool
	created    time.Time
	digests    bool
	assets     []*asset
}

type asset struct {
	id     int64
	name   string
	data   []byte
	size   int64  // as published in the JSON
	digest string // "sha256:…" as published; "" for none
}

// ReleaseOption changes a release published by AddRelease.
type ReleaseOption func(*release, *bool)

// WithoutDigests publishes the assets without a "digest" (null), as
// GitHub does for assets uploaded before it computed digests.
func WithoutDigests() ReleaseOption {
	return func(_ *release, digests *bool) { *digests = false }
}

// WithBody sets the release notes (markdown).
func WithBody(md string) ReleaseOption {
	return func(r *release, _ *bool) { r.body = md }
}

// Prerelease marks the release as a prerelease.
func Prerelease() ReleaseOption {
	return func(r *release, _ *bool) { r.prerelease = true }
}

// Draft marks the release as a draft (listed, as GitHub lists drafts to
// tokens with push access; the client skips drafts).
func Draft() ReleaseOption {
	return func(r *release, _ *bool) { r.draft = true }
}

// Failure is what FailNext does to an asset download.
type Failure struct {
	cutAfter int64
	status   int
	stall    <-chan struct{}
}

// CutBodyAfter sends the headers of a full answer (Content-Length of the
// whole remainder) and n bytes of the body, then drops the connection.
func CutBodyAfter(n int64) Failure { return Failure{cutAfter: n} }

// Status answers with the HTTP status code and a short text body.
func Status(code int) Failure { return Failure{status: code, cutAfter: -1} }

// Stall sends the headers and n bytes, then blocks until release is
// closed, the client goes away or the server is closed, and then drops
// the connection. Tests of stall timeouts use it instead of sleeping.
func Stall(n int64, release <-chan struct{}) Failure {
	return Failure{cutAfter: n, stall: release}
}

type failure struct {
	name string // "" for any asset
	how  Failure
}

// New starts a Server on 127.0.0.1; t.Cleanup closes it.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		done:   make(chan struct{}),
		repos:  make(map[string][]*release),
		blobs:  make(map[int64]*asset),
		nextID: 1000,
		remain: 5000,
	}
	s.objects = httptest.NewServer(http.HandlerFunc(s.serveObject))
	s.Server = httptest.NewServer(http.HandlerFunc(s.serveAPI))
	t.Cleanup(func() {
		close(s.done)
		s.Server.Close()
		s.objects.Close()
	})
	return s
}

// APIURL is the API base URL, the value for the GitHub client's BaseURL
// (releases.github.apiURL, selfUpdate.apiURL).
func (s *Server) APIURL() string { return s.URL }

// ObjectsURL is the base URL of the storage host that serves asset bytes.
func (s *Server) ObjectsURL() string { return s.objects.URL }

// DownloadURL is the browser_download_url of an asset.
func (s *Server) DownloadURL(owner, repo, tag, name string) string {
	return s.URL + "/" + owner + "/" + repo + "/releases/download/" + tag + "/" + name
}

// RequireToken makes the API and the download host answer 404 (as GitHub
// does for a private repository) to requests without
// "Authorization: Bearer <token>". The storage host never needs it: its
// URLs are pre-signed on GitHub. "" turns the check off.
func (s *Server) RequireToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// SetRateLimitRemaining sets X-RateLimit-Remaining for the next API
// answers; 0 makes the next answer a rate-limit 403 as GitHub sends it.
// The default is 5000.
func (s *Server) SetRateLimitRemaining(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remain = n
}

// AddRelease publishes a release with one asset per file (size and
// sha256 digest computed, state "uploaded"). A later release is listed
// first, as GitHub lists the newest first. Publishing a tag again
// replaces that release.
func (s *Server) AddRelease(owner, repo, tag string, files map[string][]byte, opts ...ReleaseOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := owner + "/" + repo
	s.nextID++
	r := &release{id: s.nextID, owner: owner, repo: repo, tag: tag,
		created: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(s.nextID) * time.Minute)}
	digests := true
	for _, o := range opts {
		o(r, &digests)
	}
	r.digests = digests
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s.nextID++
		a := &asset{id: s.nextID, name: n, data: clone(files[n]), size: int64(len(files[n]))}
		if digests {
			a.digest = digestOf(a.data)
		}
		s.blobs[a.id] = a
		r.assets = append(r.assets, a)
	}
	list := s.repos[key]
	for i, old := range list {
		if old.tag == tag {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	s.repos[key] = append(list, r)
}

// SignTime is when AddSignedRelease signs: the release commit's time of
// every fake release.
var SignTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// AddSignedRelease is AddRelease with SHA256SUMS (of files) and
// SHA256SUMS.minisig (signed with key for version tag at SignTime) added,
// as `make release` publishes them.
func (s *Server) AddSignedRelease(owner, repo, tag string, key minisign.PrivateKey, files map[string][]byte, opts ...ReleaseOption) {
	all := make(map[string][]byte, len(files)+2)
	sums := signedsums.Sums{}
	for n, b := range files {
		all[n] = b
		sums[n] = signedsums.Sum(b)
	}
	list := sums.Format()
	all[signedsums.SumsName] = list
	all[signedsums.SigName] = signedsums.Sign(key, list, tag, SignTime)
	s.AddRelease(owner, repo, tag, all, opts...)
}

// SetAsset replaces (or adds) the bytes of an asset after publishing.
// With keepDigest the listed size and digest stay those of the old bytes
// (storage tampered behind GitHub's back); without, they are recomputed
// (an asset re-uploaded by someone with write access).
func (s *Server) SetAsset(owner, repo, tag, name string, data []byte, keepDigest bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.findLocked(owner, repo, tag)
	if r == nil {
		panic(fmt.Sprintf("githubtest: SetAsset: no release %s of %s/%s", tag, owner, repo))
	}
	for _, a := range r.assets {
		if a.name == name {
			a.data = clone(data)
			if !keepDigest {
				a.size = int64(len(data))
				if a.digest != "" {
					a.digest = digestOf(data)
				}
			}
			return
		}
	}
	s.nextID++
	a := &asset{id: s.nextID, name: name, data: clone(data), size: int64(len(data))}
	if r.digests {
		a.digest = digestOf(data)
	}
	s.blobs[a.id] = a
	r.assets = append(r.assets, a)
}

// RemoveAsset deletes an asset from a release.
func (s *Server) RemoveAsset(owner, repo, tag, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.findLocked(owner, repo, tag)
	if r == nil {
		return
	}
	for i, a := range r.assets {
		if a.name == name {
			r.assets = append(r.assets[:i], r.assets[i+1:]...)
			delete(s.blobs, a.id)
			return
		}
	}
}

// FailNext makes the next n asset downloads (requests to the storage
// host, of any asset) fail as how says.
func (s *Server) FailNext(n int, how Failure) { s.FailNextFor("", n, how) }

// FailNextFor is FailNext for downloads of the asset called name only.
func (s *Server) FailNextFor(name string, n int, how Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, failure{name: name, how: how})
	}
}

// Requests is the log of requests both hosts saw, oldest first, each as
// "GET <path?query>", followed by " Range: <value>" when the request had
// a Range header. Tests assert resumption with it.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.requests))
	for _, r := range s.requests {
		line := r.Method + " " + r.URI
		if rg := r.Header.Get("Range"); rg != "" {
			line += " Range: " + rg
		}
		out = append(out, line)
	}
	return out
}

// Log is the log of requests with their headers, oldest first.
func (s *Server) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = r
		out[i].Header = r.Header.Clone()
	}
	return out
}

func (s *Server) record(r *http.Request, host string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, URI: r.URL.RequestURI(), Host: host, Header: r.Header.Clone()})
}

func (s *Server) findLocked(owner, repo, tag string) *release {
	for _, r := range s.repos[owner+"/"+repo] {
		if r.tag == tag {
			return r
		}
	}
	return nil
}

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	s.record(r, "api")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	s.mu.Lock()
	token := s.token
	s.mu.Unlock()
	if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	switch {
	case len(parts) == 6 && parts[2] == "releases" && parts[3] == "download":
		s.serveDownload(w, r, parts[0], parts[1], parts[4], parts[5])
	case len(parts) >= 4 && parts[0] == "repos" && parts[3] == "releases":
		s.serveReleases(w, r, parts[1], parts[2], parts[4:])
	default:
		apiError(w, http.StatusNotFound, "Not Found")
	}
}

func (s *Server) serveDownload(w http.ResponseWriter, r *http.Request, owner, repo, tag, name string) {
	s.mu.Lock()
	rel := s.findLocked(owner, repo, tag)
	var id int64
	if rel != nil && !rel.draft {
		for _, a := range rel.assets {
			if a.name == name {
				id = a.id
			}
		}
	}
	s.mu.Unlock()
	if id == 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("Not Found"))
		return
	}
	// GitHub redirects to a pre-signed storage URL on another host.
	http.Redirect(w, r, s.objects.URL+"/objects/"+strconv.FormatInt(id, 10)+"?X-Amz-Signature=fake&response-content-disposition=attachment", http.StatusFound)
}

func (s *Server) serveReleases(w http.ResponseWriter, r *http.Request, owner, repo string, rest []string) {
	s.mu.Lock()
	remain := s.remain
	if remain > 0 {
		s.remain--
	}
	list := s.repos[owner+"/"+repo]
	var page []map[string]any
	var single map[string]any
	found := true
	lastPage := 1
	switch {
	case len(rest) == 0:
		perPage := intParam(r, "per_page", 30, 1, 100)
		pageNo := intParam(r, "page", 1, 1, 1<<20)
		all := make([]*release, 0, len(list))
		for i := len(list) - 1; i >= 0; i-- {
			all = append(all, list[i])
		}
		lastPage = max(1, (len(all)+perPage-1)/perPage)
		page = []map[string]any{}
		for i := (pageNo - 1) * perPage; i < len(all) && i < pageNo*perPage; i++ {
			page = append(page, s.releaseJSON(all[i]))
		}
		if pageNo < lastPage {
			next := *r.URL
			q := next.Query()
			q.Set("page", strconv.Itoa(pageNo+1))
			next.RawQuery = q.Encode()
			last := *r.URL
			q.Set("page", strconv.Itoa(lastPage))
			last.RawQuery = q.Encode()
			w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="next", <%s%s>; rel="last"`, s.URL, next.RequestURI(), s.URL, last.RequestURI()))
		}
	case len(rest) == 1 && rest[0] == "latest":
		found = false
		for i := len(list) - 1; i >= 0; i-- {
			if !list[i].draft && !list[i].prerelease {
				single, found = s.releaseJSON(list[i]), true
				break
			}
		}
	case len(rest) == 2 && rest[0] == "tags":
		rel := s.findLocked(owner, repo, rest[1])
		found = rel != nil
		if found {
			single = s.releaseJSON(rel)
		}
	default:
		found = false
	}
	s.mu.Unlock()

	reset := time.Now().Add(time.Hour).Unix()
	h := w.Header()
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(remain-1, 0)))
	h.Set("X-RateLimit-Used", strconv.Itoa(5000-max(remain-1, 0)))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	if remain <= 0 {
		h.Set("X-RateLimit-Remaining", "0")
		h.Del("Link")
		apiError(w, http.StatusForbidden, "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests get a higher rate limit.)")
		return
	}
	if !found {
		h.Del("Link")
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	var v any = page
	if single != nil {
		v = single
	}
	body, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(body)
	etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
	h.Set("ETag", etag)
	h.Set("Cache-Control", "private, max-age=60, s-maxage=60")
	h.Set("Vary", "Accept, Authorization, Cookie, X-GitHub-OTP")
	if inm := r.Header.Get("If-None-Match"); inm != "" && strings.TrimPrefix(inm, "W/") == strings.TrimPrefix(etag, "W/") {
		// A 304 does not count against the rate limit.
		s.mu.Lock()
		s.remain++
		s.mu.Unlock()
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remain))
		h.Set("X-RateLimit-Used", strconv.Itoa(5000-remain))
		h.Del("Link")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write(body)
}

func (s *Server) releaseJSON(r *release) map[string]any {
	apiRel := fmt.Sprintf("%s/repos/%s/%s/releases/%d", s.URL, r.owner, r.repo, r.id)
	assets := make([]map[string]any, 0, len(r.assets))
	for _, a := range r.assets {
		var digest any
		if a.digest != "" {
			digest = a.digest
		}
		ct := "application/octet-stream"
		if strings.HasSuffix(a.name, ".tar.gz") || strings.HasSuffix(a.name, ".tgz") {
			ct = "application/gzip"
		}
		assets = append(assets, map[string]any{
			"url":                  fmt.Sprintf("%s/repos/%s/%s/releases/assets/%d", s.URL, r.owner, r.repo, a.id),
			"id":                   a.id,
			"node_id":              "RA_" + strconv.FormatInt(a.id, 10),
			"name":                 a.name,
			"label":                "",
			"uploader":             user(),
			"content_type":         ct,
			"state":                "uploaded",
			"size":                 a.size,
			"digest":               digest,
			"download_count":       0,
			"created_at":           r.created.Format(time.RFC3339),
			"updated_at":           r.created.Format(time.RFC3339),
			"browser_download_url": s.DownloadURL(r.owner, r.repo, r.tag, a.name),
		})
	}
	var published any = r.created.Add(time.Minute).Format(time.RFC3339)
	if r.draft {
		published = nil
	}
	return map[string]any{
		"url":              apiRel,
		"assets_url":       apiRel + "/assets",
		"upload_url":       fmt.Sprintf("%s/repos/%s/%s/releases/%d/assets{?name,label}", s.URL, r.owner, r.repo, r.id),
		"html_url":         fmt.Sprintf("%s/%s/%s/releases/tag/%s", s.URL, r.owner, r.repo, r.tag),
		"id":               r.id,
		"author":           user(),
		"node_id":          "RE_" + strconv.FormatInt(r.id, 10),
		"tag_name":         r.tag,
		"target_commitish": "main",
		"name":             r.tag,
		"draft":            r.draft,
		"immutable":        false,
		"prerelease":       r.prerelease,
		"created_at":       r.created.Format(time.RFC3339),
		"updated_at":       r.created.Format(time.RFC3339),
		"published_at":     published,
		"assets":           assets,
		"tarball_url":      fmt.Sprintf("%s/repos/%s/%s/tarball/%s", s.URL, r.owner, r.repo, r.tag),
		"zipball_url":      fmt.Sprintf("%s/repos/%s/%s/zipball/%s", s.URL, r.owner, r.repo, r.tag),
		"body":             r.body,
	}
}

func (s *Server) serveObject(w http.ResponseWriter, r *http.Request) {
	s.record(r, "objects")
	id, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/objects/"), 10, 64)
	s.mu.Lock()
	a := s.blobs[id]
	var data []byte
	var fail *Failure
	if a != nil {
		data = a.data
		for i, f := range s.failures {
			if f.name == "" || f.name == a.name {
				fail = &f.how
				s.failures = append(s.failures[:i], s.failures[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	if err != nil || a == nil || !strings.HasPrefix(r.URL.Path, "/objects/") {
		storageError(w, http.StatusNotFound, "NoSuchKey")
		return
	}
	if fail != nil && fail.status != 0 {
		storageError(w, fail.status, http.StatusText(fail.status))
		return
	}

	size := int64(len(data))
	start, end := int64(0), size-1
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" {
		st, en, ok := parseRange(rg, size)
		if !ok {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			storageError(w, http.StatusRequestedRangeNotSatisfiable, "InvalidRange")
			return
		}
		start, end, status = st, en, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
	}
	body := data[start : end+1]
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", `"`+digestOf(data)[len("sha256:"):][:32]+`"`)
	h.Set("Last-Modified", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Format(http.TimeFormat))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	if fail == nil || fail.cutAfter < 0 || fail.cutAfter >= int64(len(body)) {
		_, _ = w.Write(body)
		return
	}
	_, _ = w.Write(body[:fail.cutAfter])
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	if fail.stall != nil {
		select {
		case <-fail.stall:
		case <-r.Context().Done():
		case <-s.done:
		}
	}
	// Drop the connection without finishing the body.
	panic(http.ErrAbortHandler)
}

// parseRange parses one "bytes=a-b", "bytes=a-" or "bytes=-n" range.
func parseRange(v string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(v, "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	if a == "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 || size == 0 {
			return 0, 0, false
		}
		return max(size-n, 0), size - 1, true
	}
	start, err := strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 || start >= size {
		return 0, 0, false
	}
	end = size - 1
	if b != "" {
		e, err := strconv.ParseInt(b, 10, 64)
		if err != nil || e < start {
			return 0, 0, false
		}
		end = min(e, size-1)
	}
	return start, end, true
}

func intParam(r *http.Request, name string, def, lo, hi int) int {
	n, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil {
		return def
	}
	return min(max(n, lo), hi)
}

// apiError answers with GitHub's error body.
func apiError(w http.ResponseWriter, code int, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"message":           message,
		"documentation_url": "https://docs.github.com/rest",
		"status":            strconv.Itoa(code),
	})
}

// storageError answers like the storage host, with a small XML body.
func storageError(w http.ResponseWriter, code int, what string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code></Error>\n", what)
}

func user() map[string]any {
	return map[string]any{"login": "octocat", "id": 1, "node_id": "MDQ6VXNlcjE=", "type": "User", "site_admin": false}
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }
