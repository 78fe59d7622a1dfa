package selfupdate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"aead.dev/minisign"
	"github.com/go-logr/logr"
	"golang.org/x/mod/semver"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/github"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/internal/signedsums"
	"github.com/better-paas/updater/status"
)

// Defaults of Options.
const (
	DefaultVersionTimeout = 10 * time.Second
	DefaultTrialTimeout   = 2 * time.Minute
	// MaxTrialErrors is how many reconciles in a row may fail in a new
	// updater on trial before it gives up and puts the old one back.
	MaxTrialErrors = 3
	// maxTrialAttempts bounds the starts of a binary on trial: more means
	// it was restarted into itself, which a healthy handover never does.
	maxTrialAttempts = 2
	// maxBinarySize caps the archive download.
	maxBinarySize = 256 << 20
)

// ErrBusy is returned (wrapped) by Once when an update of the app is in
// flight: self-update waits for it and Run tries again in busyRetry.
var ErrBusy = errors.New("an update of the app is in flight")

// busyRetry is how soon Run tries again after ErrBusy.
const busyRetry = time.Minute

// Options are what an Updater needs. Config, ConfigPath and Version are
// required; the rest default.
type Options struct {
	// Config is the daemon's updater.yaml, loaded; its selfUpdate block
	// says where releases come from, its stateDir where the marker, the
	// downloads and status.yaml are.
	Config *config.Config
	// ConfigPath is updater.yaml's path, passed to the trial's
	// `plan --config`.
	ConfigPath string
	// Version is the running updater's version (main.version).
	Version string
	// Executable is the running binary; default os.Executable with
	// symlinks resolved.
	Executable string
	// StatusPath is status.yaml; default the state folder's (layout).
	StatusPath string
	// Lock serialises status.yaml's read-modify-write and the handover
	// with the daemon's reconciles: the run command passes the mutex its
	// reconciles hold. Nil: a private one (the CLI holds the state
	// folder's lock instead).
	Lock sync.Locker
	// Source lists the updater's releases; default the GitHub client of
	// selfUpdate.repo at selfUpdate.apiURL, cached in the state folder.
	Source releases.Source
	// VersionTimeout bounds `<new> version`; TrialTimeout the trial plan.
	VersionTimeout, TrialTimeout time.Duration
	// GOOS and GOARCH select the archive; default the running platform.
	GOOS, GOARCH string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Updater carries out self-updates of one daemon. Once, Check and Install
// may run concurrently with Reconciled; Resume runs before any of them.
type Updater struct {
	o       Options
	su      config.SelfUpdate
	key     minisign.PublicKey
	dir     string // <stateDir>/self-update: downloads, unpacked archives, release cache
	marker  string
	lock    sync.Locker
	keyErr  error
	checked chan struct{} // closed after the first reconcile settled any trial

	// mu guards trial, trialErrs and firstDone (Reconciled and Run).
	mu        sync.Mutex
	trial     *Marker
	trialErrs int
	firstDone bool
}

// New returns an Updater for o. It fails only when the running binary
// cannot be found; a selfUpdate block that is off or incomplete leaves
// the Updater able to settle a marker (Resume) but not to update.
func New(o Options) (*Updater, error) {
	if o.Config == nil || o.Version == "" {
		return nil, errors.New("cannot set up self-update: Config and Version are required")
	}
	if o.Executable == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("cannot find the running updater binary: %w", err)
		}
		o.Executable = exe
	}
	if exe, err := filepath.EvalSymlinks(o.Executable); err == nil {
		o.Executable = exe
	}
	if abs, err := filepath.Abs(o.Executable); err == nil {
		o.Executable = abs
	}
	if o.StatusPath == "" {
		o.StatusPath = layout.New(o.Config).Status
	}
	if o.VersionTimeout == 0 {
		o.VersionTimeout = DefaultVersionTimeout
	}
	if o.TrialTimeout == 0 {
		o.TrialTimeout = DefaultTrialTimeout
	}
	if o.GOOS == "" {
		o.GOOS, o.GOARCH = runtime.GOOS, runtime.GOARCH
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	u := &Updater{o: o, su: o.Config.SelfUpdate, dir: filepath.Join(o.Config.StateDir, "self-update"),
		marker: filepath.Join(o.Config.StateDir, MarkerName), lock: o.Lock, checked: make(chan struct{})}
	if u.lock == nil {
		u.lock = &sync.Mutex{}
	}
	switch {
	case u.su.Repo == "" || u.su.Owner() == "":
		u.keyErr = errors.New("selfUpdate.repo is not set: name the GitHub owner/name of the updater's releases in updater.yaml")
	case u.su.PublicKey == "":
		u.keyErr = errors.New("selfUpdate.publicKey is not set: paste the minisign public key the updater's releases are signed with into updater.yaml")
	default:
		u.key, u.keyErr = signedsums.ParsePublicKey(u.su.PublicKey)
	}
	if u.o.Source == nil && u.keyErr == nil {
		u.o.Source = &github.Client{
			BaseURL: u.su.APIURL, Owner: u.su.Owner(), Name: u.su.Name(), Token: github.TokenFromEnv(),
			CacheFile: filepath.Join(u.dir, "github-releases.json"), TTL: min(u.su.Interval.Duration/2, github.DefaultTTL),
		}
	}
	return u, nil
}

