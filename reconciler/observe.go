package reconciler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/mod/semver"

	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// observe reads what decide needs, stopping as soon as the rest cannot
// matter: with an operation in flight or a restore requested, neither
// desired.yaml nor the network is read. repo is nil when RepoErr is set.
func (r *Reconciler) observe(ctx context.Context, st *status.VersionStatus) (Observation, *gitrepo.Repo) {
	o := Observation{Status: st, InstallDir: r.cfg.InstallDir, DesiredFile: r.cfg.DesiredFile, ConfigDigest: r.cfgDigest, Generation: st.ObservedGeneration, Now: r.now()}
	// Without an operation in flight, the service's state and its health
	// probe (a round trip to the app) are read while the checkout and
	// desired.yaml are; observe waits for them whatever it returns, so the
	// service manager is never asked twice at once.
	var service func() serviceObservation
	if st.Operation == nil {
		service = r.startObservingService(ctx)
		defer service()
	}
	repo, err := gitrepo.Open(r.cfg.InstallDir)
	if err != nil {
		o.RepoErr = err
		return o, nil
	}
	if st.Operation != nil {
		return o, repo
	}
	if o.Restore, o.RestoreErr = readRestoreRequest(RestoreRequestFile(r.cfg)); o.RestoreRequested() {
		return o, repo
	}
	o.Desired, o.DesiredErr = spec.Load(r.cfg.DesiredFile)
	if o.DesiredErr != nil {
		o.Desired = nil
		return o, repo
	}
	if o.Desired.Digest() != st.ObservedSpecDigest {
		o.Generation++
	}
	o.Retry = freshRetry(o.Desired, st)
	if o.Host, o.HostErr = r.observeHostWith(repo, service); o.HostErr != nil {
		return o, repo
	}
	o.CurrentVersion = o.Host.currentVersion(st)
	o.Target, o.Listing, o.Soak, o.TargetErr = r.resolve(ctx, repo, o)
	return o, repo
}

// Observation is everything one reconcile looks at, read once before
// anything is decided: the status as loaded, desired.yaml, the host and
// the release the spec resolves to. observe fills it and nothing changes
// it afterwards; decide reads it only; record and act use it.
type Observation struct {
	// Status is status.yaml as loaded. decide only reads it.
	Status *status.VersionStatus
	// InstallDir and DesiredFile name the files, for messages.
	InstallDir, DesiredFile string
	// Now is the time of the observation (Options.Now), the one clock
	// the policy of desired.yaml is judged by.
	Now time.Time
	// ConfigDigest is updater.yaml's digest (Config.Digest).
	ConfigDigest string
	// RepoErr is why installDir could not be opened as a git checkout.
	RepoErr error
	// Restore is the request `backups restore` left, RestoreErr why it
	// cannot be read (an unusable request is answered too: it failed).
	Restore    *RestoreRequest
	RestoreErr error

	// Desired is desired.yaml, nil when DesiredErr (wrapping
	// fs.ErrNotExist when the file is missing) says why not.
	Desired    *spec.DesiredVersion
	DesiredErr error
	// Generation is the spec generation desired.yaml is at: the status's,
	// plus one when its digest changed.
	Generation int64
	// Retry is a `better-paas-updater retry` not acted on yet.
	Retry retryRequest

	// Host is what runs; HostErr why it could not be read.
	Host    observation
	HostErr error
	// CurrentVersion is the version the host runs, as far as it tells.
	CurrentVersion string

	// Target is the release spec.version resolves to, TargetErr why none
	// may be installed (a *Failure with the reason).
	Target    status.Revision
	TargetErr error
	// Listing is the release list asked for, nil when none was needed.
	Listing *releases.Listing
	// Soak, under latest, is a release newer than Target that
	// spec.minReleaseAge holds back (ReasonSoakPending), nil when none.
	// When no release is old enough and none runs, it is TargetErr.
	Soak *WaitError
}

// RestoreRequested says `backups restore` left a request, usable or not.
func (o *Observation) RestoreRequested() bool { return o.Restore != nil || o.RestoreErr != nil }

// readHost returns the host as observed, nil when observe did not get to
// read it (or could not).
func (o *Observation) readHost() *observation {
	if o.HostErr != nil || o.Host.head == "" {
		return nil
	}
	return &o.Host
}

// observation is what Reconcile sees on the host, read afresh every time.
// Reading it costs no network and no writes.
type observation struct {
	head string // commit checked out
	// headTag returns the highest release tag at head, "" when none (or
	// the tags cannot be read). Reading every tag is the costliest part
	// of an observation, and only a host whose binary status does not
	// know needs it, so it is read on first call.
	headTag    func() string
	binarySHA  string // sha256 of the backend binary, "" when missing
	running    bool   // the service has a live process
	healthy    bool   // one probe answered 2xx
	version    string // the version the health endpoint reported
	healthErr  error
	serviceErr error
}

