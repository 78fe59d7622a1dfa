package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/mod/semver"
	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/apiversion"
	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/bytesize"
	"github.com/better-paas/updater/internal/parsecache"
	"github.com/better-paas/updater/internal/strictyaml"
)

// APIVersion is the apiVersion of every file the updater reads or writes.
const APIVersion = apiversion.V1

// Kind is the kind of a desired.yaml document.
const Kind = "DesiredVersion"

// Latest is the spec.version that follows the highest released version.
const Latest = "latest"

// MaxFileSize bounds what Load reads, so a runaway file cannot exhaust memory.
const MaxFileSize = 64 << 10

// Sentinel errors returned (wrapped) by Load, Parse and Validate.
var (
	ErrInvalidYAML    = strictyaml.ErrSyntax
	ErrWrongType      = errors.New("wrong apiVersion or kind")
	ErrMissingVersion = errors.New("spec.version is required")
	ErrInvalidVersion = errors.New("spec.version is not a release tag")
	ErrTooLarge       = errors.New("file too large")
	ErrInvalidCommit  = errors.New("spec.commit is not a full commit hash")
	ErrInvalidChannel = errors.New("spec.channel is not a known channel")
)

// DesiredVersion is the content of desired.yaml.
type DesiredVersion struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata,omitempty"`
	Spec       Spec     `json:"spec"`
}

