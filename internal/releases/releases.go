package releases

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/semver"

	"github.com/better-paas/updater/internal/gitrepo"
)

// ErrNoURL means a GitTags source has no remote URL configured.
var ErrNoURL = errors.New("release source url is empty")

// Release is one installable version.
type Release struct {
	// Version is the canonical semantic version, for example "v1.4.2".
	Version string
	// Tag is the git tag to fetch and check out for this version.
	Tag string
	// Commit is the full hash of the commit the tag points at (peeled for
	// annotated tags), so a moved tag can be noticed.
	Commit string
	// Prerelease is true for versions such as v2.0.0-rc.1.
	Prerelease bool
	// PublishedAt is when the release was published; zero when the source
	// does not know (git tags carry no reliable date without fetching).
	PublishedAt time.Time
	// Assets are the files published with the release (GitHub Releases);
	// none for git tags.
	Assets []Asset
	// Name is the release's title (GitHub Releases); "" when it has none.
	Name string
	// URL is the release's page for people (GitHub's html_url); "" for
	// git tags.
	URL string
	// Notes are the release notes as written, markdown for GitHub (the
	// release's body), the annotated tag's message for git tags (see
	// TagNotes); at most MaxNotes bytes (see CapNotes). "" when unknown.
	Notes string
}

// MaxNotes bounds the release notes kept per release, so a listing of
// many releases stays small enough to cache and to send to a page.
const MaxNotes = 32 << 10

// notesCut ends notes that CapNotes shortened.
const notesCut = "\n\n[... cut: the full notes are on the release page]"

// CapNotes returns notes, cut to at most MaxNotes bytes (on a character
// boundary, with a line saying so) when longer.
func CapNotes(notes string) string {
	if len(notes) <= MaxNotes {
		return notes
	}
	cut := MaxNotes - len(notesCut)
	for cut > 0 && !utf8.RuneStart(notes[cut]) {
		cut--
	}
	return notes[:cut] + notesCut
}

// Asset is one file published with a release.
type Asset struct {
	Name string
	Size int64
	// Digest is the asset's digest as the source gives it, e.g.
	// "sha256:…"; "" when unknown.
	Digest string
	// URL downloads the asset.
	URL string
}

// Listing is one answer of a Source.
type Listing struct {
	// Releases are sorted by version, highest first.
	Releases []Release
	// Source names where the answer came from, for people: "GitHub
	// releases of owner/name", "git tags of <url>".
	Source string
	// FetchedAt is when the answer came from upstream; a cached answer
	// keeps the time it was fetched.
	FetchedAt time.Time
	// Stale, when not nil, says why upstream could not be asked and this is
	// an older cached answer.
	Stale error
}

// Source lists the releases that exist upstream. List is called on every
// reconcile that needs to resolve "latest" or a version not yet in the
// checkout, so it must be safe to call repeatedly; it may block on the
// network and honours ctx. An error means the list is unknown (retry
// later), never "no releases".
type Source interface {
	List(ctx context.Context) (Listing, error)
}

// GitTags is a Source reading the tags of a git remote, like
// git ls-remote --tags URL, without a local clone.
type GitTags struct {
	// URL of the app's repository, as git accepts it (https, ssh, path).
	// It may carry credentials; they never appear in errors.
	URL string
}

var _ Source = GitTags{}

// List lists the remote's release tags (see IsReleaseTag), highest version
// first. Other tags are ignored. It is never stale: there is no cache.
// Errors: ErrNoURL; the context's error when ctx ends; otherwise a
// transport error worth a retry.
func (g GitTags) List(ctx context.Context) (Listing, error) {
	if g.URL == "" {
		return Listing{}, fmt.Errorf("cannot list releases: %w", ErrNoURL)
	}
	now := time.Now()
	tags, err := gitrepo.ListRemoteTags(ctx, g.URL)
	if err != nil {
		return Listing{}, fmt.Errorf("cannot list releases: %w", err)
	}
	var rels []Release
	for _, t := range tags {
		if !IsReleaseTag(t.Name) {
			continue
		}
		rels = append(rels, Release{
			Version:    t.Name,
			Tag:        t.Name,
			Commit:     t.Commit,
			Prerelease: semver.Prerelease(t.Name) != "",
		})
	}
	Sort(rels)
	return Listing{Releases: rels, Source: "git tags of " + gitrepo.RedactURL(g.URL), FetchedAt: now}, nil
}

// IsReleaseTag reports whether tag names a release: exactly
// vMAJOR.MINOR.PATCH with an optional -PRERELEASE, in canonical form (no
// build metadata, no shorthand such as v1.2, no leading zeros, no missing
// "v").
func IsReleaseTag(tag string) bool {
	return semver.IsValid(tag) && semver.Canonical(tag) == tag
}

// Sort orders rels by version, highest first.
func Sort(rels []Release) {
	sort.SliceStable(rels, func(i, j int) bool {
		return semver.Compare(rels[i].Version, rels[j].Version) > 0
	})
}

// Latest returns the highest version among the releases that are not
// prereleases and for which skip (when not nil) returns false; skip lets
// the caller leave out versions it must not pick, such as one that failed
// and was rolled back. ok is false when no release qualifies. rels need
// not be sorted.
func Latest(rels []Release, skip func(version string) bool) (Release, bool) {
	return Highest(rels, false, skip)
}

// Highest returns the release with the highest semantic version among rels,
// prereleases included only when prerelease is true (the prerelease
// channel), skipping versions for which skip (when not nil) returns true.
// ok is false when none is left.
func Highest(rels []Release, prerelease bool, skip func(version string) bool) (Release, bool) {
	var best Release
	found := false
	for _, r := range rels {
		if !r.InChannel(prerelease) {
			continue
		}
		if skip != nil && skip(r.Version) {
			continue
		}
		if !found || semver.Compare(r.Version, best.Version) > 0 {
			best, found = r, true
		}
	}
	return best, found
}

// InChannel reports whether r is a semver release that `latest` may pick:
// on the stable channel (prerelease false) no prerelease is.
func (r Release) InChannel(prerelease bool) bool {
	return semver.IsValid(r.Version) && (prerelease || (!r.Prerelease && semver.Prerelease(r.Version) == ""))
}

// Find returns the release whose Version is version. version must be
// canonical ("v1.4.2", "v2.0.0-rc.1"), as the spec normalises it; a
// prerelease is found when named. ok is false when there is none.
func Find(rels []Release, version string) (Release, bool) {
	for _, r := range rels {
		if r.Version == version {
			return r, true
		}
	}
	return Release{}, false
}
