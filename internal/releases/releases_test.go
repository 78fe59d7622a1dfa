package releases

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func rel(v string) Release {
	return Release{Version: v, Tag: v, Prerelease: strings.Contains(v, "-")}
}

func TestLatest(t *testing.T) {
	skipV110 := func(v string) bool { return v == "v1.10.0" }
	tests := []struct {
		name   string
		rels   []Release
		skip   func(string) bool
		want   string
		wantOK bool
	}{
		{"empty", nil, nil, "", false},
		{"single", []Release{rel("v1.0.0")}, nil, "v1.0.0", true},
		{"numeric not lexical order", []Release{rel("v1.9.9"), rel("v1.10.0"), rel("v1.2.0")}, nil, "v1.10.0", true},
		{"unsorted input", []Release{rel("v1.10.0"), rel("v2.0.0"), rel("v1.9.9")}, nil, "v2.0.0", true},
		{"prerelease excluded even when highest", []Release{rel("v1.9.9"), rel("v2.0.0-rc.1")}, nil, "v1.9.9", true},
		{"only prereleases", []Release{rel("v2.0.0-rc.1"), rel("v2.0.0-beta.1")}, nil, "", false},
		{"prerelease flag honoured", []Release{{Version: "v3.0.0", Prerelease: true}, rel("v1.0.0")}, nil, "v1.0.0", true},
		{"skip honoured", []Release{rel("v1.9.9"), rel("v1.10.0")}, skipV110, "v1.9.9", true},
		{"everything skipped", []Release{rel("v1.10.0")}, skipV110, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Latest(tt.rels, tt.skip)
			if ok != tt.wantOK || got.Version != tt.want {
				t.Errorf("Latest = %q, %v; want %q, %v", got.Version, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestFind(t *testing.T) {
	rels := []Release{rel("v1.9.9"), rel("v1.10.0"), rel("v2.0.0-rc.1")}
	tests := []struct {
		version string
		wantOK  bool
	}{
		{"v1.10.0", true},
		{"v1.9.9", true},
		{"v2.0.0-rc.1", true}, // a prerelease is found when named
		{"v1.10.1", false},
		{"1.10.0", false}, // not canonical: the spec normalises before calling
		{"", false},
	}
	for _, tt := range tests {
		got, ok := Find(rels, tt.version)
		if ok != tt.wantOK || (ok && got.Version != tt.version) {
			t.Errorf("Find(%q) = %q, %v; want ok=%v", tt.version, got.Version, ok, tt.wantOK)
		}
	}
	if _, ok := Find(nil, "v1.0.0"); ok {
		t.Error("Find in an empty list succeeded")
	}
}

func TestIsReleaseTag(t *testing.T) {
	tests := map[string]bool{
		"v1.0.0":        true,
		"v1.10.0":       true,
		"v2.0.0-rc.1":   true,
		"v0.0.1":        true,
		"1.2.3":         false,
		"v1.2":          false,
		"v1":            false,
		"v1.2.3+build5": false,
		"v01.2.3":       false,
		"nightly":       false,
		"V1.2.3":        false,
		"":              false,
	}
	for tag, want := range tests {
		if got := IsReleaseTag(tag); got != want {
			t.Errorf("IsReleaseTag(%q) = %v, want %v", tag, got, want)
		}
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Fixture", "GIT_AUTHOR_EMAIL=fixture@example.invalid",
		"GIT_COMMITTER_NAME=Fixture", "GIT_COMMITTER_EMAIL=fixture@example.invalid")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestGitTags(t *testing.T) {
	root := t.TempDir()
	work := filepath.Join(root, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, work, "init", "-q", "--template=", "-b", "main")
	commits := map[string]string{}
	tags := []struct {
		name      string
		annotated bool
	}{
		{"v1.0.0", false}, {"v1.9.9", true}, {"v1.10.0", true}, {"v2.0.0-rc.1", true},
		{"nightly", false}, {"1.2.3", false}, {"v1.2", false}, {"v1.2.4+build.7", false},
	}
	for i, tag := range tags {
		if err := os.WriteFile(filepath.Join(work, "f.txt"), []byte(tag.name), 0o644); err != nil {
			t.Fatal(err)
		}
		git(t, work, "add", "-A")
		git(t, work, "commit", "-q", "-m", "c"+string(rune('a'+i)))
		if tag.annotated {
			git(t, work, "tag", "-a", tag.name, "-m", tag.name)
		} else {
			git(t, work, "tag", tag.name)
		}
		commits[tag.name] = git(t, work, "rev-parse", "HEAD")
	}
	origin := filepath.Join(root, "origin.git")
	git(t, root, "clone", "-q", "--template=", "--bare", work, origin)

	before := time.Now()
	listing, err := GitTags{URL: origin}.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := listing.Releases
	if listing.Stale != nil || listing.Source != "git tags of "+origin || listing.FetchedAt.Before(before) {
		t.Errorf("listing = %+v", listing)
	}
	want := []Release{
		{Version: "v2.0.0-rc.1", Tag: "v2.0.0-rc.1", Commit: commits["v2.0.0-rc.1"], Prerelease: true},
		{Version: "v1.10.0", Tag: "v1.10.0", Commit: commits["v1.10.0"]},
		{Version: "v1.9.9", Tag: "v1.9.9", Commit: commits["v1.9.9"]},
		{Version: "v1.0.0", Tag: "v1.0.0", Commit: commits["v1.0.0"]},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Releases =\n%+v\nwant\n%+v", got, want)
	}
	latest, ok := Latest(got, nil)
	if !ok || latest.Version != "v1.10.0" {
		t.Errorf("Latest = %q, %v; want v1.10.0", latest.Version, ok)
	}
}

func TestGitTagsErrors(t *testing.T) {
	if _, err := (GitTags{}).List(context.Background()); !errors.Is(err, ErrNoURL) {
		t.Errorf("empty URL: error = %v, want ErrNoURL", err)
	}
	if _, err := (GitTags{URL: filepath.Join(t.TempDir(), "missing.git")}).List(context.Background()); err == nil {
		t.Error("missing repository: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (GitTags{URL: t.TempDir()}).List(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error = %v, want context.Canceled", err)
	}
}

func TestHighestIncludesPrereleasesOnlyWhenAsked(t *testing.T) {
	rels := []Release{{Version: "v1.9.9"}, {Version: "v2.0.0-rc.1", Prerelease: true}, {Version: "v1.10.0"}, {Version: "v2.0.0-beta.2", Prerelease: true}}
	if r, ok := Highest(rels, false, nil); !ok || r.Version != "v1.10.0" {
		t.Errorf("stable = %q", r.Version)
	}
	if r, ok := Highest(rels, true, nil); !ok || r.Version != "v2.0.0-rc.1" {
		t.Errorf("prerelease = %q, want v2.0.0-rc.1 (rc > beta)", r.Version)
	}
	skip := func(v string) bool { return v == "v2.0.0-rc.1" }
	if r, ok := Highest(rels, true, skip); !ok || r.Version != "v2.0.0-beta.2" {
		t.Errorf("prerelease with skip = %q", r.Version)
	}
}
