package desired

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// lockFolder takes an exclusive flock on the folder that holds the file
// desired.yaml at path is (through any symlinks), so that edits by two
// processes — two `set`s, `set` and the daemon's API, a script — run one
// after the other: each reads the generation, checks it and renames
// under the lock, and the second then sees the first's file. The lock is
// on the folder itself, so no lock file appears beside desired.yaml (its
// folder may be a GitOps checkout or a ConfigMap); it is advisory, so
// readers (the daemon) never wait. The lock ends with the returned
// function, or with the process.
func lockFolder(path string) (unlock func(), err error) {
	target := path
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		target = resolved
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot resolve %s: %w", path, err)
	}
	dir := filepath.Dir(target)
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot open %s to lock it for an edit of %s: %w", dir, path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot lock %s for an edit of %s: %w", dir, path, err)
	}
	return func() { f.Close() }, nil // closing the last descriptor releases the flock
}
