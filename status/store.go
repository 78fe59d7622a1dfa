package status

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/apiversion"
	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/bytesize"
	"github.com/better-paas/updater/internal/parsecache"
	"github.com/better-paas/updater/internal/strictyaml"
)

// parsed remembers the status files this process read or wrote last, so
// Load of a file that did not change costs a read and a JSON decode, not
// a strict YAML parse (internal/parsecache; FuzzParseStatus checks that
// the answer is Parse's).
var parsed parsecache.Cache[VersionStatus]

// MaxFileSize bounds what Load reads.
const MaxFileSize = 1 << 20

// ErrCorrupt is returned (wrapped) when status.yaml exists but cannot be
// used; the reconciler then rebuilds status from the host.
var ErrCorrupt = errors.New("corrupt status file")

// ErrNewer is returned (wrapped) when status.yaml was written by a newer
// updater: an apiVersion of this API group that this one does not read,
// or fields it does not know. It is not ErrCorrupt: the file holds failure
// records and known tags that a downgraded updater must not throw away, so
// the daemon refuses to run instead of rebuilding status from the host.
var ErrNewer = errors.New("status file written by a newer updater")

// ErrTooLarge is returned (wrapped) by Save when the encoded status is
// larger than MaxFileSize: Load would refuse the file as corrupt, so Save
// leaves the old one in place. The fix is to keep messages short.
var ErrTooLarge = errors.New("status too large")

// Load reads status.yaml strictly. A missing file yields an error that
// satisfies errors.Is(err, fs.ErrNotExist); a file of a newer updater one
// that satisfies errors.Is(err, ErrNewer); unreadable content one that
// satisfies errors.Is(err, ErrCorrupt).
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
	return parsed.Parse(path, data, Parse)
}

// Parse decodes a status.yaml document; name is used in messages.
func Parse(name string, data []byte) (*VersionStatus, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("cannot load %s: %w: larger than %s", name, ErrCorrupt, bytesize.Format(MaxFileSize))
	}
	var s VersionStatus
	err := strictyaml.Unmarshal(data, &s, maxExpansion)
	if errors.Is(err, strictyaml.ErrUnknownField) {
		// Safe to decode leniently: the strict pass bounded the aliases.
		_ = yaml.Unmarshal(data, &s)
	}
	if (err == nil || errors.Is(err, strictyaml.ErrUnknownField)) && s.Kind == Kind && strings.HasPrefix(s.APIVersion, apiGroup) {
		fix := "run the newer updater again, or move the file aside to let this one rebuild status from the host (its failure records and known tags are then lost)"
		switch {
		case s.APIVersion != APIVersion:
			return nil, fmt.Errorf("cannot load %s: %w: apiVersion %s, this updater reads %s; %s", name, ErrNewer, s.APIVersion, APIVersion, fix)
		case err != nil:
			return nil, fmt.Errorf("cannot load %s: %w: %w; %s", name, ErrNewer, err, fix)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cannot load %s: %w: %w", name, ErrCorrupt, err)
	}
	if s.APIVersion != APIVersion || s.Kind != Kind {
		return nil, fmt.Errorf("cannot load %s: %w: apiVersion %q kind %q, want %q %q",
			name, ErrCorrupt, s.APIVersion, s.Kind, APIVersion, Kind)
	}
	return &s, nil
}

// apiGroup is the group of APIVersion; another version of it is a file
// from another updater release, not garbage.
const apiGroup = apiversion.Group + "/"

// maxExpansion bounds what a document may grow to once its YAML aliases
// are resolved. The daemon never writes aliases, and without them a
// document expands to about its own size.
const maxExpansion = 4 * MaxFileSize

// Save writes s to path atomically, creating the folder if needed. A
// status that encodes to more than MaxFileSize is refused with ErrTooLarge
// and path is left as it was. When path already holds exactly these bytes
// nothing is written: a reconcile that changed nothing costs no write.
func Save(path string, s *VersionStatus) error {
	s.APIVersion, s.Kind = APIVersion, Kind
	j, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("cannot encode status: %w", err)
	}
	old, readErr := os.ReadFile(path)
	if readErr == nil && parsed.Holds(path, old, j) {
		return nil // already so, and known without spelling it out as YAML
	}
	b, err := toYAML(j)
	if err != nil {
		return fmt.Errorf("cannot encode status: %w", err)
	}
	if len(b) > MaxFileSize {
		return fmt.Errorf("cannot save %s: %w: %d bytes encoded (%s), Load accepts %d", path, ErrTooLarge, len(b), bytesize.Format(uint64(len(b))), MaxFileSize)
	}
	if readErr == nil && bytes.Equal(old, b) {
		parsed.RememberJSON(path, b, j)
		return nil // already so: a reconcile that changed nothing writes nothing
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("cannot create folder for %s: %w", path, err)
	}
	if err := atomicfile.WriteFile(path, b, 0o644); err != nil {
		return err
	}
	parsed.RememberJSON(path, b, j)
	return nil
}