// observeHost reads the host: the commit checked out, the binary's digest,
// the service's state and one health probe.
func (r *Reconciler) observeHost(ctx context.Context, repo *gitrepo.Repo) (observation, error) {
	return r.observeHostWith(repo, func() serviceObservation { return r.observeService(ctx) })
}

// observeHostWith is observeHost with the service's state from service.
func (r *Reconciler) observeHostWith(repo *gitrepo.Repo, service func() serviceObservation) (observation, error) {
	var o observation
	var err error
	if o.head, err = repo.Head(); err != nil {
		return o, err
	}
	head := o.head
	o.headTag = sync.OnceValue(func() string {
		tags, err := repo.TagsAt(head)
		if err != nil {
			return ""
		}
		best := ""
		for _, t := range tags {
			if semver.IsValid(t) && semver.Canonical(t) == t && (best == "" || semver.Compare(t, best) > 0) {
				best = t
			}
		}
		return best
	})
	if o.binarySHA, err = r.binaries.SHA256(r.cfg.BackendBinary()); err != nil {
		return o, err
	}
	svc := service()
	o.running, o.healthy, o.version, o.healthErr, o.serviceErr = svc.running, svc.healthy, svc.version, svc.healthErr, svc.serviceErr
	return o, nil
}

// serviceObservation is what the service manager says of the app and, when
// it runs, what one health probe got (the fields of observation's names).
type serviceObservation struct {
	running, healthy      bool
	version               string
	healthErr, serviceErr error
}

// observeService asks the service manager whether the app runs and, if it
// does, probes its health once.
func (r *Reconciler) observeService(ctx context.Context) serviceObservation {
	var o serviceObservation
	svc, err := r.svc.Status(ctx)
	o.running, o.serviceErr = svc.Running, err
	if o.running {
		pctx, cancel := context.WithTimeout(ctx, r.cfg.Health.ProbeTimeout.Duration)
		obs, err := health.Probe(pctx, http.DefaultClient, r.cfg.Health.URL)
		cancel()
		o.healthy, o.version, o.healthErr = err == nil, obs.Version, err
	}
	return o
}

// startObservingService runs observeService in a goroutine and returns
// what waits for its answer (once; later calls return the same). The probe
// is a round trip to another process: meanwhile the reconciler reads
// desired.yaml and the checkout.
func (r *Reconciler) startObservingService(ctx context.Context) func() serviceObservation {
	answer := make(chan serviceObservation, 1)
	go func() { answer <- r.observeService(ctx) }()
	return sync.OnceValue(func() serviceObservation { return <-answer })
}

// currentVersion is the version the host runs: what the running service
// says, else what status recorded for this exact binary and commit, else
// the tag checked out when a binary exists.
func (o observation) currentVersion(st *status.VersionStatus) string {
	if o.healthy && o.version != "" {
		return o.version
	}
	if lkg := st.LastKnownGood; lkg != nil && lkg.Commit == o.head && lkg.BinarySHA256 == o.binarySHA {
		return lkg.Version
	}
	if o.binarySHA != "" && o.headTag != nil {
		return o.headTag()
	}
	return ""
}

// serving reports whether the host runs target healthily. A health
// endpoint that reports no version is trusted only on the target commit.
func (o observation) serving(target status.Revision) bool {
	if !o.running || !o.healthy || o.binarySHA == "" {
		return false
	}
	if o.version != "" {
		return o.version == target.Version && o.head == target.Commit
	}
	return o.head == target.Commit
}

// resolve turns spec.version into a release and checks that this host may
// install it: a pinned version below the running one needs allowDowngrade,
// and a tag must point where it did when the host first used it. A pinned
// tag already in the checkout needs no network; anything else asks the
// release source, whose listing is returned for the status. soak is the
// newer release spec.minReleaseAge holds back, if any.
func (r *Reconciler) resolve(ctx context.Context, repo *gitrepo.Repo, o Observation) (_ status.Revision, _ *releases.Listing, soak *WaitError, _ error) {
	sp, st := o.Desired.Spec, o.Status
	rev, listing, soak, err := r.find(ctx, repo, o)
	if err != nil {
		return rev, listing, nil, err
	}
	// A pinned version below the running one is a downgrade: data written
	// by the newer version may not be readable by the older one, so it
	// needs explicit permission. latest never resolves below (see find).
	if cur := o.CurrentVersion; !sp.IsLatest() && !sp.AllowDowngrade && semver.IsValid(cur) && semver.Compare(rev.Version, cur) < 0 {
		return status.Revision{}, listing, nil, failure(ReasonDowngradeRefused, fmt.Errorf(
			"%s: spec.version %s is older than the running %s; set spec.allowDowngrade: true to install it anyway",
			r.cfg.DesiredFile, rev.Version, cur))
	}
	want, seen := st.KnownTags[rev.Version]
	if sp.Commit != "" && !sp.IsLatest() {
		want, seen = sp.Commit, true
	}
	if seen && want != rev.Commit {
		return status.Revision{}, listing, nil, failure(ReasonTagMoved, fmt.Errorf(
			"tag %s points to %s, but it pointed to %s when this host first used it; a moved tag is refused. "+
				"If the move is intended, set spec.commit: %s in %s", rev.Version, rev.Commit, want, rev.Commit, r.cfg.DesiredFile))
	}
	return rev, listing, soak, nil
}