// Executable is the binary the daemon runs as, symlinks resolved.
func (u *Updater) Executable() string { return u.o.Executable }

// configured reports why self-update cannot run, or nil.
func (u *Updater) configured() error {
	if u.keyErr != nil {
		return u.keyErr
	}
	if !semver.IsValid(u.o.Version) {
		return fmt.Errorf("the running updater is %q, not a release version: a development build is not replaced by releases (make build stamps a version)", u.o.Version)
	}
	return nil
}

// Check lists the updater's releases and returns the one to update to:
// the newest stable release above the running version that has not
// failed here. ok is false when there is none. It records the time of
// the check in status.yaml (updater.lastCheck) when record is true.
func (u *Updater) Check(ctx context.Context, record bool) (rel releases.Release, ok bool, err error) {
	if err := u.configured(); err != nil {
		return releases.Release{}, false, err
	}
	if err := os.MkdirAll(u.dir, 0o700); err != nil {
		return releases.Release{}, false, fmt.Errorf("cannot create %s: %w", u.dir, err)
	}
	l, err := u.o.Source.List(ctx)
	if err != nil {
		return releases.Release{}, false, fmt.Errorf("cannot list the updater's releases of %s: %w", u.su.Repo, err)
	}
	st, err := u.loadStatus()
	if err != nil {
		return releases.Release{}, false, err
	}
	rel, ok = Pick(l.Releases, u.o.Version, st.SelfUpdateFailed)
	if record {
		now := u.o.Now().UTC()
		err = u.updateStatus(func(st *status.VersionStatus) {
			if st.Updater == nil {
				st.Updater = &status.UpdaterStatus{}
			}
			st.Updater.Version = u.o.Version
			st.Updater.LastCheck = &now
		})
	}
	return rel, ok, err
}

// Pick returns the newest release in rels (in any order) that is a valid
// stable semantic version above running and for which failed is false.
func Pick(rels []releases.Release, running string, failed func(version string) bool) (releases.Release, bool) {
	var best releases.Release
	found := false
	for _, r := range rels {
		v := r.Version
		// Only whole versions as tags name them: not "v1", not build metadata.
		if semver.Canonical(v) != v || r.Prerelease || semver.Prerelease(v) != "" ||
			semver.Compare(v, running) <= 0 || failed(v) {
			continue
		}
		if !found || semver.Compare(v, best.Version) > 0 {
			best, found = r, true
		}
	}
	return best, found
}

// Once is one self-update pass of the daemon: check, stage, verify and,
// when no update of the app is in flight, hand over: restart is called
// with the Restart that runs the new binary, while the status lock is
// still held, so no reconcile starts an operation between the check and
// the stop (the caller must make a reconcile that waits on the lock see
// the stop). It returns nil when there is nothing to do or the release
// was refused (recorded in status.yaml); ErrBusy while an update of the
// app is in flight; another error when the pass should be tried again
// later (network, host).
func (u *Updater) Once(ctx context.Context, restart func(*Restart)) error {
	log := logr.FromContextOrDiscard(ctx)
	if err := u.configured(); err != nil {
		return err
	}
	if st, err := u.loadStatus(); err != nil {
		return err
	} else if st.Operation != nil {
		return fmt.Errorf("%w (operation %s)", ErrBusy, st.Operation.ID)
	}
	rel, ok, err := u.Check(ctx, true)
	if err != nil || !ok {
		if err == nil {
			log.V(1).Info("Updater is up to date", "version", u.o.Version)
		}
		return err
	}
	log.Info("Staging a new updater", "from", u.o.Version, "to", rel.Version)
	staged, err := u.stage(ctx, rel)
	if err != nil {
		return u.refused(ctx, rel.Version, err)
	}
	u.lock.Lock()
	defer u.lock.Unlock()
	st, err := u.loadStatus()
	if err != nil {
		return err
	}
	if st.Operation != nil {
		return errors.Join(fmt.Errorf("%w (operation %s started while updater %s was staged)", ErrBusy, st.Operation.ID, rel.Version), removeFile(staged))
	}
	m := Marker{From: u.o.Version, To: rel.Version, Exe: u.o.Executable, New: staged, Phase: PhaseTrial, StartedAt: u.o.Now().UTC()}
	if err := writeMarker(u.marker, m); err != nil {
		return err
	}
	log.Info("Handing over to the new updater", "from", m.From, "to", m.To, "binary", staged)
	restart(&Restart{Path: staged, From: m.From, To: m.To})
	return nil
}

