package githubtest_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/github"
	"github.com/better-paas/updater/internal/github/githubtest"
	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/internal/signedsums"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// TestRealClientListsReleases lists the fake's releases through the real
// internal/github client: if the fake's JSON drifts from what the client
// parses, this fails.
func TestRealClientListsReleases(t *testing.T) {
	srv := githubtest.New(t)
	bin := []byte("binary v1.0.0")
	srv.AddRelease("acme", "app", "v1.0.0", map[string][]byte{"app_linux_amd64": bin, "SHA256SUMS": []byte("sums")})
	srv.AddRelease("acme", "app", "v1.1.0", map[string][]byte{"app_linux_amd64": []byte("new")}, githubtest.WithoutDigests(), githubtest.WithBody("notes *here*"))
	srv.AddRelease("acme", "app", "v2.0.0-rc.1", nil, githubtest.Prerelease())
	srv.AddRelease("acme", "app", "v3.0.0", nil, githubtest.Draft())

	c := &github.Client{BaseURL: srv.APIURL(), Owner: "acme", Name: "app", HTTPClient: &http.Client{Timeout: 5 * time.Second}}
	l, err := c.Refresh(context.Background())
	if err != nil || l.Stale != nil {
		t.Fatalf("Refresh: %v (stale %v)", err, l.Stale)
	}
	var got []string
	for _, r := range l.Releases {
		got = append(got, r.Version)
	}
	if fmt.Sprint(got) != "[v1.1.0 v1.0.0]" {
		t.Fatalf("versions = %v, want [v1.1.0 v1.0.0] (no prerelease, no draft)", got)
	}
	v110, v100 := l.Releases[0], l.Releases[1]
	if v110.Notes != "notes *here*" || len(v110.Assets) != 1 || v110.Assets[0].Digest != "" {
		t.Errorf("v1.1.0 = %+v, want its notes and one asset without digest", v110)
	}
	want := []releases.Asset{
		{Name: "SHA256SUMS", Size: 4, Digest: sha([]byte("sums")), URL: srv.DownloadURL("acme", "app", "v1.0.0", "SHA256SUMS")},
		{Name: "app_linux_amd64", Size: int64(len(bin)), Digest: sha(bin), URL: srv.DownloadURL("acme", "app", "v1.0.0", "app_linux_amd64")},
	}
	if fmt.Sprint(v100.Assets) != fmt.Sprint(want) {
		t.Errorf("v1.0.0 assets = %+v\nwant %+v", v100.Assets, want)
	}
	if v100.PublishedAt.IsZero() || v100.URL == "" {
		t.Errorf("v1.0.0 PublishedAt %v URL %q, want both set", v100.PublishedAt, v100.URL)
	}

	// The asset URL the client returns downloads the bytes.
	resp, err := http.Get(v100.Assets[1].URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != string(bin) {
		t.Fatalf("download = %d %q, want 200 %q", resp.StatusCode, body, bin)
	}

	// Unchanged: a conditional request answered 304, same listing.
	if _, err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := srv.Log()
	last := log[len(log)-1]
	if last.Header.Get("If-None-Match") == "" {
		t.Errorf("second listing sent no If-None-Match: %v", last.Header)
	}
	// Changed: a new ETag, the new release listed.
	srv.AddRelease("acme", "app", "v1.2.0", nil)
	l, err = c.Refresh(context.Background())
	if err != nil || len(l.Releases) != 3 || l.Releases[0].Version != "v1.2.0" {
		t.Fatalf("after a new release: %v, %v", l.Releases, err)
	}
}

func TestETagAndRateLimitHeaders(t *testing.T) {
	srv := githubtest.New(t)
	srv.AddRelease("acme", "app", "v1.0.0", nil)
	get := func(etag string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.APIURL()+"/repos/acme/app/releases?per_page=100", nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp
	}
	first := get("")
	etag := first.Header.Get("ETag")
	if first.StatusCode != 200 || !strings.HasPrefix(etag, `W/"`) {
		t.Fatalf("first: %d ETag %q", first.StatusCode, etag)
	}
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Used", "X-RateLimit-Resource"} {
		if first.Header.Get(h) == "" {
			t.Errorf("missing %s", h)
		}
	}
	if second := get(etag); second.StatusCode != http.StatusNotModified || second.Header.Get("ETag") != etag {
		t.Errorf("conditional: %d ETag %q, want 304 %q", second.StatusCode, second.Header.Get("ETag"), etag)
	}
	srv.SetRateLimitRemaining(0)
	if limited := get(""); limited.StatusCode != http.StatusForbidden || limited.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("rate limited: %d remaining %q", limited.StatusCode, limited.Header.Get("X-RateLimit-Remaining"))
	}
	c := &github.Client{BaseURL: srv.APIURL(), Owner: "acme", Name: "app"}
	_, err := c.Refresh(context.Background())
	var rl *github.RateLimitError
	if !errors.As(err, &rl) {
		t.Errorf("client error = %v, want a RateLimitError", err)
	}
}

