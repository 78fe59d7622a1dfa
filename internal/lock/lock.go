package lock

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is wrapped by every error that says another holder has the
// lock (a *HeldError). It is a "waiting" condition, not a failure: the
// caller stops, or tries again after the holder exits.
var ErrLocked = errors.New("lock is held by another process")

// HeldError says who holds the lock, as far as the lock file tells. PID is
// 0, Purpose empty and Since zero when the file could not be read or
// parsed: it was deleted or replaced (until the holder's next Check writes
// it back), the holder is still writing it, or it comes from an older
// version; the lock is held all the same. errors.Is(err, ErrLocked) is true
// for it.
type HeldError struct {
	Path    string
	PID     int
	Purpose string
	Since   time.Time
}

// Error names the holder and the fix, e.g. "cannot lock
// /var/lib/x/lock: held by pid 1234 (daemon) since
// 2026-01-02T15:04:05Z; stop it or wait".
func (e *HeldError) Error() string {
	if e.PID <= 0 {
		return fmt.Sprintf("cannot lock %s: held by another process; stop it or wait", e.Path)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cannot lock %s: held by pid %d", e.Path, e.PID)
	if e.Purpose != "" {
		fmt.Fprintf(&b, " (%s)", e.Purpose)
	}
	if !e.Since.IsZero() {
		fmt.Fprintf(&b, " since %s", e.Since.Format(time.RFC3339))
	}
	b.WriteString("; stop it or wait")
	return b.String()
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *HeldError) Unwrap() error { return ErrLocked }

// Lock is a held lock. It is safe to call Release and Check from several
// goroutines.
type Lock struct {
	path string
	info string // what the lock file says while we hold it
	mu   sync.Mutex
	dir  *os.File // the folder of path, flocked: the lock itself
	f    *os.File // the file at path, flocked too; nil once released
}

// maxInfo bounds how much of a lock file is read for a HeldError: ours are
// well under 100 bytes, and a huge file must not be read into memory.
const maxInfo = 4096

// errReleased is returned by Check on a lock that was released.
var errReleased = errors.New("lock was released")

// Acquire takes the lock on path for this process, without waiting.
//
// The lock is held on the folder of path and on the file at path (see the
// package comment), so there can be only one lock per folder: two Acquire
// calls with different file names in the same folder exclude each other.
// path is created with mode 0644 if missing; its folder must exist. On
// success the file holds the caller's pid, purpose ("daemon", "run
// --once", "retry"; line breaks become spaces) and the start time, and the
// lock stays held until Release or until the process exits, however it
// exits. A second Acquire of the same path fails even within the same
// process, because each Acquire opens its own file descriptions. A refused
// Acquire creates nothing and leaves nothing locked.
//
// Errors:
//   - another holder: a *HeldError, wrapping ErrLocked, also when the lock
//     file was deleted or replaced meanwhile (then without a pid, until the
//     holder's next Check);
//   - the folder is missing: wraps fs.ErrNotExist and says to create it;
//   - anything else (permissions, a filesystem without flock on folders, a
//     full disk while writing the holder information): wrapped as "cannot
//     lock <path>: ..."; the lock is not held then.
func Acquire(path string, purpose string) (*Lock, error) {
	if path == "" {
		return nil, fmt.Errorf("cannot lock: %w", errors.New("lock file path is empty"))
	}
	dir, err := lockDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot open lock file %s: folder %s does not exist; create it or fix the state folder setting: %w",
			path, filepath.Dir(path), err)
	}
	if err != nil {
		return nil, err
	}
	purpose = strings.Join(strings.Fields(purpose), " ")
	l := &Lock{
		path: path,
		info: fmt.Sprintf("pid: %d\npurpose: %s\nsince: %s\n",
			os.Getpid(), purpose, time.Now().UTC().Format(time.RFC3339)),
		dir: dir,
	}
	f, err := lockFile(path)
	if err != nil {
		_ = dir.Close() // closing drops the flock
		return nil, err
	}
	if err := writeInfo(f, l.info); err != nil {
		_ = f.Close()
		_ = dir.Close()
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	l.f = f
	return l, nil
}