// Metadata identifies the document; the updater carries it but does not act on it.
type Metadata struct {
	Name        string            `json:"name,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Spec is what the host should run.
type Spec struct {
	// Version is a release tag shaped vMAJOR.MINOR.PATCH (optionally with a
	// -prerelease suffix), or "latest" for the highest released version.
	Version string `json:"version"`
	// Commit, when set, is the full commit hash the tag must point to. The
	// updater refuses a tag that moved from the commit it first saw; setting
	// Commit to the new commit is how a person accepts the move.
	Commit string `json:"commit,omitempty"`
	// Channel is "stable" (default): latest means the highest full release;
	// or "prerelease": latest may also be a release candidate.
	Channel string `json:"channel,omitempty"`
	// AllowDowngrade lets a pinned version lower than the running one be
	// installed. Without it such a spec is refused. A rollback after a
	// failed update is not a downgrade and needs no permission.
	AllowDowngrade bool `json:"allowDowngrade,omitempty"`

	// Policy: when an update to another version may start. None of it
	// stops an update already running, the start or repair of the running
	// version, or the rollback of a failed update; a rollback asked for
	// (RollbackAnnotation) is not held either.

	// Hold, when set, holds every update until Hold.Until.
	Hold *Hold `json:"hold,omitempty"`
	// Windows, when set, lets an update start only while one of them is
	// open (see Window).
	Windows []Window `json:"windows,omitempty"`
	// MinReleaseAge is how long a release must have been public before
	// latest takes it, counted from the date the release source gives
	// (GitHub's published_at, an annotated tag's date). A release whose
	// date is unknown (a lightweight tag, an annotated tag not readable
	// before it is fetched) is not held back: its age cannot be told.
	// A pinned version is installed whatever its age.
	MinReleaseAge Duration `json:"minReleaseAge,omitzero"`
}

// Channels of releases.
const (
	ChannelStable     = "stable"
	ChannelPrerelease = "prerelease"
)

// Prerelease reports whether latest may resolve to a prerelease.
func (s Spec) Prerelease() bool { return s.Channel == ChannelPrerelease }

// RetryAnnotation, set to any new value (`better-paas-updater retry` writes
// the time), asks for another attempt at a version that failed: it is part
// of the digest, so the spec counts as changed.
const RetryAnnotation = apiversion.Group + "/retry-at"

// RetryVersionAnnotation names the failed version a retry is for
// (`better-paas-updater retry VERSION`). Without it, a retry under latest
// tries the newest failed release once more; a pinned spec retries its own
// version. It counts only together with a new RetryAnnotation value.
const RetryVersionAnnotation = apiversion.Group + "/retry-version"

// RollbackAnnotation records when a rollback to the last known good
// version was asked for (the API's POST /api/v1/rollback writes the time,
// RFC 3339, beside a pinned spec with allowDowngrade). It is a record for
// people and the history, not part of the digest: the pinned spec itself
// is what changed.
const RollbackAnnotation = apiversion.Group + "/rollback-requested-at"

// RetryRequest returns the retry the annotations ask for: the retry-at
// stamp ("" when none) and the version named, if any.
func (d *DesiredVersion) RetryRequest() (stamp, version string) {
	return d.Metadata.Annotations[RetryAnnotation], d.Metadata.Annotations[RetryVersionAnnotation]
}

// New returns a desired.yaml document asking for version.
func New(version string) *DesiredVersion {
	d := &DesiredVersion{APIVersion: APIVersion, Kind: Kind, Spec: Spec{Version: version}}
	d.Default()
	return d
}

// Default fills in what a person may leave out. It is idempotent.
func (d *DesiredVersion) Default() {
	if d.APIVersion == "" {
		d.APIVersion = APIVersion
	}
	if d.Kind == "" {
		d.Kind = Kind
	}
	d.Spec.Version = strings.TrimSpace(d.Spec.Version)
	d.Spec.Commit = strings.ToLower(strings.TrimSpace(d.Spec.Commit))
	if d.Spec.Channel == "" {
		d.Spec.Channel = ChannelStable
	}
	if h := d.Spec.Hold; h != nil {
		h.Until = h.Until.UTC()
		h.Reason = strings.TrimSpace(h.Reason)
	}
	for i := range d.Spec.Windows {
		d.Spec.Windows[i].Schedule = strings.TrimSpace(d.Spec.Windows[i].Schedule)
	}
	if len(d.Spec.Windows) == 0 {
		d.Spec.Windows = nil // "windows: []" is no windows, as the file written back says
	}
}

// Validate reports the first problem with d as an error that names the
// field and says how to fix it.
func (d *DesiredVersion) Validate() error {
	if d.APIVersion != APIVersion || d.Kind != Kind {
		return fmt.Errorf("%w: got apiVersion %q kind %q, want apiVersion %q kind %q",
			ErrWrongType, d.APIVersion, d.Kind, APIVersion, Kind)
	}
	if err := ValidateVersion(d.Spec.Version); err != nil {
		return err
	}
	if c := d.Spec.Channel; c != ChannelStable && c != ChannelPrerelease {
		return fmt.Errorf("%w: %q; use %q or %q", ErrInvalidChannel, c, ChannelStable, ChannelPrerelease)
	}
	if v := d.Metadata.Annotations[RetryVersionAnnotation]; v != "" {
		if err := ValidateVersion(v); err != nil || v == Latest {
			return fmt.Errorf("%w: metadata.annotations[%s] %q must be a release tag such as v1.4.2", ErrInvalidVersion, RetryVersionAnnotation, v)
		}
		if !d.Spec.IsLatest() && v != d.Spec.Version {
			return fmt.Errorf("%w: metadata.annotations[%s] names %s, but spec.version pins %s; retry that, or set spec.version", ErrInvalidVersion, RetryVersionAnnotation, v, d.Spec.Version)
		}
	}
	if c := d.Spec.Commit; c != "" {
		if d.Spec.IsLatest() {
			return fmt.Errorf("%w: spec.commit pins one tag's commit and cannot go with %q; remove it or pin a version", ErrInvalidCommit, Latest)
		}
		if !fullHash.MatchString(c) {
			return fmt.Errorf("%w: %q; write the 40 hex digits `git rev-parse %s^{commit}` prints", ErrInvalidCommit, c, d.Spec.Version)
		}
	}
	return d.Spec.validatePolicy()
}

var fullHash = regexp.MustCompile(`^[0-9a-f]{40}$`)

// ValidateVersion checks a spec.version value: "latest" or a canonical
// semver tag such as v1.4.2. Shorthands that semver would accept (v1.4,
// 1.4.2) are refused because they are not tag names.
func ValidateVersion(v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: set spec.version to a release tag such as v1.4.2, or to %q", ErrMissingVersion, Latest)
	case v == Latest:
		return nil
	case semver.IsValid("v"+v) && semver.Canonical("v"+v) == "v"+v:
		return fmt.Errorf("%w: %q has no leading v; did you mean %q?", ErrInvalidVersion, v, "v"+v)
	case !semver.IsValid(v):
		return fmt.Errorf("%w: %q is not semver; use a tag shaped vMAJOR.MINOR.PATCH such as v1.4.2, or %q", ErrInvalidVersion, v, Latest)
	case semver.Build(v) != "":
		return fmt.Errorf("%w: %q carries build metadata; release tags have none", ErrInvalidVersion, v)
	case semver.Canonical(v) != v:
		return fmt.Errorf("%w: %q is a shorthand; write the full tag %q", ErrInvalidVersion, v, semver.Canonical(v))
	}
	return nil
}

// IsLatest reports whether s asks for the highest released version.
func (s Spec) IsLatest() bool { return s.Version == Latest }

// Digest identifies the content of a spec: two documents that ask for the
// same thing have the same digest, whatever their comments or layout. The
// reconciler uses it to notice that desired.yaml changed. It covers Spec
// and the retry annotations, nothing else of the metadata.
func (d *DesiredVersion) Digest() string {
	b, err := json.Marshal(struct {
		Spec         Spec   `json:"spec"`
		Retry        string `json:"retry,omitempty"`
		RetryVersion string `json:"retryVersion,omitempty"`
	}{d.Spec, d.Metadata.Annotations[RetryAnnotation], d.Metadata.Annotations[RetryVersionAnnotation]})
	if err != nil {
		panic(fmt.Sprintf("spec: cannot marshal spec: %v", err)) // plain struct of strings: cannot happen
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Parse decodes, defaults and validates a desired.yaml document. name is
// used in error messages only.
func Parse(name string, data []byte) (*DesiredVersion, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("cannot load %s: %w: more than %s", name, ErrTooLarge, bytesize.Format(MaxFileSize))
	}
	var d DesiredVersion
	if err := strictyaml.Unmarshal(data, &d, maxExpansion); err != nil {
		if errors.Is(err, strictyaml.ErrAliasBomb) {
			return nil, fmt.Errorf("cannot load %s: %w: %w", name, ErrTooLarge, err)
		}
		if errors.Is(err, ErrInvalidYAML) {
			return nil, fmt.Errorf("cannot load %s: %w", name, err) // says "invalid YAML" itself
		}
		return nil, fmt.Errorf("cannot load %s: %w: %w", name, ErrInvalidYAML, err)
	}
	d.Default()
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("cannot load %s: %w", name, err)
	}
	return &d, nil
}

// maxExpansion bounds what a document may grow to once its YAML aliases
// are resolved; four times MaxFileSize refuses nothing a person writes.
const maxExpansion = 4 * MaxFileSize

// Load reads path with Parse. A missing file is returned as an error that
// satisfies errors.Is(err, fs.ErrNotExist).
func Load(path string) (*DesiredVersion, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot load %s: %w", path, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > MaxFileSize {
		return nil, fmt.Errorf("cannot load %s: %w: %s, limit %s", path, ErrTooLarge, bytesize.Format(uint64(fi.Size())), bytesize.Format(MaxFileSize))
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot load %s: %w", path, err)
	}
	return parsed.Parse(path, data, Parse)
}

// parsed remembers the desired.yaml files this process read last, so Load
// of a file that did not change costs a read and a JSON decode, not a
// strict YAML parse (internal/parsecache; FuzzParseDesired checks that the
// answer is Parse's).
var parsed parsecache.Cache[DesiredVersion]

// Write validates d and writes it to path atomically; an invalid document,
// or one that encodes to more than MaxFileSize (ErrTooLarge), is refused
// and path is left as it was. When path is a symlink (into a config repo,
// a ConfigMap-style ..data link), the file it leads to is replaced and the
// link kept, so the next change there still reaches this host.
func Write(path string, d *DesiredVersion) error { return WriteIf(path, d, nil) }

// WriteIf is Write with a precondition: check (when not nil) runs right
// before the new file is renamed into place, and its error is returned as
// it is, path left as it was (see atomicfile.WriteFileIf).
func WriteIf(path string, d *DesiredVersion, check func() error) error {
	d.Default()
	if err := d.Validate(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	b, err := yaml.Marshal(d)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	// Marshal can spell a document out longer than it was read (block
	// style, quoted scalars); a file Load refuses must not replace a good one.
	if len(b) > MaxFileSize {
		return fmt.Errorf("cannot write %s: %w: %s encoded, limit %s; shorten metadata.annotations", path, ErrTooLarge, bytesize.Format(uint64(len(b))), bytesize.Format(MaxFileSize))
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return fmt.Errorf("cannot write %s: it is a symlink that leads nowhere: %w", path, err)
		}
		return atomicfile.WriteFileIf(target, b, 0o644, check)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return atomicfile.WriteFileIf(path, b, 0o644, check)
}
