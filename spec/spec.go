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
	"strings"

	"golang.org/x/mod/semver"
	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/atomicfile"
)

// APIVersion is the apiVersion of every file the updater reads or writes.
const APIVersion = "updates.better-paas.io/v1"

// Kind is the kind of a desired.yaml document.
const Kind = "DesiredVersion"

// Latest is the spec.version that follows the highest released version.
const Latest = "latest"

// MaxFileSize bounds what Load reads, so a runaway file cannot exhaust memory.
const MaxFileSize = 64 << 10

// Sentinel errors returned (wrapped) by Load, Parse and Validate.
var (
	ErrInvalidYAML    = errors.New("invalid YAML")
	ErrWrongType      = errors.New("wrong apiVersion or kind")
	ErrMissingVersion = errors.New("spec.version is required")
	ErrInvalidVersion = errors.New("spec.version is not a release tag")
	ErrTooLarge       = errors.New("file too large")
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
}

// Validate reports the first problem with d as an error that names the
// field and says how to fix it.
func (d *DesiredVersion) Validate() error {
	if d.APIVersion != APIVersion || d.Kind != Kind {
		return fmt.Errorf("%w: got apiVersion %q kind %q, want apiVersion %q kind %q",
			ErrWrongType, d.APIVersion, d.Kind, APIVersion, Kind)
	}
	return ValidateVersion(d.Spec.Version)
}

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
// reconciler uses it to notice that desired.yaml changed.
func (d *DesiredVersion) Digest() string {
	b, err := json.Marshal(d.Spec)
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
		return nil, fmt.Errorf("cannot load %s: %w: %d bytes, limit %d", name, ErrTooLarge, len(data), MaxFileSize)
	}
	var d DesiredVersion
	if err := yaml.UnmarshalStrict(data, &d); err != nil {
		return nil, fmt.Errorf("cannot load %s: %w: %v", name, ErrInvalidYAML, err)
	}
	d.Default()
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("cannot load %s: %w", name, err)
	}
	return &d, nil
}

// Load reads path with Parse. A missing file is returned as an error that
// satisfies errors.Is(err, fs.ErrNotExist).
func Load(path string) (*DesiredVersion, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot load %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot load %s: %w", path, err)
	}
	return Parse(path, data)
}

// Write validates d and writes it to path atomically; an invalid document
// is refused and path is left as it was.
func Write(path string, d *DesiredVersion) error {
	d.Default()
	if err := d.Validate(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	b, err := yaml.Marshal(d)
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, b, 0o644)
}