// lockDir opens the folder of path and takes its flock, or reports who
// holds it. A missing folder is returned as the *fs.PathError of open, for
// the caller to explain.
func lockDir(path string) (*os.File, error) {
	name := filepath.Dir(path)
	// os.OpenFile sets O_CLOEXEC: children must not inherit the lock.
	// O_RDONLY, because flock needs a real descriptor (not O_PATH), and a
	// folder cannot be opened for writing.
	d, err := os.OpenFile(name, os.O_RDONLY|unix.O_DIRECTORY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if err != nil {
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
	err = flock(d)
	switch {
	case err == nil:
		return d, nil
	case errors.Is(err, unix.EWOULDBLOCK):
		_ = d.Close()
		held := readInfoAt(path)
		held.Path = path
		return nil, held
	default:
		_ = d.Close()
		return nil, fmt.Errorf("cannot lock %s: %w", path, &fs.PathError{Op: "flock", Path: name, Err: err})
	}
}

// lockFile takes the flock on the file at path, creating it if missing,
// or reports who holds it.
func lockFile(path string) (*os.File, error) {
	// If someone removed or replaced the file between our open and our
	// flock, we would hold a lock on an inode nobody else will ever open.
	// Retry a few times against the current file, then give up: something
	// keeps replacing it, and that is worth a human's attention.
	for range 3 {
		f, err := openAndLock(path)
		if err != nil {
			return nil, err
		}
		same, err := stillAt(f, path)
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("cannot lock %s: %w", path, err)
		}
		if same {
			return f, nil
		}
		_ = f.Close()
	}
	return nil, fmt.Errorf("cannot lock %s: %w", path,
		errors.New("the lock file keeps being replaced while locking; make sure nothing else removes or rewrites it"))
}

// flock takes an exclusive flock on f without waiting.
func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// openAndLock opens path and takes the flock, or reports who holds it.
func openAndLock(path string) (*os.File, error) {
	// os.OpenFile sets O_CLOEXEC: children must not inherit the lock.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cannot open lock file %s: folder %s does not exist; create it or fix the state folder setting: %w",
				path, filepath.Dir(path), err)
		}
		return nil, fmt.Errorf("cannot open lock file %s: %w", path, err)
	}
	err = flock(f)
	switch {
	case err == nil:
		return f, nil
	case errors.Is(err, unix.EWOULDBLOCK):
		held := readInfo(f)
		held.Path = path
		_ = f.Close()
		return nil, held
	default:
		_ = f.Close()
		return nil, fmt.Errorf("cannot lock %s: %w", path, err)
	}
}

// stillAt reports whether path still names the file f has open.
func stillAt(f *os.File, path string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

// writeInfo replaces the content of the locked file in place; see the
// package comment for why it must not be replaced by rename.
func writeInfo(f *os.File, info string) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(info), 0); err != nil {
		return err
	}
	return f.Sync()
}

// hasInfo reports whether f says exactly info.
func hasInfo(f *os.File, info string) (bool, error) {
	buf := make([]byte, len(info)+1)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return string(buf[:n]) == info, nil
}

// readInfoAt reads the holder information from the file at path, without
// creating it: a refused process must not leave a file that names nobody.
// A missing or unreadable file gives a HeldError without holder.
func readInfoAt(path string) *HeldError {
	// O_NONBLOCK: a FIFO put at path must not hang us; no effect on files.
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return &HeldError{}
	}
	defer f.Close()
	return readInfo(f)
}

// readInfo parses what the holder wrote, best effort: a field that is
// missing or malformed stays zero.
func readInfo(f *os.File) *HeldError {
	var h HeldError
	buf := make([]byte, maxInfo)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return &h
	}
	for line := range strings.Lines(string(buf[:n])) {
		key, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "pid":
			if pid, err := strconv.Atoi(value); err == nil && pid > 0 {
				h.PID = pid
			}
		case "purpose":
			h.Purpose = value
		case "since":
			if t, err := time.Parse(time.RFC3339, value); err == nil {
				h.Since = t
			}
		}
	}
	return &h
}

