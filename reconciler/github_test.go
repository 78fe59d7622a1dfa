package reconciler_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/internal/updaterepo"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// fakeGitHub answers GET /repos/acme/app/releases the way api.github.com
// does: its JSON, an ETag, 304 to a matching If-None-Match; fail makes it
// answer 500.
type fakeGitHub struct {
	requests atomic.Int64
	fail     atomic.Bool
	body     []byte
}

func newFakeGitHub(t *testing.T, releases ...map[string]any) (*fakeGitHub, string) {
	t.Helper()
	f := &fakeGitHub{}
	var err error
	if f.body, err = json.Marshal(releases); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		if r.URL.Path != "/repos/acme/app/releases" {
			http.NotFound(w, r)
			return
		}
		if f.fail.Load() {
			http.Error(w, `{"message":"Server Error"}`, http.StatusInternalServerError)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("X-RateLimit-Limit", "60")
		w.Header().Set("X-RateLimit-Remaining", "59")
		w.Header().Set("X-RateLimit-Reset", fmt.Sprint(time.Now().Add(time.Hour).Unix()))
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(f.body)
	}))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func ghRelease(tag string, draft, prerelease bool) map[string]any {
	return map[string]any{
		"tag_name": tag, "name": tag, "draft": draft, "prerelease": prerelease,
		"published_at": "2026-11-01T12:00:00Z", "target_commitish": "main",
		"assets": []map[string]any{{"name": "better-paas-linux-amd64", "size": 1234, "state": "uploaded",
			"digest": "sha256:" + strings.Repeat("ab", 32), "browser_download_url": "https://example.invalid/" + tag}},
	}
}

// TestGitHubReleasesSource: with UPDATE_REPO on GitHub, latest is the semver
// maximum of its releases (drafts and prereleases left out), the commit comes
// from the remote the install fetches from, answers are cached, and a failing
// GitHub leaves the host as it is with ReleasesStale saying why.
func TestGitHubReleasesSource(t *testing.T) {
	t.Parallel()
	gh, api := newFakeGitHub(t,
		ghRelease("v1.0.0", false, false),
		ghRelease("v1.1.0", false, false),
		ghRelease("v1.2.0", true, false), // a draft
		ghRelease("v1.3.0-rc.1", false, true),
	)
	h := newHost(t)
	h.cfg.Releases.Source = "github"
	h.cfg.Releases.GitHub.APIURL = api
	h.cfg.Releases.CacheTTL.Duration = time.Hour
	repo, err := gitrepo.Open(h.install)
	if err != nil {
		t.Fatal(err)
	}
	res := reconciler.RepoResolver(h.cfg, repo)
	if err := os.MkdirAll(h.cfg.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := res.Store(updaterepo.Repo{Host: "github.com", Owner: "acme", Name: "app"}); err != nil {
		t.Fatal(err)
	}

	h.set("latest")
	st := h.converge()
	if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" || st.CurrentCommit != h.tagCommit("v1.1.0") {
		t.Fatalf("latest from GitHub: Ready %s, current %s@%s", condition(st, status.TypeReady), st.CurrentVersion, st.CurrentCommit)
	}
	h.serving("v1.1.0")
	asked := gh.requests.Load()
	if asked == 0 {
		t.Fatal("GitHub was never asked")
	}

	// Within the cache TTL no request is made.
	if _, err := h.r.Reconcile(h.ctx); err != nil {
		t.Fatal(err)
	}
	if gh.requests.Load() != asked {
		t.Errorf("a reconcile within the TTL asked GitHub again (%d -> %d requests)", asked, gh.requests.Load())
	}
	check, err := h.r.Check(h.ctx, false)
	if err != nil || check.LatestVersion != "v1.1.0" || check.UpdateAvailable || check.Repo != "acme/app" || !strings.Contains(check.Source, "acme/app") {
		t.Errorf("Check = %+v, %v", check, err)
	}

	// GitHub fails: the cached answer is used, the host is left alone and
	// the condition says the list is stale and why.
	gh.fail.Store(true)
	check, err = h.r.Check(h.ctx, true)
	if err != nil || check.Stale == "" || check.LatestVersion != "v1.1.0" {
		t.Fatalf("Check --refresh against a failing GitHub = %+v, %v", check, err)
	}
	h.cfg.Releases.CacheTTL.Duration = time.Nanosecond
	st = h.converge()
	if !st.IsTrue(status.TypeReady) || condition(st, status.TypeReleasesStale) != "True/"+reconciler.ReasonSourceUnavailable {
		t.Errorf("with GitHub down: Ready %s, ReleasesStale %s", condition(st, status.TypeReady), condition(st, status.TypeReleasesStale))
	}
	gh.fail.Store(false)
	st = h.converge()
	if condition(st, status.TypeReleasesStale) != "absent" {
		t.Errorf("ReleasesStale stayed after GitHub recovered: %s", condition(st, status.TypeReleasesStale))
	}
}
