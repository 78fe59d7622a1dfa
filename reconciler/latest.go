package reconciler

import (
	"slices"

	"golang.org/x/mod/semver"

	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// retryRequest is a `better-paas-updater retry` not acted on yet: the
// retry-at stamp in desired.yaml differs from the last one acted on.
type retryRequest struct {
	stamp   string // "" when there is none
	version string // the failed version named, "" for the newest failed
}

// freshRetry returns the retry desired.yaml asks for, if not yet acted on.
func freshRetry(d *spec.DesiredVersion, st *status.VersionStatus) retryRequest {
	stamp, version := d.RetryRequest()
	if stamp == "" || stamp == st.LastRetry {
		return retryRequest{}
	}
	return retryRequest{stamp: stamp, version: version}
}

// holdsBack reports whether failure f still holds its version back on a
// host whose updater.yaml has configDigest: a failure recorded under another updater.yaml
// may have been the host's own mistake, which the administrator has since
// fixed, so it no longer counts.
func holdsBack(f status.FailedVersion, configDigest string) bool {
	return f.ConfigDigest == "" || f.ConfigDigest == configDigest
}

// latestPick is what `latest` resolves to on this host.
type latestPick struct {
	rel releases.Release // the highest release not skipped
	ok  bool             // false: no release at all in the channel
	// stay is true when rel is below the running version: latest never
	// moves a host down, so the host stays where it is.
	stay bool
	// skipped lists the releases above rel that failed here, newest first.
	skipped []string
	// retried is the failed version a fresh retry lets through, if any.
	retried string
}

// pickLatest is the one rule for what `latest` means, shared by the
// reconciler and `check` so they never disagree: the highest release of
// the channel that has not failed on this host, never below the running
// version. A fresh retry lets one failed version through: the one it names,
// else the newest failed one.
func pickLatest(rels []releases.Release, prerelease bool, st *status.VersionStatus, current string, retry retryRequest, configDigest string) latestPick {
	failed := func(v string) bool { f, ok := st.Failure(v); return ok && holdsBack(f, configDigest) }
	var p latestPick
	if retry.stamp != "" {
		p.retried = retry.version
		if p.retried == "" {
			if newest, ok := releases.Highest(rels, prerelease, func(v string) bool { return !failed(v) }); ok {
				p.retried = newest.Version
			}
		}
	}
	skip := func(v string) bool { return failed(v) && v != p.retried }
	p.rel, p.ok = releases.Highest(rels, prerelease, skip)
	for _, r := range rels {
		if r.InChannel(prerelease) && skip(r.Version) && (!p.ok || semver.Compare(r.Version, p.rel.Version) > 0) {
			p.skipped = append(p.skipped, r.Version)
		}
	}
	slices.SortFunc(p.skipped, func(a, b string) int { return semver.Compare(b, a) })
	if p.retried != "" && (!p.ok || p.rel.Version != p.retried) {
		p.retried = "" // something newer won; the retry is not what runs
	}
	if cur := current; p.ok && semver.IsValid(cur) && semver.Compare(p.rel.Version, cur) < 0 {
		p.stay = true
	}
	return p
}
