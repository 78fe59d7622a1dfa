package status

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	yamlv2 "go.yaml.in/yaml/v2"
	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/atomicfile"
)

// MaxFileSize bounds what Load reads.
const MaxFileSize = 1 << 20

// ErrCorrupt is returned (wrapped) when status.yaml exists but cannot be
// used; the reconciler then rebuilds status from the host.
var ErrCorrupt = errors.New("corrupt status file")

// ErrTooLarge is returned (wrapped) by Save when the encoded status is
// larger than MaxFileSize: Load would refuse the file as corrupt, so Save
// leaves the old one in place. The fix is to keep messages short.
var ErrTooLarge = errors.New("status too large")

// Load reads status.yaml strictly. A missing file yields an error that
// satisfies errors.Is(err, fs.ErrNotExist); unreadable content yields one
// that satisfies errors.Is(err, ErrCorrupt).
func Load(path string) (*VersionStatus, error) {
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

// Parse decodes a status.yaml document; name is used in messages.
func Parse(name string, data []byte) (*VersionStatus, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("cannot load %s: %w: larger than %d bytes", name, ErrCorrupt, MaxFileSize)
	}
	if err := checkDocument(data); err != nil {
		return nil, fmt.Errorf("cannot load %s: %w: %v", name, ErrCorrupt, err)
	}
	var s VersionStatus
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return nil, fmt.Errorf("cannot load %s: %w: %v", name, ErrCorrupt, err)
	}
	if s.APIVersion != APIVersion || s.Kind != Kind {
		return nil, fmt.Errorf("cannot load %s: %w: apiVersion %q kind %q, want %q %q",
			name, ErrCorrupt, s.APIVersion, s.Kind, APIVersion, Kind)
	}
	return &s, nil
}

// maxExpansion bounds what a document may grow to once its aliases are
// resolved. The daemon never writes aliases, and without them a document
// expands to about its own size.
const maxExpansion = 4 * MaxFileSize

// checkDocument refuses two things yaml.UnmarshalStrict lets through.
//
// Alias bombs: go.yaml.in/yaml/v2 copies an alias's value at every use and
// sigs.k8s.io/yaml renders each copy as JSON before any field is checked,
// so a 21 KB file nesting four levels of ten aliases over a 20 KB string
// took 6-9 s and 1.4 GB to refuse, and the 1 MiB limit leaves room for
// bombs that exhaust memory. Decoding into interface{} shares the strings,
// and yaml.v2 itself stops at about 400,000 alias-driven decodes, so
// measuring the expansion here is cheap (TestParseBoundsAliasExpansion
// reports the numbers).
//
// A second document: yaml.Unmarshal reads the first and ignores the rest,
// even when the rest is not YAML.
func checkDocument(data []byte) error {
	dec := yamlv2.NewDecoder(bytes.NewReader(data))
	dec.SetStrict(true)
	var doc any
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil // empty: the apiVersion check refuses it
	case err != nil:
		return err
	}
	budget := maxExpansion
	if !fitsExpansion(doc, &budget) {
		return fmt.Errorf("YAML aliases expand it past %d bytes", maxExpansion)
	}
	switch err := dec.Decode(new(any)); {
	case errors.Is(err, io.EOF):
		return nil
	case err != nil:
		return err
	}
	return errors.New("more than one YAML document")
}

// fitsExpansion subtracts v's expanded size (a byte per node plus string
// lengths) from budget and reports whether it stayed non-negative; it stops
// walking as soon as it did not.
func fitsExpansion(v any, budget *int) bool {
	*budget--
	switch v := v.(type) {
	case string:
		*budget -= len(v)
	case []any:
		for _, e := range v {
			if !fitsExpansion(e, budget) {
				return false
			}
		}
	case map[any]any:
		for k, e := range v {
			if !fitsExpansion(k, budget) || !fitsExpansion(e, budget) {
				return false
			}
		}
	}
	return *budget >= 0
}

// Save writes s to path atomically, creating the folder if needed. A
// status that encodes to more than MaxFileSize is refused with ErrTooLarge
// and path is left as it was.
func Save(path string, s *VersionStatus) error {
	s.APIVersion, s.Kind = APIVersion, Kind
	b, err := yaml.Marshal(s)
	if err != nil {
		return fmt.Errorf("cannot encode status: %w", err)
	}
	if len(b) > MaxFileSize {
		return fmt.Errorf("cannot save %s: %w: %d bytes encoded, Load accepts %d", path, ErrTooLarge, len(b), MaxFileSize)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cannot create folder for %s: %w", path, err)
	}
	return atomicfile.WriteFile(path, b, 0o644)
}