// find looks spec.version up: a pinned tag in the checkout, else in the
// release source; latest is the newest release pickLatestAged allows, and
// soak the newer one spec.minReleaseAge holds back. When no release is old
// enough, latest stays on the running version, or, with none, resolves to
// nothing with the soak as the error.
func (r *Reconciler) find(ctx context.Context, repo *gitrepo.Repo, o Observation) (status.Revision, *releases.Listing, *WaitError, error) {
	sp := o.Desired.Spec
	if !sp.IsLatest() {
		commit, err := repo.ResolveTag(sp.Version)
		if err == nil {
			return status.Revision{Version: sp.Version, Commit: commit}, nil, nil, nil
		}
		if !errors.Is(err, gitrepo.ErrTagNotFound) {
			return status.Revision{}, nil, nil, err
		}
	}
	up, err := r.upstream(repo, sp.Prerelease())
	if err != nil {
		return status.Revision{}, nil, nil, err
	}
	listing, err := up.Source.List(ctx)
	if err != nil {
		return status.Revision{}, nil, nil, failure(ReasonSourceUnavailable, fmt.Errorf("cannot list releases: %w", err))
	}
	if !sp.IsLatest() {
		rel, ok := releases.Find(listing.Releases, sp.Version)
		if !ok {
			return status.Revision{}, &listing, nil, failure(ReasonTagNotFound, fmt.Errorf(
				"%s: spec.version %s does not exist in %s; the host stays as it is. Set it to an existing release tag or %q",
				r.cfg.DesiredFile, sp.Version, listing.Source, spec.Latest))
		}
		commit, err := up.commitOf(ctx, repo, rel)
		if err != nil {
			return status.Revision{}, &listing, nil, err
		}
		return status.Revision{Version: rel.Version, Commit: commit}, &listing, nil, nil
	}
	rels := listing.Releases
	age := ageRule{minAge: sp.MinReleaseAge.Duration, now: o.Now}
	if gt, ok := up.Source.(releases.GitTags); ok && age.minAge > 0 {
		rels = datedReleases(rels, sp.Prerelease(), o.CurrentVersion, releases.LocalPath(gt.URL), r.cfg.InstallDir)
	}
	p := pickLatestAged(rels, sp.Prerelease(), o.Status, o.CurrentVersion, o.Retry, o.ConfigDigest, age)
	var soak *WaitError
	if p.soaking != "" {
		soak = soakWait(o, p, o.CurrentVersion)
	}
	if !p.ok || p.stay {
		if commit, err := repo.ResolveTag(o.CurrentVersion); o.CurrentVersion != "" && err == nil && (p.stay || soak != nil) {
			return status.Revision{Version: o.CurrentVersion, Commit: commit}, &listing, soak, nil
		}
	}
	if !p.ok {
		if soak != nil {
			soak = soakWait(o, p, "")
			return status.Revision{}, &listing, nil, soak
		}
		return status.Revision{}, &listing, nil, failure(ReasonTagNotFound, fmt.Errorf("%s has no release (vMAJOR.MINOR.PATCH) that has not failed here", listing.Source))
	}
	commit, err := up.commitOf(ctx, repo, p.rel)
	if err != nil {
		return status.Revision{}, &listing, nil, err
	}
	return status.Revision{Version: p.rel.Version, Commit: commit}, &listing, soak, nil
}

// datedReleases returns rels with the dates of the annotated tags that
// git tags of a remote do not carry, read from the repositories at dirs
// (the remote when it is on this machine, the checkout) for the releases
// of the channel above current: what spec.minReleaseAge needs. A tag not
// found there keeps no date, and so no age (see ageRule).
func datedReleases(rels []releases.Release, prerelease bool, current string, dirs ...string) []releases.Release {
	out := slices.Clone(rels)
	var undated []releases.Release
	var at []int
	for i, r := range out {
		if r.InChannel(prerelease) && r.PublishedAt.IsZero() && (!semver.IsValid(current) || semver.Compare(r.Version, current) > 0) {
			undated, at = append(undated, r), append(at, i)
		}
	}
	releases.AddTagNotes(undated, dirs...)
	for j, i := range at {
		out[i].PublishedAt = undated[j].PublishedAt
	}
	return out
}
