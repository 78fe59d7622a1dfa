package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/mod/semver"
	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/internal/preflight"
	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// Options are what a Reconciler needs; Config and Service are required.
type Options struct {
	Config  *config.Config
	Service service.Manager
	// Source lists upstream releases; default: the tags of the checkout's
	// remote (git ls-remote through go-git).
	Source releases.Source
	// Hooks runs hook scripts around steps; nil runs none.
	Hooks HookRunner
	// Now is the clock; default time.Now.
	Now func() time.Time
	// OnEvent, if set, is told about every step as it runs.
	OnEvent func(step string, ev Event)
}

// Reconciler drives one install toward desired.yaml. Its methods are not
// safe for concurrent use: one Loop owns it.
type Reconciler struct {
	cfg     *config.Config
	svc     service.Manager
	source  releases.Source
	hooks   HookRunner
	now     func() time.Time
	onEvent func(string, Event)
}

// Result tells the loop when to reconcile again, after controller-runtime.
type Result struct {
	// Requeue asks for another reconcile right away: the host changed and
	// should be observed again.
	Requeue bool
	// RequeueAfter asks for a reconcile after this long (0: at the next
	// event or resync).
	RequeueAfter time.Duration
}

// New returns a Reconciler for the install described by o.Config.
func New(o Options) (*Reconciler, error) {
	if o.Config == nil || o.Service == nil {
		return nil, errors.New("cannot create reconciler: Config and Service are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Reconciler{cfg: o.Config, svc: o.Service, source: o.Source, hooks: o.Hooks, now: o.Now, onEvent: o.OnEvent}, nil
}

// StatusPath is where status.yaml lives: in the state folder.
func StatusPath(c *config.Config) string { return c.StateDir + "/status.yaml" }

// Status reads the current status.yaml.
func (r *Reconciler) Status() (*status.VersionStatus, error) { return status.Load(StatusPath(r.cfg)) }

// Reconcile observes the host and desired.yaml from scratch and takes the
// one action that brings them closer: nothing when the host already serves
// the desired version, a restart when only the service is down, or a whole
// update (resumed from the journal when one was in flight). A returned
// error is retried with backoff; a stall is not an error, it is written to
// status.yaml and waits for desired.yaml to change.
func (r *Reconciler) Reconcile(ctx context.Context) (Result, error) {
	st, err := r.loadStatus(ctx)
	if err != nil {
		return Result{}, err
	}
	before, _ := yaml.Marshal(st)
	var res Result
	if st.Operation == nil && r.serveRestoreRequest(ctx, st) {
		// Between operations, a restore asked for by `backups restore`
		// comes first; then the host is observed afresh.
		res = Result{Requeue: true}
	} else {
		res, err = r.reconcile(ctx, st)
	}
	if after, _ := yaml.Marshal(st); string(after) != string(before) {
		if serr := status.Save(StatusPath(r.cfg), st); serr != nil {
			return Result{}, errors.Join(err, serr)
		}
	}
	return res, err
}

func (r *Reconciler) reconcile(ctx context.Context, st *status.VersionStatus) (Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	repo, err := gitrepo.Open(r.cfg.InstallDir)
	if err != nil {
		return r.settle(ctx, st, failure(ReasonNotGitCheckout, fmt.Errorf("installDir %s: %w", r.cfg.InstallDir, err)))
	}
	if st.Operation != nil {
		log.Info("Resuming update", "operation", st.Operation.ID, "step", st.Operation.Step, "phase", st.Operation.Phase)
		return r.execute(ctx, st, st.Operation, repo)
	}

	d, err := spec.Load(r.cfg.DesiredFile)
	if errors.Is(err, fs.ErrNotExist) {
		return r.settle(ctx, st, failure(ReasonDesiredMissing, fmt.Errorf(
			"%s does not exist: run `better-paas-updater set VERSION` or write it (spec.version: a tag or latest)", r.cfg.DesiredFile)))
	}
	if err != nil {
		// The last valid spec is kept: the host stays on what it runs, and
		// (as in every state that holds an update back, see settle) a
		// service that went down meanwhile is started again.
		return r.settle(ctx, st, failure(ReasonInvalidSpec, err))
	}
	if digest := d.Digest(); digest != st.ObservedSpecDigest {
		st.ObservedGeneration++
		st.ObservedSpecDigest = digest
		log.Info("Desired version changed", "desiredVersion", d.Spec.Version, "generation", st.ObservedGeneration)
	}
	st.DesiredVersion = d.Spec.Version

	obs, err := r.observe(ctx, repo)
	if err != nil {
		return r.settle(ctx, st, err)
	}
	st.CurrentCommit, st.CurrentVersion = obs.head, obs.currentVersion(st)

	retry := freshRetry(d, st)
	target, err := r.resolve(ctx, repo, d.Spec, st, retry)
	if err != nil {
		return r.settle(ctx, st, err)
	}
	if d.Spec.IsLatest() && target.Version != st.TargetVersion {
		log.Info("Resolved latest", "targetVersion", target.Version, "commit", short(target.Commit))
	}
	st.TargetVersion = target.Version

	if obs.serving(target) {
		st.CurrentVersion = target.Version
		st.LastKnownGood = &status.Revision{Version: target.Version, Commit: target.Commit, BinarySHA256: obs.binarySHA}
		st.ClearFailure(target.Version)
		summarize(st, phaseReady, ReasonUpToDate, fmt.Sprintf("running %s (%s), healthy%s", target.Version, short(target.Commit), prereleaseNote(d.Spec, target.Version)), r.now())
		return Result{RequeueAfter: r.cfg.ResyncInterval.Duration}, nil
	}
	if c := st.Get(status.TypeStalled); c != nil && c.Reason == ReasonRollbackFailed && c.ObservedGeneration == st.ObservedGeneration {
		return Result{}, nil // a human must look; the message already says why
	}
	if f, ok := st.Failure(target.Version); ok && f.Generation == st.ObservedGeneration && holdsBack(f, r.cfg) {
		return r.settle(ctx, st, failure(ReasonVersionFailed, fmt.Errorf(
			"%s failed at step %s (%s) and was rolled back to %s; it is not retried until desired.yaml changes or you run `better-paas-updater retry`: %s",
			f.Version, f.Step, f.Reason, orNothing(st.CurrentVersion), f.Message)))
	}
	if lkg := st.LastKnownGood; lkg != nil && *lkg == (status.Revision{Version: target.Version, Commit: obs.head, BinarySHA256: obs.binarySHA}) && obs.head == target.Commit {
		return r.repair(ctx, st, obs, target)
	}

	if mods, err := repo.LocalModifications(); err != nil {
		return r.settle(ctx, st, err)
	} else if len(mods) > 0 {
		return r.settle(ctx, st, failure(ReasonLocalModifications, fmt.Errorf(
			"cannot update %s to %s: tracked files are modified (%s); commit, stash or `git checkout -- <path>` them",
			r.cfg.InstallDir, target.Version, listPaths(mods))))
	}
	// An update must not change the app's data, which it would if git
	// tracked files in dataDir, in this version or the next.
	for _, v := range []status.Revision{{Version: orNothing(st.CurrentVersion), Commit: obs.head}, target} {
		if err := preflight.UntrackedData(r.cfg.InstallDir, r.cfg.DataDir, v.Version, func(dir string) ([]string, error) {
			return repo.TrackedUnder(v.Commit, dir)
		}); err != nil && !errors.Is(err, gitrepo.ErrCommitNotFound) {
			return r.settle(ctx, st, failure(ReasonDataTracked, err))
		}
	}
	// Files someone left where the release puts tracked ones cannot go
	// away by retrying; refuse before the backup rather than take one per
	// try. A target not fetched yet is checked by the checkout step.
	if err := repo.CheckCheckout(ctx, target.Commit); errors.Is(err, gitrepo.ErrUntrackedInTheWay) {
		return r.settle(ctx, st, failure(ReasonUntrackedInTheWay, untrackedInTheWay(target.Version, err)))
	}
	if err := r.preflight(ctx, repo); err != nil {
		return r.settle(ctx, st, err)
	}
	// From is what a rollback returns to. Its commit is the tag of the
	// version that runs, which differs from HEAD only after a crash left
	// the checkout half-moved and status.yaml was lost.
	from := status.Revision{Version: st.CurrentVersion, Commit: obs.head, BinarySHA256: obs.binarySHA}
	if from.FrontendSHA256, err = frontendSHA256(r.cfg); err != nil {
		return r.settle(ctx, st, err)
	}
	if commit, err := repo.ResolveTag(from.Version); from.Version != "" && err == nil {
		from.Commit = commit
	}
	if retry.stamp != "" {
		st.LastRetry = retry.stamp // one retry, one more try
	}
	op := &status.Operation{
		ID:        opID(r.now(), target.Version),
		From:      from,
		To:        target,
		Phase:     status.PhaseDo,
		StartedAt: r.now().UTC(),
	}
	log.Info("Updating", "operation", op.ID, "fromVersion", op.From.Version, "toVersion", op.To.Version)
	if !r.cfg.Build.Frontend.Enabled() {
		log.Info("Skipping step", "step", "build-frontend", "reason", "build.frontend.command is not set in updater.yaml")
	}
	return r.execute(ctx, st, op, repo)
}

// keepRunning starts the service when the installed build is the last
// known good one and nothing runs it. It is what the daemon still does
// in every state that holds an update back (an unusable desired.yaml, a
// failed or refused version, a missing tag, an unreachable source): no
// update, but no outage either.
func (r *Reconciler) keepRunning(ctx context.Context, st *status.VersionStatus) {
	lkg := st.LastKnownGood
	if lkg == nil || ctx.Err() != nil {
		return
	}
	repo, err := gitrepo.Open(r.cfg.InstallDir)
	if err != nil {
		return
	}
	obs, err := r.observe(ctx, repo)
	if err != nil || obs.running || obs.head != lkg.Commit || obs.binarySHA != lkg.BinarySHA256 {
		return
	}
	log := logr.FromContextOrDiscard(ctx)
	log.Info("Starting service", "version", lkg.Version, "reason", "desired.yaml is invalid; keeping the last known good version running")
	if err := r.svc.Start(ctx); err != nil {
		log.Error(err, "Cannot start service", "version", lkg.Version)
		return
	}
	h := &Host{Config: r.cfg, Service: r.svc}
	if _, err := h.gate(lkg.Version).Wait(ctx); err != nil {
		log.Error(err, "Service started but not healthy", "version", lkg.Version)
	}
}

// repair handles a host that has the target installed but does not serve
// it: it starts the service if it is down, and otherwise reports.
func (r *Reconciler) repair(ctx context.Context, st *status.VersionStatus, obs observation, target status.Revision) (Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	h := &Host{Config: r.cfg, Service: r.svc}
	if !obs.running {
		log.Info("Starting service", "version", target.Version)
		if err := r.svc.Start(ctx); err != nil {
			return r.settle(ctx, st, failure(ReasonServiceFailed, fmt.Errorf("cannot start %s: %w", target.Version, err)))
		}
	}
	if _, err := h.gate(target.Version).Wait(ctx); err != nil {
		return r.settle(ctx, st, failure(ReasonUnhealthy, fmt.Errorf("%s is installed but not healthy: %w", target.Version, err)))
	}
	summarize(st, phaseReady, ReasonUpToDate, fmt.Sprintf("running %s (%s), healthy", target.Version, short(target.Commit)), r.now())
	return Result{RequeueAfter: r.cfg.ResyncInterval.Duration}, nil
}

// resolve turns spec.version into a release and checks that its tag has
// not moved. A pinned tag already in the checkout needs no network;
// anything else asks the release source.
func (r *Reconciler) resolve(ctx context.Context, repo *gitrepo.Repo, sp spec.Spec, st *status.VersionStatus, retry retryRequest) (status.Revision, error) {
	rev, err := r.find(ctx, repo, sp, st, retry)
	if err != nil {
		return rev, err
	}
	// A pinned version below the running one is a downgrade: data written
	// by the newer version may not be readable by the older one, so it
	// needs explicit permission. latest never resolves below (see find).
	if cur := st.CurrentVersion; !sp.IsLatest() && !sp.AllowDowngrade && semver.IsValid(cur) && semver.Compare(rev.Version, cur) < 0 {
		return status.Revision{}, failure(ReasonDowngradeRefused, fmt.Errorf(
			"%s: spec.version %s is older than the running %s; set spec.allowDowngrade: true to install it anyway",
			r.cfg.DesiredFile, rev.Version, cur))
	}
	want, seen := st.KnownTags[rev.Version]
	if sp.Commit != "" && !sp.IsLatest() {
		want, seen = sp.Commit, true
	}
	if seen && want != rev.Commit {
		return status.Revision{}, failure(ReasonTagMoved, fmt.Errorf(
			"tag %s points to %s, but it pointed to %s when this host first used it; a moved tag is refused. "+
				"If the move is intended, set spec.commit: %s in %s", rev.Version, rev.Commit, want, rev.Commit, r.cfg.DesiredFile))
	}
	if st.KnownTags == nil {
		st.KnownTags = map[string]string{}
	}
	st.KnownTags[rev.Version] = rev.Commit
	return rev, nil
}

func (r *Reconciler) find(ctx context.Context, repo *gitrepo.Repo, sp spec.Spec, st *status.VersionStatus, retry retryRequest) (status.Revision, error) {
	if !sp.IsLatest() {
		commit, err := repo.ResolveTag(sp.Version)
		if err == nil {
			return status.Revision{Version: sp.Version, Commit: commit}, nil
		}
		if !errors.Is(err, gitrepo.ErrTagNotFound) {
			return status.Revision{}, err
		}
	}
	up, err := r.upstream(repo, sp.Prerelease())
	if err != nil {
		return status.Revision{}, err
	}
	listing, err := up.Source.List(ctx)
	if err != nil {
		return status.Revision{}, failure(ReasonSourceUnavailable, fmt.Errorf("cannot list releases: %w", err))
	}
	markSource(st, listing, r.now())
	rels := listing.Releases
	var rel releases.Release
	var ok bool
	if sp.IsLatest() {
		p := pickLatest(rels, sp.Prerelease(), st, retry, r.cfg)
		if !p.ok {
			return status.Revision{}, failure(ReasonTagNotFound, fmt.Errorf("%s has no release (vMAJOR.MINOR.PATCH) that has not failed here", listing.Source))
		}
		rel = p.rel
		if p.stay {
			if commit, err := repo.ResolveTag(st.CurrentVersion); err == nil {
				return status.Revision{Version: st.CurrentVersion, Commit: commit}, nil
			}
		}
	} else if rel, ok = releases.Find(rels, sp.Version); !ok {
		return status.Revision{}, failure(ReasonTagNotFound, fmt.Errorf(
			"%s: spec.version %s does not exist in %s; the host stays as it is. Set it to an existing release tag or %q",
			r.cfg.DesiredFile, sp.Version, listing.Source, spec.Latest))
	}
	commit, err := up.commitOf(ctx, repo, rel)
	if err != nil {
		return status.Revision{}, err
	}
	return status.Revision{Version: rel.Version, Commit: commit}, nil
}

// execute runs (or resumes) op to its end and records the outcome.
func (r *Reconciler) execute(ctx context.Context, st *status.VersionStatus, op *status.Operation, repo *gitrepo.Repo) (Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	succeeded, failed := backupOutcomes(st)
	runner := &Runner{
		Steps:            updateSteps(&Host{Config: r.cfg, Repo: repo, Service: r.svc}),
		Hooks:            r.hooks,
		ProtectBackups:   lastKnownGoodBackups(st),
		SucceededBackups: succeeded,
		FailedBackups:    failed,
		Journal: func(ctx context.Context, op *status.Operation) error {
			st.Operation = op
			verb := "updating"
			if op.Phase == status.PhaseUndo {
				verb = "rolling back"
			}
			summarize(st, phaseProgressing, ReasonProgressing, fmt.Sprintf("%s %s -> %s: step %s (attempt %d)",
				verb, orNothing(op.From.Version), op.To.Version, op.Step, op.Attempt), r.now())
			return status.Save(StatusPath(r.cfg), st)
		},
		OnEvent: func(step string, ev Event) {
			log.Info("Step", "step", step, "event", ev, "operation", op.ID)
			if r.onEvent != nil {
				r.onEvent(step, ev)
			}
		},
	}
	err := runner.Run(ctx, op)
	if errors.Is(err, ErrInterrupted) {
		// Not an outcome: the journal says where the next daemon resumes.
		verb := "update"
		if op.Phase == status.PhaseUndo {
			verb = "rollback"
		}
		summarize(st, phaseProgressing, ReasonInterrupted, fmt.Sprintf("%s %s -> %s interrupted at step %s (%v); it resumes when the daemon starts again",
			verb, orNothing(op.From.Version), op.To.Version, op.Step, context.Cause(ctx)), r.now())
		log.Info("Stopping; the operation resumes from its journal at the next start", "operation", op.ID,
			"step", op.Step, "phase", op.Phase, "attempt", op.Attempt, "cause", context.Cause(ctx).Error())
		return Result{}, err
	}
	var se *StepError
	if err != nil && !errors.As(err, &se) {
		// The journal could not be written: the operation stays as it was
		// last persisted and is resumed from there.
		return Result{}, err
	}
	now := r.now().UTC()
	st.Operation = nil
	entry := status.HistoryEntry{ID: op.ID, From: op.From.Version, To: op.To.Version, StartedAt: op.StartedAt, FinishedAt: now}
	if err == nil {
		sha, herr := fileSHA256(r.cfg.BackendBinary())
		if herr != nil {
			return Result{}, herr
		}
		st.CurrentVersion, st.CurrentCommit = op.To.Version, op.To.Commit
		st.ClearFailure(op.To.Version) // it installed and passed its health check
		st.LastKnownGood = &status.Revision{Version: op.To.Version, Commit: op.To.Commit, BinarySHA256: sha}
		entry.Result = status.ResultSucceeded
		st.AddHistory(entry)
		summarize(st, phaseReady, ReasonUpToDate, fmt.Sprintf("updated to %s (%s), healthy", op.To.Version, short(op.To.Commit)), now)
		log.Info("Updated", "operation", op.ID, "version", op.To.Version, "durationMs", now.Sub(op.StartedAt).Milliseconds())
		return Result{Requeue: true}, nil
	}

	reason := reasonOf(se.Err)
	entry.FailedStep, entry.Message = se.Step, se.Error()
	st.CurrentVersion, st.CurrentCommit = op.From.Version, op.From.Commit
	if !se.RolledBack {
		entry.Result = status.ResultRollbackFailed
		st.AddHistory(entry)
		st.RecordFailure(status.FailedVersion{Version: op.To.Version, Commit: op.To.Commit, Step: se.Step, Reason: reason,
			Message: se.Err.Error(), FailedAt: now, Generation: st.ObservedGeneration, ConfigDigest: r.cfg.Digest()})
		log.Error(se, "Rollback failed; a human must look", "operation", op.ID)
		summarize(st, phaseStalled, ReasonRollbackFailed, fmt.Sprintf(
			"%s failed at %s: %v; rolling back to %s then failed at %s: %v; no further attempts until desired.yaml changes",
			op.To.Version, se.Step, se.Err, orNothing(op.From.Version), se.UndoStep, se.UndoErr), now)
		return Result{}, nil
	}
	entry.Result = status.ResultRolledBack
	st.AddHistory(entry)
	log.Error(se, "Update failed and was rolled back", "operation", op.ID, "reason", reason, "version", op.From.Version)
	switch KindOf(reason) {
	case Transient:
		summarize(st, phaseRetrying, reason, fmt.Sprintf("update to %s rolled back, will retry: %v", op.To.Version, se), now)
		return Result{}, se
	case Terminal:
		switch reason {
		case ReasonLocalModifications:
			summarize(st, phaseStalled, reason, se.Error(), now)
			return Result{}, nil
		case ReasonUntrackedInTheWay:
			summarize(st, phaseStalled, reason, untrackedInTheWay(op.To.Version, se.Err).Error(), now)
			return Result{}, nil
		case ReasonDataTracked:
			// Refused before the checkout wrote anything; the check before
			// the next update finds it again, without a backup.
			summarize(st, phaseStalled, reason, se.Err.Error(), now)
			return Result{}, nil
		}
	}
	st.RecordFailure(status.FailedVersion{Version: op.To.Version, Commit: op.To.Commit, Step: se.Step, Reason: reason,
		Message: se.Err.Error(), FailedAt: now, Generation: st.ObservedGeneration, ConfigDigest: r.cfg.Digest()})
	return Result{Requeue: true}, nil
}

// settle writes a failure found before any step ran: terminal ones stall,
// others are returned for a retry with backoff. Either way the last known
// good version is kept running.
func (r *Reconciler) settle(ctx context.Context, st *status.VersionStatus, err error) (Result, error) {
	if ctx.Err() != nil {
		// What failed was cut short by the stop; it says nothing about the host.
		return Result{}, fmt.Errorf("%w (%v): %w", ErrInterrupted, context.Cause(ctx), err)
	}
	r.keepRunning(ctx, st)
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

// loadStatus reads status.yaml; a missing one starts empty and a corrupt
// one is set aside (kept for a human) and rebuilt from what the host shows.
func (r *Reconciler) loadStatus(ctx context.Context) (*status.VersionStatus, error) {
	path := StatusPath(r.cfg)
	st, err := status.Load(path)
	switch {
	case err == nil:
		return st, nil
	case errors.Is(err, fs.ErrNotExist):
		return status.New(), nil
	case errors.Is(err, status.ErrCorrupt):
		aside := fmt.Sprintf("%s.corrupt-%s", path, r.now().UTC().Format("20060102T150405Z"))
		logr.FromContextOrDiscard(ctx).Error(err, "Status file is corrupt; rebuilding it from the host", "keptAs", aside)
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("cannot set aside corrupt %s: %w", path, rerr)
		}
		return status.New(), nil
	}
	return nil, err
}

// lastKnownGoodBackups names the backup retention must keep whatever its
// age: the newest one of data as the last known good version left it, that
// is of an update that started from that version.
func lastKnownGoodBackups(st *status.VersionStatus) []string {
	if st.LastKnownGood == nil {
		return nil
	}
	for _, e := range st.History { // newest first
		if e.From == st.LastKnownGood.Version {
			return []string{e.ID}
		}
	}
	return nil
}

// prereleaseNote marks a prerelease that runs because it was pinned while
// the channel is stable: allowed, but worth a word in status.
func prereleaseNote(sp spec.Spec, version string) string {
	if !sp.IsLatest() && !sp.Prerelease() && semver.Prerelease(version) != "" {
		return "; a prerelease, pinned although spec.channel is stable"
	}
	return ""
}

// untrackedInTheWay says which files block version and what to do.
func untrackedInTheWay(version string, err error) error {
	return fmt.Errorf("cannot install %s: %w; nothing was changed. The update continues at the next resync once they are moved, "+
		"or at once with `better-paas-updater retry`", version, err)
}

// backupOutcomes sorts the backups of earlier updates (an update's backup
// has its operation's ID) by how the update ended, for retention.
func backupOutcomes(st *status.VersionStatus) (succeeded, failed []string) {
	for _, e := range st.History {
		if e.Result == status.ResultSucceeded {
			succeeded = append(succeeded, e.ID)
		} else {
			failed = append(failed, e.ID)
		}
	}
	return succeeded, failed
}

func opID(now time.Time, version string) string {
	return now.UTC().Format("20060102T150405Z") + "-" + version
}

func listPaths(paths []string) string {
	if len(paths) > 5 {
		return strings.Join(paths[:5], ", ") + fmt.Sprintf(" and %d more", len(paths)-5)
	}
	return strings.Join(paths, ", ")
}
