package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/better-paas/updater/internal/atomicfile"
)

// FileName is the manifest's file in a backup folder (and in each extra
// path's folder in it).
const FileName = "MANIFEST.json"

// ErrReadBack means a manifest Write stored does not read back as the
// bytes it wrote: the disk or another writer changed it. The manifest
// must not be trusted.
var ErrReadBack = errors.New("manifest reads back different from what was written")

// Read reads and checks the manifest of the backup folder dir
// (<root>/<id>/MANIFEST.json); see ReadFile.
func Read(dir string) (Manifest, error) {
	return ReadFile(filepath.Join(dir, FileName))
}

// ReadFile reads and checks the manifest at path, entries included. An
// error means the file is not a whole manifest of a kind and version
// this package reads; one wrapping ErrUnsafePath means the manifest lists
// a path outside the backup (see Decode). The error names path.
func ReadFile(path string) (Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("cannot read manifest %s: %w", path, err)
	}
	m, err := Decode(data)
	if errors.Is(err, ErrUnsafePath) {
		return Manifest{}, fmt.Errorf("cannot use manifest %s: %w", path, err)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("cannot decode manifest %s: %w", path, err)
	}
	if err := m.checkKind(path); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// ReadHeader reads the manifest at path without its entries and skipped
// lists: what a listing of backups needs, at a cost that does not grow
// with the number of files. Version 2 manifests put every header field
// before "entries", so the reader stops there; it still checks that the
// file ends like a whole manifest. An error means the file is not a
// manifest this package wrote. The header's paths are not checked (there
// are none but Parts and Part, which a caller that uses them checks with
// PartProblem).
func ReadHeader(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read manifest %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read manifest %s: %w", path, err)
	}
	tail := make([]byte, 2)
	if fi.Size() < 2 {
		return nil, fmt.Errorf("cannot decode manifest %s: it is empty", path)
	}
	if _, err := f.ReadAt(tail, fi.Size()-2); err != nil {
		return nil, fmt.Errorf("cannot read manifest %s: %w", path, err)
	}
	if !bytes.Equal(tail, []byte("}\n")) {
		return nil, fmt.Errorf("cannot decode manifest %s: it is truncated", path)
	}
	m, _, err := decodeHeader(bufio.NewReaderSize(io.NewSectionReader(f, 0, fi.Size()), 16<<10))
	if err != nil {
		return nil, fmt.Errorf("cannot decode manifest %s: %w", path, err)
	}
	if err := m.checkKind(path); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Manifest) checkKind(path string) error {
	if m.Kind != Kind || m.Version < 1 || m.Version > Version {
		return fmt.Errorf("cannot use manifest %s: kind %q version %d, want %q version 1 to %d", path, m.Kind, m.Version, Kind, Version)
	}
	return nil
}

// Write stores the manifest in the folder dir as FileName, atomically,
// and checks the stored bytes by reading them back, so a manifest that
// exists is whole and durable. It replaces a manifest already there. An
// error wrapping ErrReadBack means the bytes read back differ; any other
// is the write's or the read's.
func (m *Manifest) Write(dir string) error {
	data := m.Encode()
	path := filepath.Join(dir, FileName)
	if err := atomicfile.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	return readBack(path, data)
}

// WriteUnsynced stores the manifest in the folder dir as FileName, which
// must not exist yet, and checks the stored bytes by reading them back,
// like Write; but it neither writes a temporary file first nor syncs
// anything. It is for a folder that does not count until its writer has
// synced it and renamed it into place (a backup being made): a crash
// before then leaves a folder that is thrown away, never a half-written
// manifest where it counts.
func (m *Manifest) WriteUnsynced(dir string) error {
	data := m.Encode()
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("cannot create manifest %s: %w", path, err)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write manifest %s: %w", path, err)
	}
	return readBack(path, data)
}

// readBack checks that the file at path holds data.
func readBack(path string, data []byte) error {
	back, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read back manifest %s: %w", path, err)
	}
	if !bytes.Equal(back, data) {
		return fmt.Errorf("cannot verify manifest %s: %w", path, ErrReadBack)
	}
	return nil
}
