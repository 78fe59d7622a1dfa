package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

var (
	// ErrConflict means desired.yaml changed since the generation the
	// caller saw: read it again and decide again.
	ErrConflict = errors.New("desired.yaml changed since it was read")
	// ErrUnusable means desired.yaml is missing or invalid, and the edit
	// (a retry) needs what it says.
	ErrUnusable = errors.New("desired.yaml is unusable")
	// ErrNothingToRollBack means there is no last known good version
	// other than the one running.
	ErrNothingToRollBack = errors.New("nothing to roll back to")
)

// State is desired.yaml as read at one moment.
type State struct {
	// File is the path of desired.yaml.
	File string `json:"file"`
	// Version is spec.version as written; "" when the file is unusable.
	Version string `json:"version,omitempty"`
	// Generation identifies the file's bytes (see Generation); "" only
	// when the file exists but cannot be read at all.
	Generation string `json:"generation"`
	// Error says why the file is unusable (missing, not valid), if it is.
	Error string `json:"error,omitempty"`
}

// Generation is the generation of a desired.yaml holding data:
// "sha256:" and the hex SHA-256 of the bytes. A missing file has the
// generation of an empty one; neither has anything an edit could keep.
func Generation(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Read reads desired.yaml at path. It does not fail: a file that is
// missing or invalid is described in State.Error.
func Read(path string) State {
	st, _, _ := read(path)
	return st
}

// read returns the state of the file at path, its parsed document (nil
// when unusable) and why it is unusable.
func read(path string) (State, *spec.DesiredVersion, error) {
	st := State{File: path}
	data, err := readBytes(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("cannot load %s: %w", path, err)
		st.Error = err.Error()
		return st, nil, err
	}
	st.Generation = Generation(data)
	if err != nil {
		err = fmt.Errorf("cannot load %s: %w", path, err)
		st.Error = err.Error()
		return st, nil, err
	}
	d, err := spec.Parse(path, data)
	if err != nil {
		st.Error = err.Error()
		return st, nil, err
	}
	st.Version = d.Spec.Version
	return st, d, nil
}

// readBytes reads the file, at most one byte more than spec.MaxFileSize
// (so an oversized file still gets its own generation and spec.Parse
// says why it is refused).
func readBytes(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, spec.MaxFileSize+1))
}

// mu serialises the edits of this process: a read-modify-write must not
// interleave with another.
var mu sync.Mutex

// edit is one change to the document: given the document read (nil when
// unusable, with the reason in loadErr) it returns the document to write,
// or an error to leave the file alone.
type edit func(d *spec.DesiredVersion, loadErr error) (*spec.DesiredVersion, error)

// apply carries out change on the file at path when its generation is
// ifGeneration ("" accepts any), and returns the state written. It checks
// the generation when it reads the file and again right before the
// rename; either mismatch is ErrConflict and changes nothing.
func apply(path, ifGeneration string, change edit) (State, error) {
	mu.Lock()
	defer mu.Unlock()
	unlock, err := lockFolder(path)
	if err != nil {
		return Read(path), err
	}
	defer unlock()
	before, d, loadErr := read(path)
	if before.Generation == "" {
		return before, loadErr
	}
	if err := sameGeneration(path, ifGeneration, before.Generation); err != nil {
		return before, err
	}
	next, err := change(d, loadErr)
	if err != nil {
		return before, err
	}
	err = spec.WriteIf(path, next, func() error {
		data, err := readBytes(path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot read %s again before replacing it: %w", path, err)
		}
		return sameGeneration(path, before.Generation, Generation(data))
	})
	if err != nil {
		return before, err
	}
	return Read(path), nil
}

// sameGeneration returns ErrConflict when want is set and differs from got.
func sameGeneration(path, want, got string) error {
	if want == "" || want == got {
		return nil
	}
	return fmt.Errorf("cannot change %s: %w (generation %s, now %s); read it again", path, ErrConflict, want, got)
}

// SetOptions is the spec `set` writes.
type SetOptions struct {
	// Version is a release tag such as v1.4.2, or "latest". Required.
	Version string
	// Commit pins the commit the tag must point to; "" for none.
	Commit string
	// Channel is "stable" or "prerelease"; "" keeps the file's.
	Channel string
	// AllowDowngrade permits a version below the running one.
	AllowDowngrade bool
}

// keepPolicy returns next with the policy of old (spec.hold, spec.windows,
// spec.minReleaseAge): standing rules of the host, like the channel, that
// a new version must not drop. (A rollback asked for is not held by them.)
func keepPolicy(old, next spec.Spec) spec.Spec {
	next.Hold, next.Windows, next.MinReleaseAge = old.Hold, old.Windows, old.MinReleaseAge
	return next
}

