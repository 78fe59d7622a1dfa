package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/apiversion"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/internal/fleet/signing"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// SourceAnnotation is written into the desired.yaml a fleet file
// replaced: "<repo>#<branch>:<path>", so a person reading the file on the
// host sees where it comes from and that a local edit will not last.
const SourceAnnotation = apiversion.Group + "/fleet-source"

// Reasons a sync gives in status.yaml's fleet block.
const (
	ReasonUnreachable   = "Unreachable"
	ReasonBranchMissing = "BranchMissing"
	ReasonUnsigned      = "Unsigned"
	ReasonUntrusted     = "UntrustedSignature"
	ReasonPathMissing   = "PathMissing"
	ReasonInvalidFile   = "InvalidFile"
	ReasonCloneFailed   = "CloneFailed"
	ReasonWriteFailed   = "WriteFailed"
	ReasonCanary        = "Canary"
	ReasonInWave        = "InWave"
	ReasonPaused        = "RolloutPaused"
	ReasonStatusUnread  = "StatusUnreadable"
)

// Errors Sync returns (wrapped), one per way a fleet commit is refused.
// Each leaves desired.yaml as it was.
var (
	ErrUnreachable   = errors.New("fleet repo unreachable")
	ErrBranchMissing = errors.New("fleet branch missing")
	ErrUnsigned      = signing.ErrUnsigned
	ErrUntrusted     = signing.ErrUntrusted
	ErrPathMissing   = errors.New("no fleet file for this host")
	// ErrInvalidFile is defined with Parse.
)

// Options configure a Syncer.
type Options struct {
	// Source is desiredFrom.git, defaulted and validated (config.Load).
	Source config.GitSource
	// DesiredFile is the desired.yaml the sync writes.
	DesiredFile string
	// StatusPath is status.yaml, whose fleet block each sync replaces.
	StatusPath string
	// CloneDir is the host's clone of the fleet repo; the daemon uses
	// <stateDir>/fleet/repo (see CloneDir).
	CloneDir string
	// Lock serialises status.yaml's read-modify-write with the daemon's
	// reconciles (the run command's statusMu); nil: a private one.
	Lock sync.Locker
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Synced, when set, hears the outcome of every sync once it is
	// recorded, Run's and the webhook's alike (not of a cancelled one,
	// which records nothing): the daemon wakes its loop with it, so a
	// fleet change that leaves desired.yaml as it is (a pause lifted, a
	// newer latest to look at) is acted on at once.
	Synced func(status.FleetStatus, error)
}

// CloneDir is where the daemon keeps its clone of the fleet repo.
func CloneDir(stateDir string) string { return filepath.Join(stateDir, "fleet", "repo") }

// Syncer writes desired.yaml from a fleet repo: one more writer of the
// file, beside people, Ansible and the dashboard. The reconciler does not
// know it exists.
type Syncer struct {
	o    Options
	keys *signing.Keys
	auth transport.AuthMethod // desiredFrom.git.ssh; nil: go-git's default
	mu   sync.Mutex           // one sync at a time: the loop's and the webhook's
}

