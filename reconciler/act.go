package reconciler

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/internal/preflight"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// act carries out dec. Every I/O that changes the host happens here or in
// the steps it runs; st is updated with what happened.
func (r *Reconciler) act(ctx context.Context, st *status.VersionStatus, o Observation, dec Decision, repo *gitrepo.Repo) (Result, error) {
	if dec.Action != actWait {
		st.Policy = nil // no policy holds anything back now
	}
	switch dec.Action {
	case actResume:
		op := st.Operation
		logr.FromContextOrDiscard(ctx).Info("Resuming update", "operation", op.ID, "step", op.Step, "phase", op.Phase)
		return r.execute(ctx, st, op, repo)
	case actRestore:
		r.serveRestoreRequest(ctx, st, o.Restore, o.RestoreErr)
		return Result{Requeue: true}, nil // then the host is observed afresh
	case actSettle:
		// Nothing happened since the host was observed: no need to read it again.
		return r.settle(ctx, st, o.readHost(), dec.Err)
	case actHold:
		return Result{}, nil
	case actWait:
		w, ok := AsWait(dec.Err)
		if !ok {
			return Result{}, fmt.Errorf("cannot act on state %s: no policy wait", dec.State)
		}
		return r.wait(ctx, st, o, w)
	case actMarkReady:
		r.markServing(st, o)
		recordHealthy(ctx, r.svc)
		summarize(st, phaseReady, ReasonUpToDate, fmt.Sprintf("running %s (%s), healthy%s",
			o.Target.Version, short(o.Target.Commit), prereleaseNote(o.Desired.Spec, o.Target.Version)), r.now())
		return Result{RequeueAfter: r.cfg.ResyncInterval.Duration}, nil
	case actRepair:
		return r.repair(ctx, st, o)
	case actUpdate:
		return r.update(ctx, st, o, repo)
	}
	return Result{}, fmt.Errorf("cannot act on state %s: no action %d", dec.State, dec.Action)
}

// markServing records the target the host serves, healthy, as the
// running and last known good version.
func (r *Reconciler) markServing(st *status.VersionStatus, o Observation) {
	st.CurrentVersion = o.Target.Version
	st.SetLastKnownGood(status.Revision{Version: o.Target.Version, Commit: o.Target.Commit, BinarySHA256: o.Host.binarySHA})
	st.ClearFailure(o.Target.Version) // it runs, healthy: whatever failed before is not this
}

// repair handles a host that has the target installed but does not serve
// it: it starts the service if it is down, and waits until it is healthy.
func (r *Reconciler) repair(ctx context.Context, st *status.VersionStatus, o Observation) (Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	h := &Host{Config: r.cfg, Service: r.svc}
	target := o.Target
	if !o.Host.running {
		r.countRestart(st)
		log.Info("Starting service", "version", target.Version, "restarts", st.ServiceRestarts)
		if err := r.svc.Start(ctx); err != nil {
			return r.settle(ctx, st, nil, failure(ReasonServiceFailed, fmt.Errorf("cannot start %s: %w", target.Version, err)))
		}
	}
	if err := h.waitHealthy(ctx, target.Version); err != nil {
		return r.settle(ctx, st, nil, failure(ReasonUnhealthy, fmt.Errorf("%s is installed but not healthy: %w", target.Version, err)))
	}
	summarize(st, phaseReady, ReasonUpToDate, fmt.Sprintf("running %s (%s), healthy", target.Version, short(target.Commit)), r.now())
	return Result{RequeueAfter: r.cfg.ResyncInterval.Duration}, nil
}

// countRestart records in st that the daemon is about to start an app it
// found stopped outside an update (status.VersionStatus.ServiceRestarts),
// whichever state it is in: repairing an installed target or keeping the
// last known good version running while an update is held back.
func (r *Reconciler) countRestart(st *status.VersionStatus) {
	now := r.now().UTC()
	st.ServiceRestarts++
	st.LastServiceRestart = &now
}

