package backup

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

const (
	// ManifestKind is the kind written into every manifest.
	ManifestKind = "BackupManifest"
	// ManifestVersion is the manifest format this package writes and reads.
	ManifestVersion = 1
)

// Entry types recorded in a manifest.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
)

// Manifest is the content of <root>/<id>/MANIFEST.json. It lists what the
// backup holds so a later step can verify or restore it without trusting
// the folder alone.
type Manifest struct {
	Kind    string `json:"kind"`
	Version int    `json:"version"`
	// ID is the backup ID; it matches the folder name.
	ID string `json:"id"`
	// Source is the folder that was copied, as given to Create.
	Source string `json:"source"`
	// SourceMissing is true when the source folder did not exist, so a
	// restore should not create it.
	SourceMissing bool      `json:"sourceMissing,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	// Entries lists the data/ folder itself (path ".") and everything
	// copied under it, parents before children.
	Entries []Entry `json:"entries"`
	// Skipped lists what was not copied, and why.
	Skipped []Skipped `json:"skipped,omitempty"`
	Totals  Totals    `json:"totals"`
}

// Entry is one copied file, folder or symlink.
type Entry struct {
	// Path is slash-separated and relative to the data/ folder.
	Path string `json:"path"`
	// Type is TypeFile, TypeDir or TypeSymlink.
	Type string `json:"type"`
	// Size is the number of bytes copied (files only).
	Size int64 `json:"size,omitempty"`
	// Mode is the permission bits in octal, including setuid, setgid and
	// sticky as the leading digit ("0644", "4755").
	Mode    string    `json:"mode"`
	ModTime time.Time `json:"mtime"`
	UID     int       `json:"uid"`
	GID     int       `json:"gid"`
	// SHA256 is the hex digest of the content copied (files only).
	SHA256 string `json:"sha256,omitempty"`
	// Target is the link target, never resolved (symlinks only).
	Target string `json:"target,omitempty"`
}

// Skipped is a source entry that is not in the backup.
type Skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Totals summarises the entries of a manifest.
type Totals struct {
	Files    int   `json:"files"`
	Dirs     int   `json:"dirs"`
	Symlinks int   `json:"symlinks"`
	Skipped  int   `json:"skipped"`
	Bytes    int64 `json:"bytes"`
}

// ReadManifest reads and checks the manifest of the backup folder dir
// (<root>/<id>). An error means the folder is not a complete backup
// written by this package.
func ReadManifest(dir string) (Manifest, error) {
	path := filepath.Join(dir, ManifestName)
	data, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("cannot read manifest %s: %w", path, err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("cannot decode manifest %s: %w", path, err)
	}
	if m.Kind != ManifestKind || m.Version != ManifestVersion {
		return Manifest{}, fmt.Errorf("cannot use manifest %s: kind %q version %d, want %q version %d", path, m.Kind, m.Version, ManifestKind, ManifestVersion)
	}
	return m, nil
}

func (m *Manifest) backup(root string) Backup {
	dir := filepath.Join(root, m.ID)
	return Backup{
		ID:        m.ID,
		Path:      dir,
		Data:      filepath.Join(dir, DataDir),
		CreatedAt: m.CreatedAt,
		Files:     m.Totals.Files,
		Bytes:     m.Totals.Bytes,
	}
}