// New returns a Syncer for o. It reads the signing keys now: a key file
// that is missing or holds no key is an error, and the daemon should not
// start with it (an unverifiable fleet must not be trusted by default).
func New(o Options) (*Syncer, error) {
	if o.Source.URL == "" || o.DesiredFile == "" || o.StatusPath == "" || o.CloneDir == "" {
		return nil, errors.New("cannot set up the fleet sync: Source.URL, DesiredFile, StatusPath and CloneDir are required")
	}
	keys, err := signing.Load(o.Source.SigningKeys)
	if err != nil {
		return nil, fmt.Errorf("cannot set up the fleet sync from desiredFrom.git: %w", err)
	}
	auth, err := sshAuth(o.Source)
	if err != nil {
		return nil, fmt.Errorf("cannot set up the fleet sync from desiredFrom.git: %w", err)
	}
	if o.Lock == nil {
		o.Lock = &sync.Mutex{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Syncer{o: o, keys: keys, auth: auth}, nil
}

// Paths returns the fleet files this host tries, in order: the path
// templates with {hostname}, {group} and {hostID} replaced, those naming
// {group} left out when the host has none.
func (s *Syncer) Paths() []string {
	g := s.o.Source
	r := strings.NewReplacer("{hostname}", g.Hostname, "{group}", g.Group, "{hostID}", g.HostID)
	var out []string
	for _, t := range g.Paths {
		if g.Group == "" && strings.Contains(t, "{group}") {
			continue
		}
		out = append(out, r.Replace(t))
	}
	return out
}

// Sync fetches the fleet repo once and acts on its branch's commit:
// verify, pick this host's file, apply the rollout, write desired.yaml
// when it asks for something else. It returns what it records in
// status.yaml's fleet block. A refused commit (ErrUnreachable,
// ErrBranchMissing, ErrUnsigned, ErrUntrusted, ErrPathMissing,
// ErrInvalidFile) or a local failure is returned as an error too, after
// it is recorded; desired.yaml is untouched then. A cancelled ctx
// records nothing and returns ctx's error. Safe for concurrent use:
// syncs run one at a time.
func (s *Syncer) Sync(ctx context.Context) (status.FleetStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	parent := ctx
	if t := s.o.Source.Timeout.Duration; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	res, write, err := s.sync(ctx)
	if parent.Err() != nil && write == nil {
		// Stopping (the daemon, or a webhook caller that went away):
		// nothing was written and nothing is recorded; the next sync
		// starts over.
		return res, errors.Join(err, parent.Err())
	}
	res.SyncedAt = s.o.Now().UTC()
	if serr := s.record(&res, write); serr != nil {
		err = errors.Join(err, serr)
	}
	if s.o.Synced != nil {
		s.o.Synced(res, err)
	}
	return res, err
}

// sync does one sync; write is the desired.yaml written, if any.
func (s *Syncer) sync(ctx context.Context) (res status.FleetStatus, write *status.FleetWrite, err error) {
	g := s.o.Source
	res = status.FleetStatus{Repo: redact(g.URL), Branch: g.Branch, Cohort: Cohort(g.HostID)}
	refuse := func(reason string, err error) (status.FleetStatus, *status.FleetWrite, error) {
		res.Result, res.Reason, res.Message = status.FleetRefused, reason, err.Error()
		return res, nil, err
	}
	fail := func(reason string, err error) (status.FleetStatus, *status.FleetWrite, error) {
		res.Result, res.Reason, res.Message = status.FleetFailed, reason, err.Error()
		return res, nil, err
	}
	c := clone{dir: s.o.CloneDir, url: g.URL, branch: g.Branch, auth: s.auth}
	repo, err := c.open()
	if err != nil {
		return fail(ReasonCloneFailed, err)
	}
	commit, err := c.fetch(ctx, repo)
	switch {
	case errors.Is(err, errBranchMissing):
		return refuse(ReasonBranchMissing, fmt.Errorf("%w: %w", ErrBranchMissing, err))
	case err != nil && ctx.Err() != nil:
		return refuse(ReasonUnreachable, fmt.Errorf("%w: %w (after %s, desiredFrom.git.timeout)", ErrUnreachable, err, g.Timeout.Duration))
	case err != nil:
		return refuse(ReasonUnreachable, fmt.Errorf("%w: %w", ErrUnreachable, err))
	}
	res.Commit = commit.Hash.String()
	at := fmt.Sprintf("%s commit %s", res.Repo, res.Commit)
	if s.keys.Len() > 0 {
		if _, err := s.keys.Verify(commit); err != nil {
			reason := ReasonUntrusted
			if errors.Is(err, signing.ErrUnsigned) {
				reason = ReasonUnsigned
			}
			return refuse(reason, fmt.Errorf("refusing %s: %w; sign the fleet commit with a key listed in desiredFrom.git.signingKeys", at, err))
		}
	}
	path, blob, data, err := s.file(commit)
	if err != nil {
		if errors.Is(err, ErrPathMissing) {
			return refuse(ReasonPathMissing, fmt.Errorf("refusing %s: %w", at, err))
		}
		return refuse(ReasonInvalidFile, fmt.Errorf("refusing %s: %w", at, err))
	}
	res.Path = path
	doc, err := Parse(fmt.Sprintf("%s:%s", at, path), data)
	if err != nil {
		return refuse(ReasonInvalidFile, err)
	}
	prev, err := s.loadStatus()
	if err != nil {
		return fail(ReasonStatusUnread, err)
	}
	res.Document = s.document(prev, res.Commit, path, blob, doc)
	in, canary := doc.Rollout.Wave(g.Hostname, g.HostID)
	if !in {
		res.Result, res.Reason = status.FleetOutsideWave, ""
		res.Message = fmt.Sprintf("%s at %s asks for %s from %d%% of the fleet; this host's cohort is %d and it is not a canary, so desired.yaml stays as it is",
			path, res.Commit[:12], doc.Spec.Version, *doc.Rollout.Percent, res.Cohort)
		return res, nil, nil
	}
	res.Reason = ReasonInWave
	if canary {
		res.Reason = ReasonCanary
	}
	if p := status.PauseFor(res.Document, prev.FailedVersions); p != nil {
		res.Result, res.Reason, res.Message = status.FleetPaused, ReasonPaused, p.Message+"; desired.yaml stays as it is"
		return res, nil, nil
	}
	d := doc.Desired()
	if d.Metadata.Annotations == nil {
		d.Metadata.Annotations = map[string]string{}
	}
	d.Metadata.Annotations[SourceAnnotation] = fmt.Sprintf("%s#%s:%s", res.Repo, g.Branch, path)
	st, changed, err := desired.Replace(s.o.DesiredFile, "", d)
	if err != nil {
		return fail(ReasonWriteFailed, fmt.Errorf("cannot write %s from %s:%s: %w", s.o.DesiredFile, at, path, err))
	}
	if !changed {
		res.Result = status.FleetUnchanged
		res.Message = fmt.Sprintf("desired.yaml already asks for what %s at %s does (%s)", path, res.Commit[:12], d.Spec.Version)
		return res, nil, nil
	}
	res.Result = status.FleetApplied
	res.Message = fmt.Sprintf("wrote desired.yaml from %s at %s: %s", path, res.Commit[:12], d.Spec.Version)
	return res, &status.FleetWrite{Commit: res.Commit, Path: path, Version: d.Spec.Version, Generation: st.Generation, At: s.o.Now().UTC()}, nil
}

// document is the record of the fleet file doc, read at path (git blob id
// blob) in commit: first read now, or when prev's record is of the same
// file, when that one says.
func (s *Syncer) document(prev *status.VersionStatus, commit, path, blob string, doc *Document) *status.FleetDocument {
	d := &status.FleetDocument{Commit: commit, Path: path, Blob: blob, Version: doc.Spec.Version,
		PauseOnFailure: doc.Rollout != nil && doc.Rollout.PauseOnFailure, ReadAt: s.o.Now().UTC()}
	if prev.Fleet != nil {
		if p := prev.Fleet.Document; p != nil && p.Path == path && p.Blob == blob {
			d.Commit, d.ReadAt = p.Commit, p.ReadAt
		}
	}
	return d
}

// loadStatus reads status.yaml as it is now; a new one when there is none.
func (s *Syncer) loadStatus() (*status.VersionStatus, error) {
	st, err := status.Load(s.o.StatusPath)
	if errors.Is(err, fs.ErrNotExist) {
		return status.New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the failed versions a rollout's pauseOnFailure looks at: %w", err)
	}
	return st, nil
}

// file returns the first of Paths that is a file in commit, its git blob
// id and its bytes. A path that is there but not a regular file (a folder, a
// symlink, a submodule) is refused rather than skipped: a template
// meant for this host must not fall through to the fleet's file.
func (s *Syncer) file(commit *object.Commit) (path, blob string, data []byte, err error) {
	tree, err := commit.Tree()
	if err != nil {
		return "", "", nil, fmt.Errorf("cannot read the tree of %s: %w", commit.Hash, err)
	}
	paths := s.Paths()
	for _, p := range paths {
		e, err := tree.FindEntry(p)
		if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
			continue
		}
		if err != nil {
			return p, "", nil, fmt.Errorf("cannot look up %s: %w", p, err)
		}
		if e.Mode != filemode.Regular && e.Mode != filemode.Executable {
			return p, "", nil, fmt.Errorf("%w: %s is not a regular file (mode %s); make it one", ErrInvalidFile, p, e.Mode)
		}
		f, err := tree.TreeEntryFile(e)
		if err != nil {
			return p, "", nil, fmt.Errorf("cannot read %s: %w", p, err)
		}
		if f.Size > spec.MaxFileSize {
			return p, "", nil, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrInvalidFile, p, f.Size, spec.MaxFileSize)
		}
		r, err := f.Reader()
		if err != nil {
			return p, "", nil, fmt.Errorf("cannot read %s: %w", p, err)
		}
		data, err := io.ReadAll(io.LimitReader(r, spec.MaxFileSize+1))
		r.Close()
		if err != nil {
			return p, "", nil, fmt.Errorf("cannot read %s: %w", p, err)
		}
		return p, e.Hash.String(), data, nil
	}
	return "", "", nil, fmt.Errorf("%w: none of %s exists; add one (desiredFrom.git.paths in updater.yaml lists them)", ErrPathMissing, strings.Join(paths, ", "))
}