// update checks what only matters once an update is about to start (it
// costs a walk of the work tree, so a converged host never pays it), then
// journals a new operation and runs it.
func (r *Reconciler) update(ctx context.Context, st *status.VersionStatus, o Observation, repo *gitrepo.Repo) (Result, error) {
	// The digest of the frontend that runs (a read of its files) is taken
	// while the checks read the checkout and the host.
	type digest struct {
		sha string
		err error
	}
	frontend := make(chan digest, 1)
	go func() {
		sha, err := frontendSHA256(r.cfg)
		frontend <- digest{sha, err}
	}()
	err := r.checkUpdate(ctx, repo, o)
	front := <-frontend
	if err != nil {
		return r.settle(ctx, st, o.readHost(), err)
	}
	if front.err != nil {
		return r.settle(ctx, st, o.readHost(), front.err)
	}
	// From is what a rollback returns to. Its commit is the tag of the
	// version that runs, which differs from HEAD only after a crash left
	// the checkout half-moved and status.yaml was lost.
	from := status.Revision{Version: o.CurrentVersion, Commit: o.Host.head, BinarySHA256: o.Host.binarySHA, FrontendSHA256: front.sha}
	if commit, err := repo.ResolveTag(from.Version); from.Version != "" && err == nil {
		from.Commit = commit
	}
	if o.Retry.stamp != "" {
		st.LastRetry = o.Retry.stamp // one retry, one more try
	}
	op := &status.Operation{
		ID:        opID(r.now(), o.Target.Version),
		Kind:      operationKind(o.Desired),
		From:      from,
		To:        o.Target,
		Phase:     status.PhaseDo,
		StartedAt: r.now().UTC(),
	}
	log := logr.FromContextOrDiscard(ctx)
	log.Info("Updating", "operation", op.ID, "fromVersion", op.From.Version, "toVersion", op.To.Version)
	if !r.cfg.IsPrebuilt() && !r.cfg.Build.Frontend.Enabled() {
		log.Info("Skipping step", "step", "build-frontend", "reason", "build.frontend.command is not set in updater.yaml")
	}
	return r.execute(ctx, st, op, repo)
}

// checkUpdate refuses an update that cannot succeed for reasons on the
// host, before anything is touched: modified tracked files, git tracking
// files in dataDir, untracked files where the release puts tracked ones
// (a retry cannot move them, so they stall without a backup per try),
// refused hook scripts, and the preflight (space, build environment,
// remote). When several refuse, the first in that order is returned.
//
// The hooks and the preflight read other files than git's: they run on
// another goroutine while this one reads the checkout (a Repo is not safe
// for concurrent use, so the remote's URL is read for them first), and
// checkUpdate waits for them whatever it returns.
func (r *Reconciler) checkUpdate(ctx context.Context, repo *gitrepo.Repo, o Observation) error {
	var remoteURL string
	var remoteErr error
	if r.cfg.Remote != "" { // the preflight checks no remote without a name
		remoteURL, remoteErr = repo.RemoteURL(r.cfg.Remote)
	}
	host := make(chan error, 1)
	go func() {
		host <- r.checkHost(ctx, o.Target, func(string) (string, error) { return remoteURL, remoteErr })
	}()
	if err := r.checkCheckout(ctx, repo, o); err != nil {
		<-host
		return err
	}
	return <-host
}

// checkCheckout is the part of checkUpdate that reads the checkout: local
// modifications, tracked state and untracked files in the way.
func (r *Reconciler) checkCheckout(ctx context.Context, repo *gitrepo.Repo, o Observation) error {
	target := o.Target
	check, err := repo.CheckCheckout(ctx, target.Commit)
	if err != nil {
		return err
	}
	if len(check.Modified) > 0 {
		return failure(ReasonLocalModifications, fmt.Errorf(
			"cannot update %s to %s: tracked files are modified (%s); commit, stash or `git checkout -- <path>` them",
			r.cfg.InstallDir, target.Version, listPaths(check.Modified)))
	}
	// An update must not change the app's data, which it would if git
	// tracked files in dataDir or in backup.paths, in this version or the
	// next.
	for _, v := range []status.Revision{{Version: orNothing(o.CurrentVersion), Commit: o.Host.head}, target} {
		if r.untracked.has(v.Commit) {
			continue
		}
		switch err := untrackedState(r.cfg, repo, v); {
		case err == nil:
			r.untracked.add(v.Commit)
		case !errors.Is(err, gitrepo.ErrCommitNotFound):
			return failure(ReasonDataTracked, err)
		}
	}
	// A target not fetched yet, and what else Checkout would refuse, is
	// checked by the checkout step.
	if errors.Is(check.Refusal, gitrepo.ErrUntrackedInTheWay) {
		return failure(ReasonUntrackedInTheWay, untrackedInTheWay(target.Version, check.Refusal))
	}
	return nil
}

// checkHost is the part of checkUpdate that reads the host outside the
// checkout: the hook scripts and the preflight, which reads the remote's
// URL through remoteURL.
func (r *Reconciler) checkHost(ctx context.Context, target status.Revision, remoteURL func(string) (string, error)) error {
	// A refused hook (unsafe mode or owner, a symlink out of the folder, a
	// bad name or state) would fail the step it belongs to halfway through
	// the update: refuse before the backup instead, until the folder is
	// fixed.
	if c, ok := r.hooks.(hookChecker); ok {
		if err := c.Check(StepNames(r.cfg)...); err != nil {
			return failure(ReasonHookRefused, fmt.Errorf("cannot update to %s: hooksDir %s: %w", target.Version, r.cfg.HooksDir, err))
		}
	}
	return r.preflight(ctx, remoteURL)
}