// Set writes the spec of desired.yaml anew, as `better-paas-updater set`
// does: the version, and the commit and the downgrade permission only as
// given now (a pin or a permission meant for one version must not carry
// over to the next); the channel, the policy (keepPolicy) and the
// metadata are kept, except the retry version and the rollback record,
// which were for the spec being replaced. A missing or unusable file is replaced whole. An invalid
// option is refused with spec's error (spec.ErrInvalidVersion, ...) and
// nothing written; a stale ifGeneration with ErrConflict.
func Set(path, ifGeneration string, o SetOptions) (State, error) {
	return apply(path, ifGeneration, func(d *spec.DesiredVersion, _ error) (*spec.DesiredVersion, error) {
		if d == nil {
			d = spec.New(o.Version)
		}
		channel := o.Channel
		if channel == "" {
			channel = d.Spec.Channel
		}
		d.Spec = keepPolicy(d.Spec, spec.Spec{Version: o.Version, Commit: o.Commit, Channel: channel, AllowDowngrade: o.AllowDowngrade})
		delete(d.Metadata.Annotations, spec.RetryVersionAnnotation)
		delete(d.Metadata.Annotations, spec.RollbackAnnotation)
		return d, nil
	})
}

// Retry asks for one more try of a version that failed, as
// `better-paas-updater retry` does: it stamps spec.RetryAnnotation with
// now, which the daemon sees as a new spec, and names version (when not
// "") in spec.RetryVersionAnnotation. It returns the state written and
// what will be retried, in words. An unusable desired.yaml is
// ErrUnusable; a version that is not a tag, or not the one a pinned spec
// asks for, is spec.ErrInvalidVersion; nothing is written then.
func Retry(path, ifGeneration, version string, now time.Time) (State, string, error) {
	what := ""
	st, err := apply(path, ifGeneration, func(d *spec.DesiredVersion, loadErr error) (*spec.DesiredVersion, error) {
		if d == nil {
			return nil, fmt.Errorf("cannot retry: %w: %w", ErrUnusable, loadErr)
		}
		if d.Metadata.Annotations == nil {
			d.Metadata.Annotations = map[string]string{}
		}
		d.Metadata.Annotations[spec.RetryAnnotation] = now.UTC().Format(time.RFC3339Nano)
		delete(d.Metadata.Annotations, spec.RetryVersionAnnotation)
		what = d.Spec.Version
		if version != "" {
			d.Metadata.Annotations[spec.RetryVersionAnnotation] = version
			what = version
		} else if d.Spec.IsLatest() {
			what = "the newest release that failed (latest)"
		}
		// spec.Write validates: a version that is not a tag, or not the
		// one a pinned spec asks for, is refused there.
		return d, nil
	})
	if err != nil && !errors.Is(err, ErrUnusable) && !errors.Is(err, ErrConflict) {
		err = fmt.Errorf("cannot retry: %w", err)
	}
	return st, what, err
}

// RollbackTarget is the version a rollback goes back to: the last known
// good version status.yaml records when the running version is not it (a
// version that runs but never passed its health check here), otherwise the
// good version before it (PreviousGood). When there is neither,
// ErrNothingToRollBack, saying why.
func RollbackTarget(st *status.VersionStatus) (string, error) {
	if lkg := st.LastKnownGood; lkg != nil && lkg.Version != "" && lkg.Version != st.CurrentVersion {
		return lkg.Version, nil
	}
	if prev := st.PreviousGood; prev != nil && prev.Version != "" && prev.Version != st.CurrentVersion {
		return prev.Version, nil
	}
	if st.LastKnownGood == nil || st.LastKnownGood.Version == "" {
		return "", fmt.Errorf("%w: no version has passed its health check on this host yet", ErrNothingToRollBack)
	}
	return "", fmt.Errorf("%w: %s is the only version that has passed its health check on this host", ErrNothingToRollBack, st.LastKnownGood.Version)
}

// Rollback pins desired.yaml to the last known good version that the
// status.yaml at statusPath records (see RollbackTarget), with
// allowDowngrade, and records the request in spec.RollbackAnnotation
// (now, RFC 3339). The channel and the other metadata are kept; a retry
// version is dropped. It returns the state written and the version.
// Errors: ErrNothingToRollBack, ErrConflict, or why status.yaml cannot be
// read; nothing is written then.
func Rollback(path, statusPath, ifGeneration string, now time.Time) (State, string, error) {
	st, err := status.Load(statusPath)
	if errors.Is(err, fs.ErrNotExist) {
		st = status.New()
	} else if err != nil {
		return Read(path), "", fmt.Errorf("cannot roll back: %w", err)
	}
	version, err := RollbackTarget(st)
	if err != nil {
		return Read(path), "", fmt.Errorf("cannot roll back: %w", err)
	}
	written, err := apply(path, ifGeneration, func(d *spec.DesiredVersion, _ error) (*spec.DesiredVersion, error) {
		if d == nil {
			d = spec.New(version)
		}
		d.Spec = keepPolicy(d.Spec, spec.Spec{Version: version, Channel: d.Spec.Channel, AllowDowngrade: true})
		if d.Metadata.Annotations == nil {
			d.Metadata.Annotations = map[string]string{}
		}
		d.Metadata.Annotations[spec.RollbackAnnotation] = now.UTC().Format(time.RFC3339)
		delete(d.Metadata.Annotations, spec.RetryVersionAnnotation)
		return d, nil
	})
	return written, version, err
}
