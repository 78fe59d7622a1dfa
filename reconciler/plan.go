package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/internal/preflight"
	"github.com/better-paas/updater/status"
)

// Plan is what a reconcile would do if it ran now, for `better-paas-updater
// plan`: the state decide names, its action, the release the spec resolves
// to, the steps an update would run and what it needs.
type Plan struct {
	// State and Action are decide's answer (see State and the actions
	// table in decide.go).
	State  State  `json:"state"`
	Action string `json:"action"`
	// Reason and Message say why nothing would be installed (the refusal
	// an actSettle records, or checkUpdate's refusal of an update); Stalls
	// tells a refusal that waits for desired.yaml or a human from one the
	// daemon retries with backoff.
	// For a waiting state (Held, WindowClosed, SoakPending), Reason and
	// Message are the policy's, and Policy says what it holds back and
	// until when, as status.yaml's policy field will.
	Reason  string             `json:"reason,omitempty"`
	Message string             `json:"message,omitempty"`
	Stalls  bool               `json:"stalls,omitempty"`
	Policy  *status.PolicyHold `json:"policy,omitempty"`
	// DesiredVersion is spec.version as written, DesiredGeneration the
	// generation (desired.Generation) of the file read.
	DesiredVersion    string `json:"desiredVersion,omitempty"`
	DesiredGeneration string `json:"desiredGeneration,omitempty"`
	// CurrentVersion and CurrentCommit are what the host runs.
	CurrentVersion string `json:"currentVersion,omitempty"`
	CurrentCommit  string `json:"currentCommit,omitempty"`
	// Target is the release spec.version resolves to; empty when it does
	// not resolve (Reason says why).
	TargetVersion string `json:"targetVersion,omitempty"`
	TargetCommit  string `json:"targetCommit,omitempty"`
	// Operation is the operation in flight (StateUpdateInFlight).
	Operation *status.Operation `json:"operation,omitempty"`
	// Steps are the steps that would run, in order: every step of an
	// update (StepNames), the rest of a journaled one, or "undo <step>"
	// for each step a journaled rollback still has to undo. Empty when no
	// step would run.
	Steps []string `json:"steps,omitempty"`
	// Backup is the space the update's backup would need; nil when no
	// update would start or it could not be estimated (BackupError).
	Backup      *BackupPlan `json:"backup,omitempty"`
	BackupError string      `json:"backupError,omitempty"`
	// RollbackTarget is the version `better-paas-updater rollback` would
	// pin now (desired.RollbackTarget); RollbackError why there is none.
	RollbackTarget string `json:"rollbackTarget,omitempty"`
	RollbackError  string `json:"rollbackError,omitempty"`
	// Artifacts are the release assets an update would download
	// (artifact: prebuilt), ArtifactsError why they are unknown.
	Artifacts      []ArtifactInfo `json:"artifacts,omitempty"`
	ArtifactsError string         `json:"artifactsError,omitempty"`
	// ReleasesStale says why the release list is a cached one, if it is.
	ReleasesStale string `json:"releasesStale,omitempty"`
}

// BackupPlan is what the backup of an update would write (see
// backup.EstimateCreate) and the room the preflight asks for it.
type BackupPlan struct {
	// Base is the backup unchanged files would be hard-linked to, "" for
	// a full copy.
	Base      string `json:"base,omitempty"`
	CopyFiles int    `json:"copyFiles"`
	CopyBytes int64  `json:"copyBytes"`
	LinkFiles int    `json:"linkFiles"`
	// NeedBytes is what the preflight requires free in backupDir's
	// filesystem: the copies plus margins (preflight.BackupNeed).
	NeedBytes uint64 `json:"needBytes"`
}