// untrackedState checks that version v tracks nothing in dataDir
// (preflight.UntrackedData) nor in backup.paths (preflight.UntrackedPaths):
// the state a checkout must not touch and a restore puts back. Its errors
// wrap preflight.ErrDataTracked, or the lister's (gitrepo.ErrCommitNotFound
// for a commit not fetched yet).
func untrackedState(c *config.Config, repo *gitrepo.Repo, v status.Revision) error {
	tracked := func(dir string) ([]string, error) { return repo.TrackedUnder(v.Commit, dir) }
	if err := preflight.UntrackedData(c.InstallDir, c.DataDir, v.Version, tracked); err != nil {
		return err
	}
	return preflight.UntrackedPaths(c.Backup.Paths, v.Version, tracked)
}

// cleanCommits remembers the commits untrackedState found tracking
// nothing in dataDir or backup.paths. A commit's tree never changes and a
// Reconciler's config is fixed, so each commit is walked once per daemon,
// not before every update to or from it. It is safe for concurrent use
// (Plan's copy of the Reconciler shares it); a nil one remembers nothing.
type cleanCommits struct {
	mu sync.Mutex
	m  map[string]bool
}

func (c *cleanCommits) has(commit string) bool {
	if c == nil || commit == "" {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[commit]
}

func (c *cleanCommits) add(commit string) {
	if c == nil || commit == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]bool{}
	}
	c.m[commit] = true
}

// keepRunning starts the service when the installed build is the last
// known good one and nothing runs it. It is what the daemon still does
// in every state that holds an update back (an unusable desired.yaml, a
// failed or refused version, a missing tag, an unreachable source): no
// update, but no outage either. host is what was observed, when nothing
// acted on the host since; nil reads it afresh.
func (r *Reconciler) keepRunning(ctx context.Context, st *status.VersionStatus, host *observation) {
	lkg := st.LastKnownGood
	if lkg == nil || ctx.Err() != nil {
		return
	}
	if host == nil {
		repo, err := gitrepo.Open(r.cfg.InstallDir)
		if err != nil {
			return
		}
		h, err := r.observeHost(ctx, repo)
		if err != nil {
			return
		}
		host = &h
	}
	if host.running || host.head != lkg.Commit || host.binarySHA != lkg.BinarySHA256 {
		return
	}
	r.countRestart(st)
	log := logr.FromContextOrDiscard(ctx)
	log.Info("Starting service", "version", lkg.Version, "restarts", st.ServiceRestarts,
		"reason", "an update is held back; keeping the last known good version running")
	if err := r.svc.Start(ctx); err != nil {
		log.Error(err, "Cannot start service", "version", lkg.Version)
		return
	}
	h := &Host{Config: r.cfg, Service: r.svc}
	if err := h.waitHealthy(ctx, lkg.Version); err != nil {
		log.Error(err, "Service started but not healthy", "version", lkg.Version)
	}
}

// settle writes a failure found before any step ran: terminal ones stall,
// others are returned for a retry with backoff. Either way the last known
// good version is kept running (host as in keepRunning).
func (r *Reconciler) settle(ctx context.Context, st *status.VersionStatus, host *observation, err error) (Result, error) {
	if ctx.Err() != nil {
		// What failed was cut short by the stop; it says nothing about the host.
		return Result{}, fmt.Errorf("%w (%v): %w", ErrInterrupted, context.Cause(ctx), err)
	}
	r.keepRunning(ctx, st, host)
	reason := reasonOf(err)
	if KindOf(reason) == Transient {
		summarize(st, phaseRetrying, reason, err.Error(), r.now())
		return Result{}, err
	}
	if c := st.Get(status.TypeStalled); c == nil || c.Reason != reason || c.Message != err.Error() {
		logr.FromContextOrDiscard(ctx).Error(err, "Stalled", "reason", reason)
	}
	summarize(st, phaseStalled, reason, err.Error(), r.now())
	return Result{}, nil
}

// operationKind is KindRollback when desired.yaml records a requested
// rollback (spec.RollbackAnnotation, written with the pinned version),
// KindUpdate otherwise.
func operationKind(d *spec.DesiredVersion) status.OperationKind {
	if d != nil && d.Metadata.Annotations[spec.RollbackAnnotation] != "" {
		return status.KindRollback
	}
	return status.KindUpdate
}
