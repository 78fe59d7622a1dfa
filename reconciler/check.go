package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	SkippedFailed []string  `json:"skippedFailed,omitempty"`
	Source        string    `json:"source"`
	Repo          string    `json:"repo,omitempty"`
	RepoFrom      string    `json:"repoFrom,omitempty"`
	FetchedAt     time.Time `json:"fetchedAt"`
	// Stale says why the answer is a cached one, when it is.
	Stale string `json:"stale,omitempty"`
}

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
	p := pickLatest(listing.Releases, sp.Prerelease(), st, st.CurrentVersion, freshRetry(d, st), c.Digest())
	res.SkippedFailed = p.skipped
	if p.ok && !p.stay {
		res.LatestVersion = p.rel.Version
	} else {
		res.LatestVersion = st.CurrentVersion
	}
	res.UpdateAvailable = res.LatestVersion != "" &&
		(!semver.IsValid(res.CurrentVersion) || semver.Compare(res.LatestVersion, res.CurrentVersion) > 0)
	return res, nil
}
