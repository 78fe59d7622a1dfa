// Package atomicfile writes files so that a reader, or a process that
// restarts after a crash, sees either the old content or the new content,
// never a torn mix of both.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data. It writes a temporary file in the same
// folder, fsyncs it, renames it over path and fsyncs the folder, so the
// rename itself survives a power loss. On any error the temporary file is
// removed and path is left as it was.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteFileIf(path, data, perm, nil)
}

// WriteFileIf is WriteFile with a precondition: check (when not nil) runs
// after the new content is durable in its temporary file and right before
// the rename, and an error from it is returned as it is, with path left
// as it was. It narrows a read-check-write race with writers in other
// processes to the moment between check and rename; writers in one
// process must still serialise themselves.
func WriteFileIf(path string, data []byte, perm os.FileMode, check func() error) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			_ = os.Remove(tmp)
			return err
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("cannot rename %s to %s: %w", tmp, path, err)
	}
	return SyncDir(filepath.Dir(path))
}

// CreateFile creates path with data, atomically and only if it does not
// exist: the content is made durable in a temporary file first and then
// hard-linked to path, which fails when path exists. So a reader never
// sees a partial file, and of two processes creating the same file one
// wins and the other gets an error satisfying errors.Is(err, fs.ErrExist),
// path left as the winner wrote it.
func CreateFile(path string, data []byte, perm os.FileMode) error {
	tmp, err := writeTemp(path, data, perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("cannot create %s: %w", path, err)
	}
	return SyncDir(filepath.Dir(path))
}

// writeTemp writes data to a new temporary file beside path with mode
// perm, fsynced and closed, and returns its name. On error nothing is left.
func writeTemp(path string, data []byte, perm os.FileMode) (name string, err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("cannot create temporary file for %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return "", fmt.Errorf("cannot write %s: %w", tmp.Name(), err)
	}
	if err = tmp.Chmod(perm); err != nil {
		return "", fmt.Errorf("cannot set mode of %s: %w", tmp.Name(), err)
	}
	if err = tmp.Sync(); err != nil {
		return "", fmt.Errorf("cannot sync %s: %w", tmp.Name(), err)
	}
	if err = tmp.Close(); err != nil {
		return "", fmt.Errorf("cannot close %s: %w", tmp.Name(), err)
	}
	return tmp.Name(), nil
}

// Rename renames oldpath to newpath and fsyncs the folders of both, so the
// new name is durable when Rename returns.
func Rename(oldpath, newpath string) error {
	if err := os.Rename(oldpath, newpath); err != nil {
		return fmt.Errorf("cannot rename %s to %s: %w", oldpath, newpath, err)
	}
	if err := SyncDir(filepath.Dir(newpath)); err != nil {
		return err
	}
	if filepath.Dir(oldpath) != filepath.Dir(newpath) {
		return SyncDir(filepath.Dir(oldpath))
	}
	return nil
}

// SyncDir fsyncs a folder so that entries created, renamed or removed in it
// are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cannot open folder %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync folder %s: %w", dir, err)
	}
	return nil
}
