package reconciler

import (
	"context"
	"net/http"

	"golang.org/x/mod/semver"

	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/status"
)

// observation is what Reconcile sees on the host, read afresh every time.
// Reading it costs no network and no writes.
type observation struct {
	head       string // commit checked out
	headTag    string // highest release tag at head, "" when none
	binarySHA  string // sha256 of the backend binary, "" when missing
	running    bool   // the service has a live process
	healthy    bool   // one probe answered 2xx
	version    string // the version the health endpoint reported
	healthErr  error
	serviceErr error
}

func (r *Reconciler) observe(ctx context.Context, repo *gitrepo.Repo) (observation, error) {
	var o observation
	var err error
	if o.head, err = repo.Head(); err != nil {
		return o, err
	}
	tags, err := repo.TagsAt(o.head)
	if err != nil {
		return o, err
	}
	for _, t := range tags {
		if semver.IsValid(t) && semver.Canonical(t) == t && (o.headTag == "" || semver.Compare(t, o.headTag) > 0) {
			o.headTag = t
		}
	}
	if o.binarySHA, err = fileSHA256(r.cfg.BackendBinary()); err != nil {
		return o, err
	}
	svc, err := r.svc.Status(ctx)
	o.running, o.serviceErr = svc.Running, err
	if o.running {
		pctx, cancel := context.WithTimeout(ctx, r.cfg.Health.ProbeTimeout.Duration)
		obs, err := health.Probe(pctx, http.DefaultClient, r.cfg.Health.URL)
		cancel()
		o.healthy, o.version, o.healthErr = err == nil, obs.Version, err
	}
	return o, nil
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
	if o.binarySHA != "" {
		return o.headTag
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
