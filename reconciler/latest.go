package reconciler

import (
	"slices"
	"time"

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
	// soaking is the newest release of the channel above rel (and above
	// the running version) that spec.minReleaseAge holds back, "" when
	// none; eligibleAt is when it is old enough.
	soaking    string
	eligibleAt time.Time
	// next is the release among those held back that is old enough
	// first, and nextAt when: the time latest moves next (soaking itself
	// when releases come out in order).
	next   string
	nextAt time.Time
}

// ageRule is spec.minReleaseAge as pickLatest applies it at now.
type ageRule struct {
	minAge time.Duration
	now    time.Time
}

// eligibleAt is when r is old enough for latest: its publication date
// plus minAge. A release without a date (a lightweight tag, an annotated
// tag not readable before it is fetched) is eligible at once: its age
// cannot be told, and holding it until it can would hold it forever.
func (a ageRule) eligibleAt(r releases.Release) time.Time {
	if a.minAge <= 0 || r.PublishedAt.IsZero() {
		return time.Time{}
	}
	return r.PublishedAt.Add(a.minAge)
}

// tooYoung reports whether a holds r back at a.now.
func (a ageRule) tooYoung(r releases.Release) bool {
	at := a.eligibleAt(r)
	return !at.IsZero() && a.now.Before(at)
}

// pickLatestAged is the one rule for what `latest` means, shared by the
// reconciler and `check` so they never disagree: the highest release of
// the channel that has not failed on this host and is at least
// age.minAge old (spec.minReleaseAge), never below the running version.
// A fresh retry lets one failed version through: the one it names, else
// the newest failed one. A release too young is skipped even when an
// older one is taken: the newest eligible release wins, and the young one
// is named in soaking.
func pickLatestAged(rels []releases.Release, prerelease bool, st *status.VersionStatus, current string, retry retryRequest, configDigest string, age ageRule) latestPick {
	young := map[string]bool{}
	for _, r := range rels {
		if age.tooYoung(r) {
			young[r.Version] = true
		}
	}
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
	p.rel, p.ok = releases.Highest(rels, prerelease, func(v string) bool { return skip(v) || young[v] })
	for _, r := range rels {
		if !r.InChannel(prerelease) || (p.ok && semver.Compare(r.Version, p.rel.Version) <= 0) {
			continue
		}
		switch {
		case skip(r.Version):
			p.skipped = append(p.skipped, r.Version)
		case young[r.Version] && (!semver.IsValid(current) || semver.Compare(r.Version, current) > 0):
			at := age.eligibleAt(r)
			if p.soaking == "" || semver.Compare(r.Version, p.soaking) > 0 {
				p.soaking, p.eligibleAt = r.Version, at
			}
			if p.next == "" || at.Before(p.nextAt) || at.Equal(p.nextAt) && semver.Compare(r.Version, p.next) > 0 {
				p.next, p.nextAt = r.Version, at
			}
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
