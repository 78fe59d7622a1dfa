package github

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCacheWithinTTLMakesNoRequest: for 30 minutes the answer comes from
// the cache, with the FetchedAt of the real fetch.
func TestCacheWithinTTLMakesNoRequest(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `W/"v1"`, releasesBody(t, "v1.0.0"))
	})
	c := newClient(f, clock, "")
	first := mustList(t, c)
	fetched := clock.Now()
	for _, d := range []time.Duration{time.Second, 10 * time.Minute, 19*time.Minute + 58*time.Second} {
		clock.Add(d) // 29m59s in total
		l := mustList(t, c)
		if !l.FetchedAt.Equal(fetched) || !sameStrings(versions(l), versions(first)) {
			t.Fatalf("cached listing = %v at %v, want %v at %v", versions(l), l.FetchedAt, versions(first), fetched)
		}
	}
	wantCount(t, f, 1)
}

// TestRevalidationAfterTTL: after 30 minutes a conditional request is
// sent; 304 keeps the releases and renews FetchedAt; a new ETag brings the
// new list.
func TestRevalidationAfterTTL(t *testing.T) {
	clock := newClock()
	etag, tags := `W/"v1"`, []string{"v1.0.0"}
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, etag, releasesBody(t, tags...))
	})
	c := newClient(f, clock, "")
	mustList(t, c)

	clock.Add(DefaultTTL)
	l := mustList(t, c)
	wantCount(t, f, 2)
	if got := f.req(t, 2).Header.Get("If-None-Match"); got != `W/"v1"` {
		t.Fatalf("If-None-Match = %q, want the stored ETag", got)
	}
	if !l.FetchedAt.Equal(clock.Now()) || !sameStrings(versions(l), []string{"v1.0.0"}) {
		t.Fatalf("after 304: %v at %v, want [v1.0.0] renewed to %v", versions(l), l.FetchedAt, clock.Now())
	}

	// Within the renewed TTL: no request.
	clock.Add(DefaultTTL - time.Second)
	mustList(t, c)
	wantCount(t, f, 3-1)

	// A new release changes the ETag.
	etag, tags = `W/"v2"`, []string{"v1.0.0", "v1.1.0"}
	clock.Add(time.Second)
	l = mustList(t, c)
	wantCount(t, f, 3)
	if !sameStrings(versions(l), []string{"v1.1.0", "v1.0.0"}) {
		t.Fatalf("versions = %v", versions(l))
	}
	clock.Add(DefaultTTL)
	mustList(t, c)
	if got := f.req(t, 4).Header.Get("If-None-Match"); got != `W/"v2"` {
		t.Fatalf("If-None-Match = %q, want the new ETag", got)
	}
}

// TestClockGoingBackRevalidates: a FetchedAt in the future is not
// trusted for another TTL.
func TestClockGoingBackRevalidates(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `"e"`, releasesBody(t, "v1.0.0"))
	})
	c := newClient(f, clock, "")
	mustList(t, c)
	clock.Add(-time.Hour)
	mustList(t, c)
	wantCount(t, f, 2)
}

// TestRefreshMakesConditionalRequest: Refresh skips the TTL but still
// revalidates, and it renews FetchedAt on 304.
func TestRefreshMakesConditionalRequest(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `"r1"`, releasesBody(t, "v1.0.0"))
	})
	c := newClient(f, clock, "")
	mustList(t, c)
	clock.Add(time.Minute)
	l, err := c.Refresh(context.Background())
	if err != nil || l.Stale != nil {
		t.Fatalf("Refresh: %v, stale %v", err, l.Stale)
	}
	wantCount(t, f, 2)
	if got := f.req(t, 2).Header.Get("If-None-Match"); got != `"r1"` {
		t.Fatalf("If-None-Match = %q", got)
	}
	if !l.FetchedAt.Equal(clock.Now()) || len(l.Releases) != 1 {
		t.Fatalf("Refresh listing = %+v", l)
	}
}

// TestPersistedCacheSurvivesRestart: a new Client on the same file makes
// no request within the TTL, then revalidates with the persisted ETag.
// The file carries apiVersion/kind and no token.
func TestPersistedCacheSurvivesRestart(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `W/"p1"`, fixture(t))
	})
	path := filepath.Join(t.TempDir(), "github-releases.json")
	a := newClient(f, clock, path)
	a.Token = testToken
	want := mustList(t, a)

	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), testToken) {
		t.Fatal("cache file contains the token")
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		ETag       string `json:"etag"`
	}
	if err := json.Unmarshal(data, &head); err != nil || head.APIVersion != "updates.better-paas.io/v1" || head.Kind != "ReleaseCache" || head.ETag != `W/"p1"` {
		t.Fatalf("cache file head = %+v, %v", head, err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("cache file mode: %v %v", info, err)
	}

	clock.Add(10 * time.Minute)
	b := newClient(f, clock, path)
	b.Token = testToken
	got := mustList(t, b)
	wantCount(t, f, 1)
	if !got.FetchedAt.Equal(want.FetchedAt) || !sameStrings(versions(got), versions(want)) {
		t.Fatalf("restored %v at %v, want %v at %v", versions(got), got.FetchedAt, versions(want), want.FetchedAt)
	}
	// Assets and dates survive the round trip.
	if len(got.Releases[0].Assets) != 3 || got.Releases[0].Assets[0].Digest == "" || got.Releases[0].PublishedAt.IsZero() {
		t.Fatalf("restored release = %+v", got.Releases[0])
	}

	clock.Add(DefaultTTL)
	mustList(t, b)
	wantCount(t, f, 2)
	if g := f.req(t, 2).Header.Get("If-None-Match"); g != `W/"p1"` {
		t.Fatalf("If-None-Match after restart = %q", g)
	}
}

