package reconciler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/mod/semver"

	"github.com/better-paas/updater/internal/artifact"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/github"
	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/internal/updaterepo"
)

// UpdateRepoFile is where `repo set` stores UPDATE_REPO.
func UpdateRepoFile(c *config.Config) string { return layout.New(c).UpdateRepo }

// releaseCacheFile is where the GitHub answers are cached across restarts.
func releaseCacheFile(c *config.Config) string {
	return layout.New(c).ReleaseCache
}

// RepoResolver resolves UPDATE_REPO for the install: the environment
// variable, else the stored value, else the checkout's origin.
//
// Under service.manager: systemd, the unit's Environment= counts as the
// environment when the updater's own has no UPDATE_REPO: the product page
// pins it there.
func RepoResolver(c *config.Config, repo *gitrepo.Repo) updaterepo.Resolver {
	res := updaterepo.Resolver{
		StoreFile:       UpdateRepoFile(c),
		RemoteURL:       func() (string, error) { return repo.RemoteURL(c.Remote) },
		EnterpriseHosts: c.Releases.GitHub.EnterpriseHosts,
	}
	if c.Service.Manager == config.ManagerSystemd {
		if sd, err := service.NewSystemd(service.SystemdConfig{Unit: c.Service.Systemd.Unit, StopTimeout: c.Service.StopTimeout.Duration}); err == nil {
			res.Unit = sd.Unit()
			res.UnitEnv = func() ([]string, error) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return sd.Environment(ctx)
			}
		}
	}
	return res
}

// Upstream is where versions come from, as decided for one reconcile.
type Upstream struct {
	Source releases.Source
	// Repo and RepoFrom say which repository UPDATE_REPO named and which
	// of its three sources won; empty for git tags of the remote.
	Repo     string
	RepoFrom updaterepo.Origin
	// remoteURL is the checkout's remote, where tags are fetched from.
	remoteURL string
}

// upstream picks the release source: the one given in Options (tests),
// else GitHub Releases of UPDATE_REPO when it is on GitHub (or the config
// says github), else the git tags of the checkout's remote.
// A planning reconciler (Plan) reads the release cache but never writes it.
func (r *Reconciler) upstream(repo *gitrepo.Repo, prerelease bool) (Upstream, error) {
	up, err := upstreamOf(r.cfg, r.source, repo, prerelease)
	if gh, ok := up.Source.(*github.Client); ok && r.planning {
		gh.ReadOnlyCache = true
	}
	return up, err
}

// upstreamOf is upstream for the install c describes; source, when set,
// replaces every other source (tests).
func upstreamOf(c *config.Config, source releases.Source, repo *gitrepo.Repo, prerelease bool) (Upstream, error) {
	url, err := repo.RemoteURL(c.Remote)
	if err != nil {
		return Upstream{}, failure(ReasonSourceUnavailable, fmt.Errorf("cannot find remote %q of %s: %w", c.Remote, c.InstallDir, err))
	}
	up := Upstream{Source: releases.GitTags{URL: url}, remoteURL: url}
	if source != nil {
		up.Source = source
		return up, nil
	}
	rc := c.Releases
	if rc.Source == config.SourceGitTags {
		return up, nil
	}
	repoID, from, err := RepoResolver(c, repo).Resolve()
	switch {
	case err == nil && repoID.IsGitHub():
	case rc.Source == config.SourceAuto && (err == nil || errors.Is(err, updaterepo.ErrNotHosted) ||
		(errors.Is(err, updaterepo.ErrInvalid) && from == updaterepo.FromRemote)):
		// Not on GitHub (a local or self-hosted remote, GitLab subgroups):
		// the remote's tags are the releases.
		return up, nil
	case err != nil:
		return Upstream{}, failure(ReasonInvalidUpdateRepo, err)
	default:
		return Upstream{}, failure(ReasonInvalidUpdateRepo, fmt.Errorf(
			"releases.source is github, but UPDATE_REPO %s (from the %s) is not on GitHub; add its host to releases.github.enterpriseHosts or use source git-tags", repoID, from))
	}
	token, err := githubToken(c)
	if err != nil {
		return Upstream{}, failure(ReasonInvalidUpdateRepo, err)
	}
	up.Source = &github.Client{
		BaseURL:    apiURL(rc.GitHub.APIURL, repoID.Host),
		Owner:      repoID.Owner,
		Name:       repoID.Name,
		Token:      token,
		Prerelease: prerelease,
		CacheFile:  releaseCacheFile(c),
		TTL:        rc.CacheTTL.Duration,
	}
	up.Repo, up.RepoFrom = repoID.String(), from
	return up, nil
}

