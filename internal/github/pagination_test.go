package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestPaginationFollowsNextLink: two pages, linked as GitHub does (next
// and last, to /repositories/ID/releases), make one listing; only the
// first request is conditional.
func TestPaginationFollowsNextLink(t *testing.T) {
	clock := newClock()
	var f *fakeGitHub
	f = newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.URL.Path == "/repos/acme/app/releases":
			next := fmt.Sprintf("%s/repositories/42/releases?per_page=100&page=2", f.URL)
			w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="next", <%s>; rel="last"`, next, next))
			serveReleases(w, r, clock, `"page1"`, releasesBody(t, "v1.9.9", "v1.10.0"))
		case r.URL.Path == "/repositories/42/releases" && r.URL.Query().Get("page") == "2":
			first := fmt.Sprintf("%s/repositories/42/releases?per_page=100&page=1", f.URL)
			w.Header().Set("Link", fmt.Sprintf(`<%s>; rel="prev", <%s>; rel="first"`, first, first))
			serveReleases(w, r, clock, `"page2"`, releasesBody(t, "v1.2.0", "v0.9.0"))
		default:
			serveError(w, http.StatusNotFound, "Not Found")
		}
	})
	c := newClient(f, clock, "")
	c.Token = testToken
	l := mustList(t, c)
	wantCount(t, f, 2)
	if want := []string{"v1.10.0", "v1.9.9", "v1.2.0", "v0.9.0"}; !sameStrings(versions(l), want) {
		t.Fatalf("versions = %v, want %v", versions(l), want)
	}
	if got := f.req(t, 2).Header.Get("Authorization"); got != "Bearer "+testToken {
		t.Errorf("page 2 Authorization = %q", got)
	}

	// Revalidation uses the first page's ETag; a 304 keeps both pages.
	clock.Add(DefaultTTL)
	l = mustList(t, c)
	wantCount(t, f, 3)
	if got := f.req(t, 3).Header.Get("If-None-Match"); got != `"page1"` {
		t.Fatalf("If-None-Match = %q", got)
	}
	if len(l.Releases) != 4 {
		t.Fatalf("after 304: %v", versions(l))
	}
}

// TestPaginationRefusesAnotherHost: a next link to another host (or a
// scheme change) is refused before any request reaches it, so the token
// stays home.
func TestPaginationRefusesAnotherHost(t *testing.T) {
	clock := newClock()
	elsewhere := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, "", releasesBody(t, "v9.0.0"))
	})
	for _, next := range []string{
		elsewhere.URL + "/repos/acme/app/releases?page=2",
		"https://" + strings.TrimPrefix(elsewhere.URL, "http://") + "/x",
		"//evil.example/releases?page=2",
	} {
		t.Run(next, func(t *testing.T) {
			f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
				w.Header().Set("Link", "<"+next+`>; rel="next"`)
				serveReleases(w, r, clock, `"p"`, releasesBody(t, "v1.0.0"))
			})
			c := newClient(f, clock, "")
			c.Token = testToken
			_, err := c.List(context.Background())
			if !errors.Is(err, ErrInvalidResponse) || !strings.Contains(err.Error(), "points away from") {
				t.Fatalf("err = %v, want a refused link", err)
			}
			wantCount(t, f, 1)
			wantCount(t, elsewhere, 0)
		})
	}
}

// TestPaginationAcceptsRelativeLink: a next link relative to the page is
// resolved on the same host.
func TestPaginationAcceptsRelativeLink(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		if r.URL.Query().Get("page") == "" {
			w.Header().Set("Link", `</repos/acme/app/releases?per_page=100&page=2>; rel="next"`)
			serveReleases(w, r, clock, `"p"`, releasesBody(t, "v1.0.0"))
			return
		}
		serveReleases(w, r, clock, "", releasesBody(t, "v0.1.0"))
	})
	l := mustList(t, newClient(f, clock, ""))
	if !sameStrings(versions(l), []string{"v1.0.0", "v0.1.0"}) {
		t.Fatalf("versions = %v", versions(l))
	}
}

// TestPaginationIsBounded: a next link that never ends stops after
// maxPages pages, keeping what was read.
func TestPaginationIsBounded(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Link", fmt.Sprintf(`<%s/repos/acme/app/releases?page=%d>; rel="next"`, "http://"+r.Host, n+1))
		serveReleases(w, r, clock, "", releasesBody(t, "v1.0."+strconv.Itoa(n)))
	})
	l := mustList(t, newClient(f, clock, ""))
	wantCount(t, f, maxPages)
	if len(l.Releases) != maxPages || l.Releases[0].Version != "v1.0.10" {
		t.Fatalf("versions = %v", versions(l))
	}
}

func TestNextLink(t *testing.T) {
	tests := []struct {
		header []string
		want   string
	}{
		{nil, ""},
		{[]string{`<https://api.github.com/repositories/1/releases?page=2>; rel="next", <https://api.github.com/repositories/1/releases?page=5>; rel="last"`},
			"https://api.github.com/repositories/1/releases?page=2"},
		{[]string{`<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next"`}, "https://a/x?page=3"},
		{[]string{`<https://a/x?page=1>; rel="prev"`, `<https://a/x?page=3>; rel=next`}, "https://a/x?page=3"},
		{[]string{`<https://a/x?a=1,2>; rel="last next"`}, "https://a/x?a=1,2"},
		{[]string{`<https://a/x?page=9>; rel="last"`}, ""},
		{[]string{`garbage`}, ""},
	}
	for _, tt := range tests {
		if got := nextLink(tt.header); got != tt.want {
			t.Errorf("nextLink(%q) = %q, want %q", tt.header, got, tt.want)
		}
	}
}
