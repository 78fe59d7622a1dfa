package github

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/releases"
)

// TestListKeepsNameURLAndNotes: each release carries GitHub's name,
// html_url and body (capped), and they survive the cache file.
func TestListKeepsNameURLAndNotes(t *testing.T) {
	clock := newClock()
	long := releaseJSON("v1.2.0", false)
	long["name"] = "Faster backups"
	long["body"] = strings.Repeat("x", releases.MaxNotes+100)
	hostile := releaseJSON("v1.1.0", false)
	hostile["html_url"] = "javascript:alert(1)"
	body, err := json.Marshal([]any{long, hostile})
	if err != nil {
		t.Fatal(err)
	}
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `W/"d1"`, body)
	})
	path := filepath.Join(t.TempDir(), "github-releases.json")
	check := func(l releases.Listing) {
		t.Helper()
		r, _ := releases.Find(l.Releases, "v1.2.0")
		if r.Name != "Faster backups" || r.URL != "https://github.com/acme/app/releases/tag/v1.2.0" || len(r.Notes) > releases.MaxNotes || !strings.HasPrefix(r.Notes, "xxx") {
			t.Errorf("v1.2.0 = name %q url %q notes %d bytes", r.Name, r.URL, len(r.Notes))
		}
		if h, _ := releases.Find(l.Releases, "v1.1.0"); h.URL != "" || h.Notes != "notes" {
			t.Errorf("v1.1.0 = url %q notes %q, want no URL (not http) and its notes", h.URL, h.Notes)
		}
	}
	check(mustList(t, newClient(f, clock, path)))
	clock.Add(time.Minute)
	check(mustList(t, newClient(f, clock, path))) // from the file
	wantCount(t, f, 1)
}

// TestCacheWithoutDetailsIsFetchedAgain: a cache file an older updater
// wrote (no names or notes) is used within its TTL, but then fetched
// without If-None-Match, so a 304 cannot keep the notes out for good.
func TestCacheWithoutDetailsIsFetchedAgain(t *testing.T) {
	clock := newClock()
	f := newFake(t, clock, func(w http.ResponseWriter, r *http.Request, n int) {
		serveReleases(w, r, clock, `W/"old"`, releasesBody(t, "v1.0.0"))
	})
	path := filepath.Join(t.TempDir(), "github-releases.json")
	mustList(t, newClient(f, clock, path))
	// Make the file what an older updater wrote.
	var file map[string]any
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	delete(file, "details")
	for _, r := range file["releases"].([]any) {
		rel := r.(map[string]any)
		delete(rel, "name")
		delete(rel, "url")
		delete(rel, "notes")
	}
	data, _ = json.Marshal(file)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Add(DefaultTTL)
	l := mustList(t, newClient(f, clock, path))
	wantCount(t, f, 2)
	if g := f.req(t, 2).Header.Get("If-None-Match"); g != "" {
		t.Errorf("If-None-Match = %q for a cache without details, want none", g)
	}
	if l.Releases[0].Notes != "notes" {
		t.Errorf("notes = %q after the refetch", l.Releases[0].Notes)
	}
}
