package github

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/releases"
)

// TestListParsesGitHubReleases reads a listing in GitHub's real shape:
// drafts and non-semver tags are skipped, prereleases only on request,
// the order is by semver (v1.10.0 above v1.9.9, whatever GitHub's order
// or "latest"), and assets keep their digest when GitHub gives one.
func TestListParsesGitHubReleases(t *testing.T) {
	tests := []struct {
		name       string
		prerelease bool
		want       []string
		wantPre    map[string]bool
	}{
		{
			name: "full releases only",
			want: []string{"v1.10.0", "v1.9.9", "v1.0.0"},
		},
		{
			name:       "with prereleases",
			prerelease: true,
			want:       []string{"v2.0.0-rc.1", "v1.11.0-beta.1", "v1.10.0", "v1.9.9", "v1.2.3", "v1.0.0"},
			// v1.11.0-beta.1 is a prerelease by its suffix although GitHub
			// says false; v1.2.3 by GitHub's flag although its tag is plain.
			wantPre: map[string]bool{"v2.0.0-rc.1": true, "v1.11.0-beta.1": true, "v1.2.3": true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newClock()
			body := fixture(t)
			f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
				serveReleases(w, r, clock, `W/"abc"`, body)
			})
			c := newClient(f, clock, "")
			c.Prerelease = tt.prerelease
			l := mustList(t, c)
			wantCount(t, f, 1)

			if got := versions(l); !sameStrings(got, tt.want) {
				t.Fatalf("versions = %v, want %v", got, tt.want)
			}
			for _, r := range l.Releases {
				if r.Tag != r.Version || r.Commit != "" {
					t.Errorf("%s: Tag %q Commit %q, want Tag = Version and no commit", r.Version, r.Tag, r.Commit)
				}
				if r.Prerelease != tt.wantPre[r.Version] {
					t.Errorf("%s: Prerelease = %t, want %t", r.Version, r.Prerelease, tt.wantPre[r.Version])
				}
			}
			if latest, ok := releases.Latest(l.Releases, nil); !ok || latest.Version != "v1.10.0" {
				t.Errorf("releases.Latest = %v %t, want v1.10.0", latest.Version, ok)
			}
			if l.Source != "GitHub releases of acme/app on "+strings.TrimPrefix(f.URL, "http://") {
				t.Errorf("Source = %q", l.Source)
			}
			if !l.FetchedAt.Equal(clock.Now()) {
				t.Errorf("FetchedAt = %v, want %v", l.FetchedAt, clock.Now())
			}
		})
	}
}

func TestListParsesAssetsAndDates(t *testing.T) {
	clock := newClock()
	body := fixture(t)
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `W/"abc"`, body)
	})
	l := mustList(t, newClient(f, clock, ""))
	r, ok := releases.Find(l.Releases, "v1.10.0")
	if !ok {
		t.Fatal("v1.10.0 missing")
	}
	if want := time.Date(2025, 6, 1, 15, 4, 5, 0, time.UTC); !r.PublishedAt.Equal(want) {
		t.Errorf("PublishedAt = %v, want %v", r.PublishedAt, want)
	}
	want := []releases.Asset{
		{Name: "better-paas-linux-amd64", Size: 23456789, Digest: "sha256:" + strings.Repeat("c", 64),
			URL: "https://github.com/acme/app/releases/download/v1.10.0/better-paas-linux-amd64"},
		// digest: null
		{Name: "better-paas-darwin-arm64", Size: 22222222,
			URL: "https://github.com/acme/app/releases/download/v1.10.0/better-paas-darwin-arm64"},
		// no digest field at all; the "starter" (unfinished) upload is left out
		{Name: "SHA256SUMS", Size: 640, URL: "https://github.com/acme/app/releases/download/v1.10.0/SHA256SUMS"},
	}
	if !reflect.DeepEqual(r.Assets, want) {
		t.Errorf("assets = %+v\nwant %+v", r.Assets, want)
	}
	old, _ := releases.Find(l.Releases, "v1.0.0")
	if len(old.Assets) != 0 || old.PublishedAt.IsZero() {
		t.Errorf("v1.0.0 = %+v, want no assets and a date", old)
	}
}

