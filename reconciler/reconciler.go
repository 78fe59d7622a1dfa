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

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/filedigest"
	"github.com/better-paas/updater/internal/layout"
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
	// Events, if set, receives the live view of what the reconciler does:
	// steps, build output, condition changes, outcomes (see Publisher).
	Events Publisher
}

// Reconciler drives one install toward desired.yaml. Its methods are not
// safe for concurrent use: one Loop owns it.
type Reconciler struct {
	cfg *config.Config
	// cfgDigest is cfg.Digest(), computed once: failure records carry it.
	cfgDigest string
	svc       service.Manager
	source    releases.Source
	hooks     HookRunner
	now       func() time.Time
	onEvent   func(string, Event)
	events    Publisher // nil: publish nothing
	// planning is set on the copy of a Reconciler that Plan observes
	// with: it writes no release cache.
	planning bool
	// saved is status.yaml's conditions as last read or saved: what a
	// save's condition events are computed against.
	saved []status.Condition
	// outcome is the outcome of the operation that just ended, published
	// once status.yaml records it.
	outcome *events.Event
	// binaries remembers the backend binary's digest between observations,
	// so a converged reconcile does not read tens of megabytes; steps that
	// check a binary (swap, the record of a success) hash it whole.
	binaries *filedigest.Cache
	// untracked remembers the commits found tracking no state (act.go).
	untracked *cleanCommits
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
	return &Reconciler{cfg: o.Config, cfgDigest: o.Config.Digest(), svc: o.Service, source: o.Source, hooks: o.Hooks, now: o.Now, onEvent: o.OnEvent, events: o.Events,
		binaries: &filedigest.Cache{}, untracked: &cleanCommits{}}, nil
}

// StatusPath is where status.yaml lives: in the state folder.
func StatusPath(c *config.Config) string { return layout.New(c).Status }

// Status reads the current status.yaml.
func (r *Reconciler) Status() (*status.VersionStatus, error) { return status.Load(StatusPath(r.cfg)) }

// Reconcile observes the host and desired.yaml from scratch and takes the
// one action that brings them closer: nothing when the host already serves
// the desired version, a restart when only the service is down, or a whole
// update (resumed from the journal when one was in flight). A returned
// error is retried with backoff; a stall is not an error, it is written to
// status.yaml and waits for desired.yaml to change.
//
// It is observe, decide, act, after Flux's helm-controller: observe reads
// (Observation), decide is the pure state -> action table (decide.go),
// record writes what was observed into status, and act carries the action
// out (act.go). status.yaml is saved when it changed; then the changes of
// its conditions and the outcome of an operation that ended are published
// (Options.Events).
func (r *Reconciler) Reconcile(ctx context.Context) (Result, error) {
	st, err := r.loadStatus(ctx)
	if err != nil {
		return Result{}, err
	}
	r.saved = append(r.saved[:0:0], st.Conditions...)
	defer r.publishOutcome() // after the save: the page reads the status it records
	obs, repo := r.observe(ctx, st)
	dec := decide(obs)
	logr.FromContextOrDiscard(ctx).V(1).Info("Decided", "state", dec.State, "action", dec.Action.String())
	r.record(ctx, st, obs)
	res, err := r.act(ctx, st, obs, dec, repo)
	// Saving a status that did not change writes nothing (status.Save).
	if serr := r.saveStatus(st); serr != nil {
		return Result{}, errors.Join(err, serr)
	}
	return res, err
}

// record writes what obs saw into st: the spec generation, the desired,
// running and target versions, the tag's commit (first use is what a moved
// tag is checked against) and whether the release list is stale. It runs
// for every decision; what obs did not read is left as it was.
func (r *Reconciler) record(ctx context.Context, st *status.VersionStatus, o Observation) {
	log := logr.FromContextOrDiscard(ctx)
	if o.Desired == nil {
		return
	}
	if o.Generation != st.ObservedGeneration {
		st.ObservedGeneration, st.ObservedSpecDigest = o.Generation, o.Desired.Digest()
		log.Info("Desired version changed", "desiredVersion", o.Desired.Spec.Version, "generation", st.ObservedGeneration)
	}
	st.DesiredVersion = o.Desired.Spec.Version
	if o.HostErr != nil {
		return
	}
	st.CurrentCommit, st.CurrentVersion = o.Host.head, o.CurrentVersion
	if o.Listing != nil {
		markSource(st, *o.Listing, r.now())
	}
	if o.TargetErr != nil {
		return
	}
	if o.Desired.Spec.IsLatest() && o.Target.Version != st.TargetVersion {
		log.Info("Resolved latest", "targetVersion", o.Target.Version, "commit", short(o.Target.Commit))
	}
	st.TargetVersion = o.Target.Version
	if st.KnownTags == nil {
		st.KnownTags = map[string]string{}
	}
	st.KnownTags[o.Target.Version] = o.Target.Commit
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