// refused records a staging failure that blames the release (Failed in
// status.yaml, never tried again) and returns nil, or returns err as it
// is when it is worth another try.
func (u *Updater) refused(ctx context.Context, version string, err error) error {
	var f *failure
	if !errors.As(err, &f) {
		return err
	}
	logr.FromContextOrDiscard(ctx).Error(err, "New updater refused; it will not be tried again", "version", version, "reason", f.reason)
	return u.updateStatus(func(st *status.VersionStatus) {
		st.RecordSelfUpdate(status.SelfUpdateRecord{From: u.o.Version, To: version, Result: status.SelfUpdateFailed,
			Reason: f.reason, Message: f.Error(), Time: u.o.Now().UTC()})
		st.Updater.Version = u.o.Version
	})
}

// Run runs Once after the first reconcile (Reconciled) and then every
// selfUpdate.interval until ctx ends or a pass hands over. Errors are
// logged and tried again at the next interval. It returns at once when
// selfUpdate is not enabled.
func (u *Updater) Run(ctx context.Context, restart func(*Restart)) {
	if !u.su.Enabled {
		return
	}
	log := logr.FromContextOrDiscard(ctx).WithName("self-update")
	ctx = logr.NewContext(ctx, log)
	if err := u.configured(); err != nil {
		log.Error(err, "Self-update is enabled but cannot run")
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-u.checked:
	}
	t := time.NewTimer(u.su.Interval.Duration)
	defer t.Stop()
	for {
		handed := false
		next := u.su.Interval.Duration
		err := u.Once(ctx, func(r *Restart) { handed = true; restart(r) })
		switch {
		case handed || ctx.Err() != nil:
			return
		case errors.Is(err, ErrBusy):
			next = min(next, busyRetry)
			log.V(1).Info("Self-update waits for the update of the app", "reason", err.Error(), "in", next.String())
		case err != nil:
			log.Error(err, "Self-update failed; trying again later", "in", next.String())
		}
		t.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// loadStatus reads status.yaml; a missing one is empty.
func (u *Updater) loadStatus() (*status.VersionStatus, error) {
	st, err := status.Load(u.o.StatusPath)
	if errors.Is(err, fs.ErrNotExist) {
		return status.New(), nil
	}
	return st, err
}

// updateStatus applies f to status.yaml under the status lock.
func (u *Updater) updateStatus(f func(*status.VersionStatus)) error {
	u.lock.Lock()
	defer u.lock.Unlock()
	return u.updateStatusLocked(f)
}

// updateStatusLocked is updateStatus for a caller holding the lock.
func (u *Updater) updateStatusLocked(f func(*status.VersionStatus)) error {
	st, err := u.loadStatus()
	if err != nil {
		return err
	}
	f(st)
	if st.Updater == nil {
		st.Updater = &status.UpdaterStatus{}
	}
	return status.Save(u.o.StatusPath, st)
}

// Install is a self-update without a daemon (`better-paas-updater
// self-update`, run while no daemon holds the state folder's lock): check,
// stage and try the newest release as Once does, then install it over
// the binary at once (the old one kept as <exe>.bak), as the trial is all
// the proof there can be without a daemon. It returns the version
// installed, "" when there was nothing newer. A refusal of the release is
// recorded (Failed) and returned as an error.
func (u *Updater) Install(ctx context.Context) (string, error) {
	if err := u.configured(); err != nil {
		return "", err
	}
	if m, ok, err := readMarker(u.marker); err != nil || ok {
		if err == nil {
			err = fmt.Errorf("a self-update from %s to %s is in flight (%s): start the daemon to settle it", m.From, m.To, u.marker)
		}
		return "", err
	}
	if st, err := u.loadStatus(); err != nil {
		return "", err
	} else if st.Operation != nil {
		return "", fmt.Errorf("an update of the app is in flight (operation %s): run the daemon to finish it first", st.Operation.ID)
	}
	rel, ok, err := u.Check(ctx, true)
	if err != nil || !ok {
		return "", err
	}
	staged, err := u.stage(ctx, rel)
	if err != nil {
		if rerr := u.refused(ctx, rel.Version, err); rerr != nil {
			return "", rerr
		}
		return "", err
	}
	u.lock.Lock()
	defer u.lock.Unlock()
	m := Marker{From: u.o.Version, To: rel.Version, Exe: u.o.Executable, New: staged}
	if err := u.commit(m); err != nil {
		_ = os.Remove(staged)
		return "", err
	}
	err = u.updateStatusLocked(func(st *status.VersionStatus) {
		st.RecordSelfUpdate(status.SelfUpdateRecord{From: m.From, To: m.To, Result: status.SelfUpdateSucceeded,
			Message: fmt.Sprintf("installed by `self-update` after its trial; %s kept as %s.bak", m.From, m.Exe), Time: u.o.Now().UTC()})
	})
	return rel.Version, err
}