// record writes res as status.yaml's fleet block, with write as its
// Applied, or the last write when this sync made none.
func (s *Syncer) record(res *status.FleetStatus, write *status.FleetWrite) error {
	s.o.Lock.Lock()
	defer s.o.Lock.Unlock()
	st, err := status.Load(s.o.StatusPath)
	if errors.Is(err, fs.ErrNotExist) {
		st, err = status.New(), nil
	}
	if err != nil {
		res.Applied = write
		return fmt.Errorf("cannot record the fleet sync: %w", err)
	}
	res.Applied = write
	if write == nil && st.Fleet != nil {
		res.Applied = st.Fleet.Applied
	}
	if res.Document == nil && st.Fleet != nil {
		res.Document = st.Fleet.Document
	}
	res.Paused = status.PauseFor(res.Document, st.FailedVersions)
	rec := *res
	st.Fleet = &rec
	if err := status.Save(s.o.StatusPath, st); err != nil {
		return fmt.Errorf("cannot record the fleet sync: %w", err)
	}
	return nil
}

// Run syncs at once, then every interval (plus up to a tenth of it at
// random, so a fleet started together does not fetch together) and
// whenever wake delivers, until ctx ends. Each outcome is logged; errors
// are recorded in status.yaml by Sync and never end Run.
func (s *Syncer) Run(ctx context.Context, interval time.Duration, wake <-chan struct{}) {
	log := logr.FromContextOrDiscard(ctx).WithName("fleet")
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-wake:
		}
		res, err := s.Sync(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			log.Error(err, "Cannot sync from the fleet repo", "repo", res.Repo, "commit", res.Commit, "path", res.Path, "reason", res.Reason)
		case res.Result == status.FleetApplied:
			log.Info("Wrote desired.yaml from the fleet repo", "repo", res.Repo, "commit", res.Commit, "path", res.Path, "desiredVersion", res.Applied.Version)
		default:
			log.V(1).Info("Synced from the fleet repo", "repo", res.Repo, "commit", res.Commit, "path", res.Path, "result", res.Result)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(interval + rand.N(interval/10+1))
	}
}