// Plan observes the host and desired.yaml as Reconcile does and decides,
// but does not act: it returns what Reconcile would do now. It is safe to
// run beside a daemon, at any time, as often as wanted.
//
// It writes nothing the updater owns: not status.yaml (a corrupt one is
// read as empty, not set aside), not desired.yaml, not the release cache
// (GitHub answers are read from the cache and a fresh one is kept in
// memory only), no git object, ref or index, no backup. What observing
// does on the host besides reading: one health probe of a running app (the
// app may log it), the remote asked for its tags or GitHub for its
// releases when the spec needs the network (as `check` does), and the
// exec supervisor's Status removes a pidfile that names a process which
// is gone (its bookkeeping, as any `status` of it would).
//
// Errors are those of reading status.yaml (status.ErrNewer: a newer
// updater wrote it); everything else is in the Plan.
func (r *Reconciler) Plan(ctx context.Context) (Plan, error) {
	st, err := status.Load(StatusPath(r.cfg))
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, status.ErrCorrupt):
		// Reconcile would rebuild it from the host; so does the plan.
		st = status.New()
	case err != nil:
		return Plan{}, err
	}
	planner := r.forPlan()
	o, repo := planner.observe(ctx, st)
	dec := decide(o)
	p := Plan{State: dec.State, Action: dec.Action.String(), Operation: st.Operation, CurrentVersion: st.CurrentVersion, CurrentCommit: st.CurrentCommit}
	if o.Desired != nil {
		p.DesiredVersion = o.Desired.Spec.Version
		p.DesiredGeneration = desired.Read(r.cfg.DesiredFile).Generation
	}
	if o.readHost() != nil {
		p.CurrentVersion, p.CurrentCommit = o.CurrentVersion, o.Host.head
	}
	if o.TargetErr == nil && o.Target.Version != "" {
		p.TargetVersion, p.TargetCommit = o.Target.Version, o.Target.Commit
	}
	if o.Listing != nil && o.Listing.Stale != nil {
		p.ReleasesStale = o.Listing.Stale.Error()
	}
	if v, err := desired.RollbackTarget(st); err != nil {
		p.RollbackError = err.Error()
	} else {
		p.RollbackTarget = v
	}
	refuse := func(err error) {
		reason := reasonOf(err)
		p.Reason, p.Message, p.Stalls = reason, err.Error(), KindOf(reason) != Transient
	}
	switch dec.Action {
	case actSettle:
		refuse(dec.Err)
	case actWait:
		if w, ok := AsWait(dec.Err); ok {
			p.Reason, p.Message, p.Policy = w.Reason, w.Msg, w.record()
		}
	case actResume:
		op := st.Operation
		p.TargetVersion, p.TargetCommit = op.To.Version, op.To.Commit
		steps := updateSteps(&Host{Config: r.cfg})
		undoable := func(name string) bool {
			for _, s := range steps {
				if s.Name() == name {
					_, ok := s.(Undoer)
					return ok
				}
			}
			return false
		}
		p.Steps = remainingSteps(StepNames(r.cfg), undoable, op)
		planner.planArtifacts(ctx, repo, op.To.Version, &p)
	case actUpdate:
		p.Steps = StepNames(r.cfg)
		planner.planArtifacts(ctx, repo, o.Target.Version, &p)
		// The checks an update makes before it starts: all of them read.
		if err := planner.checkUpdate(ctx, repo, o); err != nil {
			refuse(err)
		}
		p.Backup, err = r.planBackup(ctx)
		if err != nil {
			p.BackupError = err.Error()
		}
	}
	return p, nil
}

// remainingSteps are the steps op still runs: forward from op.Step
// without those done, or, undoing, "undo <step>" for each done step that
// has an Undo (undoable), from the last.
func remainingSteps(all []string, undoable func(string) bool, op *status.Operation) []string {
	var out []string
	if op.Phase == status.PhaseUndo {
		for _, s := range slices.Backward(op.Done) {
			if undoable(s) {
				out = append(out, "undo "+s)
			}
		}
		return out
	}
	start := 0
	if i := slices.Index(all, op.Step); i >= 0 {
		start = i
	}
	for _, s := range all[start:] {
		if !slices.Contains(op.Done, s) {
			out = append(out, s)
		}
	}
	return out
}

// planBackup estimates the backup an update would take now, without
// writing anything (backup.EstimateCreate).
func (r *Reconciler) planBackup(ctx context.Context) (*BackupPlan, error) {
	c := r.cfg
	var opts []backup.Option
	if len(c.Backup.Paths) > 0 {
		opts = append(opts, backup.Paths(c.InstallDir, c.Backup.Paths...))
	}
	est, err := backup.EstimateCreate(ctx, c.DataDir, c.BackupDir, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot estimate the backup: %w", err)
	}
	return &BackupPlan{Base: est.Base, CopyFiles: est.CopyFiles, CopyBytes: est.CopyBytes, LinkFiles: est.LinkFiles,
		NeedBytes: preflight.BackupNeed(est)}, nil
}

// planArtifacts fills in the assets an update to version would download,
// when artifact: prebuilt.
func (r *Reconciler) planArtifacts(ctx context.Context, repo *gitrepo.Repo, version string, p *Plan) {
	if !r.cfg.IsPrebuilt() || version == "" {
		return
	}
	rel, err := r.releaseFinder(repo)(ctx, version)
	if err == nil {
		p.Artifacts, err = ArtifactsOf(r.cfg, rel)
	}
	if err != nil {
		p.ArtifactsError = err.Error()
	}
}

// forPlan returns a copy of r that observes as r does (sharing its caches,
// which are safe for concurrent use) but writes nothing: no release cache,
// no events, no hooks.
func (r *Reconciler) forPlan() *Reconciler {
	p := *r
	p.planning, p.hooks, p.onEvent, p.events, p.saved, p.outcome = true, nil, nil, nil, nil, nil
	return &p
}