// TestCacheSharedBetweenProcesses: a Client that already holds an older
// answer adopts a newer one another process (the CLI's --refresh) wrote.
func TestCacheSharedBetweenProcesses(t *testing.T) {
	clock := newClock()
	tags := []string{"v1.0.0"}
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, "", releasesBody(t, tags...))
	})
	path := filepath.Join(t.TempDir(), "github-releases.json")
	daemon := newClient(f, clock, path)
	mustList(t, daemon)

	tags = []string{"v1.0.0", "v1.1.0"}
	clock.Add(time.Minute)
	cli := newClient(f, clock, path)
	if _, err := cli.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	l := mustList(t, daemon)
	wantCount(t, f, 2)
	if !sameStrings(versions(l), []string{"v1.1.0", "v1.0.0"}) || !l.FetchedAt.Equal(clock.Now()) {
		t.Fatalf("daemon sees %v at %v", versions(l), l.FetchedAt)
	}
}

// TestCacheFileIgnored: a corrupt file, a file of another format, and a
// file for another repository (base URL, owner/name or prerelease flag)
// are ignored: List asks GitHub and overwrites the file.
func TestCacheFileIgnored(t *testing.T) {
	clock := newClock()
	// acme/app has v1.0.0 and a prerelease; any other repository v7.0.0,
	// so using a foreign cache would show.
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Path == "/repos/acme/app/releases" {
			serveReleases(w, r, clock, `"g"`, releasesBody(t, "v1.0.0", "v1.1.0-rc.1"))
			return
		}
		serveReleases(w, r, clock, `"other"`, releasesBody(t, "v7.0.0"))
	})
	// writeValid leaves a valid cache file written by a client whose
	// identity edit changed.
	writeValid := func(t *testing.T, path string, edit func(c *Client)) {
		c := newClient(f, clock, path)
		edit(c)
		mustList(t, c)
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) { writeFile(t, path, "{not json") }},
		{"empty", func(t *testing.T, path string) { writeFile(t, path, "") }},
		{"other kind", func(t *testing.T, path string) {
			writeFile(t, path, `{"apiVersion":"updates.better-paas.io/v1","kind":"Status","repository":{"baseURL":"`+f.URL+`","owner":"acme","name":"app"},"fetchedAt":"2030-01-02T03:04:05Z","releases":[]}`)
		}},
		{"bad version inside", func(t *testing.T, path string) {
			writeFile(t, path, `{"apiVersion":"updates.better-paas.io/v1","kind":"ReleaseCache","repository":{"baseURL":"`+f.URL+`","owner":"acme","name":"app"},"fetchedAt":"2030-01-02T03:04:05Z","releases":[{"version":"nightly","tag":"nightly"}]}`)
		}},
		{"other repository", func(t *testing.T, path string) {
			writeValid(t, path, func(c *Client) { c.Name = "other" })
		}},
		{"other owner", func(t *testing.T, path string) {
			writeValid(t, path, func(c *Client) { c.Owner = "someone" })
		}},
		{"other prerelease flag", func(t *testing.T, path string) {
			writeValid(t, path, func(c *Client) { c.Prerelease = true })
		}},
		{"other base URL", func(t *testing.T, path string) {
			// The same server under another name.
			writeValid(t, path, func(c *Client) { c.BaseURL = strings.Replace(f.URL, "127.0.0.1", "localhost", 1) })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "github-releases.json")
			tt.setup(t, path)
			before := f.count()
			l := mustList(t, newClient(f, clock, path))
			if f.count() != before+1 {
				t.Fatalf("no request: the ignored cache was used")
			}
			if !sameStrings(versions(l), []string{"v1.0.0"}) {
				t.Fatalf("versions = %v", versions(l))
			}
			// The file was overwritten: a new client now uses it.
			mustList(t, newClient(f, clock, path))
			if f.count() != before+1 {
				t.Fatalf("the overwritten cache was not used")
			}
		})
	}
}

// TestCacheWriteFailureIsNotFatal: a missing state folder loses the
// cache, not the answer.
func TestCacheWriteFailureIsNotFatal(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `"x"`, releasesBody(t, "v1.0.0"))
	})
	path := filepath.Join(t.TempDir(), "missing", "github-releases.json")
	l := mustList(t, newClient(f, clock, path))
	if len(l.Releases) != 1 {
		t.Fatalf("listing = %+v", l)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("cache file appeared: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