func TestListSendsGitHubHeadersAndToken(t *testing.T) {
	for _, token := range []string{"", testToken} {
		t.Run("token="+map[bool]string{true: "set", false: "unset"}[token != ""], func(t *testing.T) {
			clock := newClock()
			f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
				serveReleases(w, r, clock, `"e1"`, releasesBody(t, "v1.0.0"))
			})
			c := newClient(f, clock, "")
			c.Token = token
			mustList(t, c)
			got := f.req(t, 1)
			if got.Path != "/repos/acme/app/releases" || got.RawQuery != "per_page=100" {
				t.Errorf("request %s?%s", got.Path, got.RawQuery)
			}
			checks := map[string]string{
				"Accept":               "application/vnd.github+json",
				"X-Github-Api-Version": "2022-11-28",
				"User-Agent":           "better-paas-updater",
				"If-None-Match":        "",
			}
			if token != "" {
				checks["Authorization"] = "Bearer " + testToken
			} else {
				checks["Authorization"] = ""
			}
			for k, v := range checks {
				if g := got.Header.Get(k); g != v {
					t.Errorf("header %s = %q, want %q", k, g, v)
				}
			}
		})
	}
}

// TestListEmptyRepository: no releases is an answer, not an error.
func TestListEmptyRepository(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `"empty"`, []byte("[]"))
	})
	l := mustList(t, newClient(f, clock, ""))
	if len(l.Releases) != 0 || l.FetchedAt.IsZero() {
		t.Fatalf("listing = %+v, want empty and fetched", l)
	}
}

// TestListReturnsACopy: a caller editing its listing cannot change the
// cache.
func TestListReturnsACopy(t *testing.T) {
	clock := newClock()
	body := fixture(t)
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `"x"`, body)
	})
	c := newClient(f, clock, "")
	l := mustList(t, c)
	l.Releases[0].Version = "v9.9.9"
	l.Releases[0].Assets[0].Name = "evil"
	again := mustList(t, c)
	if again.Releases[0].Version != "v1.10.0" || again.Releases[0].Assets[0].Name != "better-paas-linux-amd64" {
		t.Fatalf("cache changed through a returned listing: %+v", again.Releases[0])
	}
}

// TestConcurrentListsMakeOneRequest: calls are serialised, so a burst of
// reconciles costs one request.
func TestConcurrentListsMakeOneRequest(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `"x"`, releasesBody(t, "v1.0.0", "v1.1.0"))
	})
	c := newClient(f, clock, "")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := c.List(context.Background())
			if err == nil && (len(l.Releases) != 2 || l.Stale != nil) {
				err = errors.New("bad listing")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantCount(t, f, 1)
}

func TestListRejectsBadConfigurationWithoutRequest(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `"x"`, []byte("[]"))
	})
	tests := []struct {
		name string
		edit func(c *Client)
		want error
	}{
		{"empty owner", func(c *Client) { c.Owner = "" }, ErrInvalidRepository},
		{"path in name", func(c *Client) { c.Name = "app/../../x" }, ErrInvalidRepository},
		{"dot name", func(c *Client) { c.Name = ".." }, ErrInvalidRepository},
		{"relative base", func(c *Client) { c.BaseURL = "api.github.com" }, ErrInvalidBaseURL},
		{"ftp base", func(c *Client) { c.BaseURL = "ftp://api.github.com" }, ErrInvalidBaseURL},
		{"token over plain http to a remote host", func(c *Client) {
			c.BaseURL = "http://ghe.example.com/api/v3"
			c.Token = testToken
		}, ErrInvalidBaseURL},
		{"token with a newline inside", func(c *Client) { c.Token = "ghp_a\nX-Evil: 1" }, ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(f, clock, "")
			tt.edit(c)
			_, err := c.List(context.Background())
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("error leaks the token: %v", err)
			}
		})
	}
	wantCount(t, f, 0)
}

// TestEnterpriseBaseURL: the API path is appended to a GHE base with a
// path, and a trailing slash does not double.
func TestEnterpriseBaseURL(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `"x"`, releasesBody(t, "v1.0.0"))
	})
	c := newClient(f, clock, "")
	c.BaseURL = f.URL + "/api/v3/"
	mustList(t, c)
	if got := f.req(t, 1).Path; got != "/api/v3/repos/acme/app/releases" {
		t.Fatalf("path = %q", got)
	}
}
