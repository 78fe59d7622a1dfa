package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"golang.org/x/mod/semver"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// CheckResult is the answer to "is there a newer version?", for
// `better-paas-updater check` and the dashboard.
type CheckResult struct {
	CurrentVersion string `json:"currentVersion"`
	// LatestVersion is what `latest` would install on this host: the
	// newest release of the channel that has not failed here.
	LatestVersion   string `json:"latestVersion"`
	UpdateAvailable bool   `json:"updateAvailable"`
	// SkippedFailed lists newer releases that failed on this host and are
	// skipped until `better-paas-updater retry`, newest first.
	SkippedFailed []string `json:"skippedFailed,omitempty"`
	// Soaking is the newest release of the channel that
	// spec.minReleaseAge holds back (too young), EligibleAt when latest
	// may take it; empty when none is.
	Soaking    string    `json:"soaking,omitempty"`
	EligibleAt time.Time `json:"eligibleAt,omitzero"`
	Source     string    `json:"source"`
	Repo       string    `json:"repo,omitempty"`
	RepoFrom   string    `json:"repoFrom,omitempty"`
	FetchedAt  time.Time `json:"fetchedAt"`
	// Stale says why the answer is a cached one, when it is.
	Stale string `json:"stale,omitempty"`
	// Releases are the releases of the channel newer than the running
	// version, and the running one, newest first (at most maxListed):
	// what the dashboard shows with their notes. Failed ones included.
	Releases []ReleaseInfo `json:"releases"`
	// Artifacts are the assets an update to LatestVersion would download
	// (artifact: prebuilt, and an update available); see ArtifactsOf.
	Artifacts      []ArtifactInfo `json:"artifacts,omitempty"`
	ArtifactsError string         `json:"artifactsError,omitempty"`
}

// ReleaseInfo is one release as people read about it.
type ReleaseInfo struct {
	Version string `json:"version"`
	// Name is the release's title, its version when it has none.
	Name string `json:"name"`
	// PublishedAt is when it was published (GitHub) or tagged (an
	// annotated git tag); absent when unknown.
	PublishedAt time.Time `json:"publishedAt,omitzero"`
	// URL is its page (GitHub); "" for git tags.
	URL string `json:"url"`
	// Notes are its release notes as written: GitHub's body (markdown),
	// or the annotated tag's message; "" when there are none.
	Notes      string `json:"notes"`
	Prerelease bool   `json:"prerelease"`
}

// maxListed bounds CheckResult.Releases, so a host far behind does not
// get a listing of every release ever made with its notes.
const maxListed = 100

// Refresher is implemented by sources with a cache that can be bypassed.
type Refresher interface {
	Refresh(ctx context.Context) (releases.Listing, error)
}

// Check asks the release source for the newest version (in the channel
// desired.yaml names, stable when it names none) and compares it with the
// running version that status.yaml records. refresh bypasses a cache.
// It changes nothing on the host.
func (r *Reconciler) Check(ctx context.Context, refresh bool) (CheckResult, error) {
	return Check(ctx, r.cfg, r.source, refresh)
}

// Check is Reconciler.Check without a reconciler: it needs no service
// manager and no hooks, only updater.yaml (and source, when set, instead of
// the one updater.yaml names; tests).
func Check(ctx context.Context, c *config.Config, source releases.Source, refresh bool) (CheckResult, error) {
	repo, err := gitrepo.Open(c.InstallDir)
	if err != nil {
		return CheckResult{}, fmt.Errorf("cannot check for updates: installDir %s: %w", c.InstallDir, err)
	}
	d := spec.New(spec.Latest)
	if loaded, err := spec.Load(c.DesiredFile); err == nil {
		d = loaded
	} else if !errors.Is(err, fs.ErrNotExist) {
		return CheckResult{}, err
	}
	sp := d.Spec
	up, err := upstreamOf(c, source, repo, sp.Prerelease())
	if err != nil {
		return CheckResult{}, err
	}
	var listing releases.Listing
	if rf, ok := up.Source.(Refresher); ok && refresh {
		listing, err = rf.Refresh(ctx)
	} else {
		listing, err = up.Source.List(ctx)
	}
	if err != nil {
		return CheckResult{}, fmt.Errorf("cannot check for updates: %w", err)
	}
	res := CheckResult{Source: listing.Source, Repo: up.Repo, RepoFrom: string(up.RepoFrom), FetchedAt: listing.FetchedAt}
	if listing.Stale != nil {
		res.Stale = listing.Stale.Error()
	}
	st, err := status.Load(StatusPath(c))
	if errors.Is(err, fs.ErrNotExist) {
		st = status.New()
	} else if err != nil {
		return CheckResult{}, err
	}
	res.CurrentVersion = st.CurrentVersion
	// The same rule the reconciler follows, so check never announces an
	// update that latest would skip.
	rels, age := listing.Releases, ageRule{minAge: sp.MinReleaseAge.Duration, now: time.Now()}
	if gt, ok := up.Source.(releases.GitTags); ok && age.minAge > 0 {
		rels = datedReleases(rels, sp.Prerelease(), st.CurrentVersion, releases.LocalPath(gt.URL), c.InstallDir)
	}
	p := pickLatestAged(rels, sp.Prerelease(), st, st.CurrentVersion, freshRetry(d, st), c.Digest(), age)
	res.Soaking, res.EligibleAt = p.soaking, p.eligibleAt
	res.SkippedFailed = p.skipped
	if p.ok && !p.stay {
		res.LatestVersion = p.rel.Version
	} else {
		res.LatestVersion = st.CurrentVersion
	}
	res.UpdateAvailable = res.LatestVersion != "" &&
		(!semver.IsValid(res.CurrentVersion) || semver.Compare(res.LatestVersion, res.CurrentVersion) > 0)
	res.Releases = listed(listing.Releases, sp.Prerelease(), st.CurrentVersion, up.Source, c.InstallDir)
	if c.IsPrebuilt() && res.UpdateAvailable {
		res.Artifacts, err = ArtifactsOf(c, p.rel)
		if err != nil {
			res.ArtifactsError = err.Error()
		}
	}
	return res, nil
}

// listed returns the releases of the channel at or above current (all of
// the channel when current is unknown), newest first, with their notes:
// for git tags, the annotated tags' messages, read from the remote when it
// is a local repository and from the checkout installDir.
func listed(rels []releases.Release, prerelease bool, current string, source releases.Source, installDir string) []ReleaseInfo {
	rels = slices.Clone(rels)
	releases.Sort(rels)
	var keep []releases.Release
	for _, r := range rels {
		if len(keep) == maxListed {
			break
		}
		if (r.InChannel(prerelease) || r.Version == current) &&
			(!semver.IsValid(current) || semver.Compare(r.Version, current) >= 0) {
			keep = append(keep, r)
		}
	}
	if gt, ok := source.(releases.GitTags); ok {
		releases.AddTagNotes(keep, releases.LocalPath(gt.URL), installDir)
	}
	out := make([]ReleaseInfo, 0, len(keep))
	for _, r := range keep {
		name := r.Name
		if name == "" {
			name = r.Version
		}
		out = append(out, ReleaseInfo{Version: r.Version, Name: name, PublishedAt: r.PublishedAt, URL: r.URL, Notes: r.Notes, Prerelease: r.Prerelease})
	}
	return out
}