// Path returns the lock file's path.
func (l *Lock) Path() string { return l.path }

// Check makes sure the lock still covers path and that the file there names
// this holder, and puts back what it can. The daemon should call it at
// every resync; it is idempotent and cheap (a few stats and a small read)
// when nothing changed. It reports whether it had to restore something, so the
// caller can log that someone tampered with the state folder.
//
// What it restores: a lock file that was deleted is created again, one that
// was replaced is taken over, one that was overwritten or emptied is
// rewritten, each time with the original pid, purpose and start time, and
// flocked again so that an updater older than the folder lock is kept out
// as well. A state folder that was replaced (moved away and created again)
// is locked again. A deleted or replaced file never let another process of
// this version in; for it, Check only makes refused processes name the
// holder again.
//
// Errors:
//   - a *HeldError, wrapping ErrLocked: another process holds the file (an
//     updater older than the folder lock that started while the file was
//     missing) or the new state folder; two processes are driving it, and
//     the caller should stop;
//   - the state folder is gone: wraps fs.ErrNotExist; Check does not create
//     folders;
//   - the lock was released, or l is nil; or an I/O error, after which the
//     lock is still held as before.
func (l *Lock) Check() (restored bool, err error) {
	if l == nil {
		return false, fmt.Errorf("cannot check lock: %w", errReleased)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return false, fmt.Errorf("cannot check lock %s: %w", l.path, errReleased)
	}
	// The folder first: a new folder has no lock file in it yet.
	name := filepath.Dir(l.path)
	same, err := stillAt(l.dir, name)
	if err != nil {
		return false, fmt.Errorf("cannot check lock %s: %w", l.path, err)
	}
	if !same {
		dir, err := lockDir(l.path)
		if errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("cannot check lock %s: folder %s was removed: %w", l.path, name, err)
		}
		if err != nil {
			return false, err
		}
		old := l.dir
		l.dir = dir
		_ = old.Close() // nobody will look in the old folder
		restored = true
	}

	same, err = stillAt(l.f, l.path)
	if err != nil {
		return restored, fmt.Errorf("cannot check lock %s: %w", l.path, err)
	}
	if same {
		ok, err := hasInfo(l.f, l.info)
		if err != nil {
			return restored, fmt.Errorf("cannot check lock %s: %w", l.path, err)
		}
		if ok {
			return restored, nil
		}
		if err := writeInfo(l.f, l.info); err != nil {
			return restored, fmt.Errorf("cannot restore lock file %s: %w", l.path, err)
		}
		return true, nil
	}
	f, err := lockFile(l.path)
	if err != nil {
		return restored, err
	}
	if err := writeInfo(f, l.info); err != nil {
		_ = f.Close()
		return restored, fmt.Errorf("cannot restore lock file %s: %w", l.path, err)
	}
	old := l.f
	l.f = f
	_ = old.Close() // its inode is gone from the folder
	return true, nil
}

// Release gives the lock up. It empties the file first, so the content of a
// lock file names a live holder unless that holder died without releasing.
// The file is unlocked before the folder, so that the next holder, who
// takes the folder first, never finds the file still locked.
// Release is idempotent: later calls, and calls on a nil *Lock, return nil.
// The lock is released even when emptying the file fails; that error is
// returned.
func (l *Lock) Release() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	f, dir := l.f, l.dir
	l.f, l.dir = nil, nil
	var errs []error
	if err := f.Truncate(0); err != nil {
		errs = append(errs, err)
	}
	for _, d := range []*os.File{f, dir} {
		if err := unix.Flock(int(d.Fd()), unix.LOCK_UN); err != nil {
			errs = append(errs, err)
		}
		if err := d.Close(); err != nil { // drops the flock in any case
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cannot release lock %s: %w", l.path, err)
	}
	return nil
}
