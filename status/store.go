package status

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/strictyaml"
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
	var s VersionStatus
	if err := strictyaml.Unmarshal(data, &s, maxExpansion); err != nil {
		return nil, fmt.Errorf("cannot load %s: %w: %w", name, ErrCorrupt, err)
	}
	if s.APIVersion != APIVersion || s.Kind != Kind {
		return nil, fmt.Errorf("cannot load %s: %w: apiVersion %q kind %q, want %q %q",
			name, ErrCorrupt, s.APIVersion, s.Kind, APIVersion, Kind)
	}
	return &s, nil
}

// maxExpansion bounds what a document may grow to once its YAML aliases
// are resolved. The daemon never writes aliases, and without them a
// document expands to about its own size.
const maxExpansion = 4 * MaxFileSize

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