// githubToken reads releases.github.tokenFile, else $GITHUB_TOKEN; "" is
// anonymous access.
func githubToken(c *config.Config) (string, error) {
	if f := c.Releases.GitHub.TokenFile; f != "" {
		token, err := github.TokenFromFile(f)
		if err != nil {
			return "", fmt.Errorf("releases.github.tokenFile: %w", err)
		}
		return token, nil
	}
	return github.TokenFromEnv(), nil
}

// apiURL is the GitHub API base for a repository on host.
func apiURL(configured, host string) string {
	switch {
	case configured != "":
		return strings.TrimSuffix(configured, "/")
	case host == "" || strings.EqualFold(host, "github.com") || strings.EqualFold(host, "www.github.com"):
		return "https://api.github.com"
	}
	return "https://" + host + "/api/v3"
}

// commitOf finds the commit a release tag points to: GitHub Releases do
// not say, so the tag is looked up in the checkout, else on the remote the
// update will fetch it from.
func (u Upstream) commitOf(ctx context.Context, repo *gitrepo.Repo, rel releases.Release) (string, error) {
	if rel.Commit != "" {
		return rel.Commit, nil
	}
	if commit, err := repo.ResolveTag(rel.Tag); err == nil {
		return commit, nil
	}
	listing, err := releases.GitTags{URL: u.remoteURL}.List(ctx)
	if err != nil {
		return "", failure(ReasonSourceUnavailable, err)
	}
	if found, ok := releases.Find(listing.Releases, rel.Version); ok {
		return found.Commit, nil
	}
	return "", failure(ReasonTagNotFound, fmt.Errorf("%s is released, but its tag is not on the remote %s the install fetches from",
		rel.Version, gitrepo.RedactURL(u.remoteURL)))
}

// releaseFinder finds a release with its assets in the install's release
// source, for artifact: prebuilt. Only GitHub Releases have assets: a
// source of git tags is an administrator's mistake (releases.source, or
// UPDATE_REPO not on GitHub), not the release's.
func (r *Reconciler) releaseFinder(repo *gitrepo.Repo) ReleaseFinder {
	return func(ctx context.Context, version string) (releases.Release, error) {
		up, err := r.upstream(repo, semver.Prerelease(version) != "")
		if err != nil {
			return releases.Release{}, err
		}
		if _, ok := up.Source.(releases.GitTags); ok {
			return releases.Release{}, failure(ReasonInvalidUpdateRepo, fmt.Errorf(
				"artifact: prebuilt downloads GitHub release assets, but the releases come from the git tags of %s; set UPDATE_REPO to the app's GitHub repository (or releases.source: github)",
				gitrepo.RedactURL(up.remoteURL)))
		}
		listing, err := up.Source.List(ctx)
		if err != nil {
			return releases.Release{}, failure(ReasonSourceUnavailable, err)
		}
		rel, ok := releases.Find(listing.Releases, version)
		if !ok {
			return releases.Release{}, fmt.Errorf("%w: %s has no release %s, so there are no assets to download", artifact.ErrNoAsset, listing.Source, version)
		}
		return rel, nil
	}
}