func TestDownloadRedirectRangeAndFailures(t *testing.T) {
	srv := githubtest.New(t)
	data := []byte("0123456789abcdefghij")
	srv.AddRelease("o", "r", "v1.0.0", map[string][]byte{"a.bin": data})
	url := srv.DownloadURL("o", "r", "v1.0.0", "a.bin")
	fetch := func(rg string) (*http.Response, []byte, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if rg != "" {
			req.Header.Set("Range", rg)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, b, err
	}
	resp, b, err := fetch("bytes=15-")
	if err != nil || resp.StatusCode != 206 || string(b) != "fghij" || resp.Header.Get("Content-Range") != "bytes 15-19/20" {
		t.Fatalf("range: %v %v %q %q", err, resp, b, resp.Header.Get("Content-Range"))
	}
	if !strings.HasPrefix(resp.Request.URL.String(), srv.ObjectsURL()+"/objects/") {
		t.Errorf("served from %s, want the objects host", resp.Request.URL)
	}
	if resp, _, _ := fetch("bytes=20-"); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("unsatisfiable range: %d, want 416", resp.StatusCode)
	}

	srv.FailNext(1, githubtest.CutBodyAfter(5))
	if _, b, err := fetch(""); err == nil || string(b) != "01234" {
		t.Errorf("cut body: %q, %v; want 5 bytes and an error", b, err)
	}
	srv.FailNext(1, githubtest.Status(503))
	if resp, _, _ := fetch(""); resp.StatusCode != 503 {
		t.Errorf("status failure: %d, want 503", resp.StatusCode)
	}
	srv.FailNextFor("other", 1, githubtest.Status(500))
	if resp, b, _ := fetch(""); resp.StatusCode != 200 || string(b) != string(data) {
		t.Errorf("failure for another asset applied: %d %q", resp.StatusCode, b)
	}

	srv.SetAsset("o", "r", "v1.0.0", "a.bin", []byte("evil"), true)
	if _, b, _ := fetch(""); string(b) != "evil" {
		t.Errorf("after SetAsset: %q", b)
	}
	reqs := srv.Requests()
	if !strings.Contains(strings.Join(reqs, "\n"), "Range: bytes=15-") {
		t.Errorf("request log lacks the Range request: %q", reqs)
	}

	srv.RequireToken("tok")
	if resp, _, _ := fetch(""); resp.StatusCode != 404 {
		t.Errorf("without token: %d, want 404", resp.StatusCode)
	}
}

func TestAddSignedReleaseVerifies(t *testing.T) {
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srv := githubtest.New(t)
	srv.AddSignedRelease("o", "r", "v1.0.0", priv, map[string][]byte{"a.bin": []byte("a")})
	get := func(name string) []byte {
		resp, err := http.Get(srv.DownloadURL("o", "r", "v1.0.0", name))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	sums, sig := get(signedsums.SumsName), get(signedsums.SigName)
	if err := signedsums.Verify(pub, sums, sig, "v1.0.0"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	list, err := signedsums.Parse(sums)
	if err != nil || len(list) != 1 || list["a.bin"] != signedsums.Sum([]byte("a")) {
		t.Fatalf("SHA256SUMS = %v, %v", list, err)
	}
}
