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
// parsed (a holder that is still writing it, or one from an older
// version); the lock is held all the same. errors.Is(err, ErrLocked) is
// true for it.
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

// Lock is a held lock. It is safe to call Release from several goroutines.
type Lock struct {
	path string
	mu   sync.Mutex
	f    *os.File // nil once released
}

// maxInfo bounds how much of a lock file is read for a HeldError: ours are
// well under 100 bytes, and a huge file must not be read into memory.
const maxInfo = 4096

// Acquire takes the lock on path for this process, without waiting.
//
// path is created with mode 0644 if missing; its folder must exist. On
// success the file holds the caller's pid, purpose ("daemon", "run
// --once", "retry"; line breaks become spaces) and the start time, and the
// lock stays held until Release or until the process exits, however it
// exits. A second Acquire of the same path fails even within the same
// process, because each Acquire opens its own file description.
//
// Errors:
//   - another holder: a *HeldError, wrapping ErrLocked;
//   - the folder is missing: wraps fs.ErrNotExist and says to create it;
//   - anything else (permissions, a full disk while writing the holder
//     information): wrapped as "cannot lock <path>: ..."; the lock is not
//     held then.
func Acquire(path string, purpose string) (*Lock, error) {
	if path == "" {
		return nil, fmt.Errorf("cannot lock: %w", errors.New("lock file path is empty"))
	}
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
		if !same {
			_ = f.Close()
			continue
		}
		if err := writeInfo(f, purpose); err != nil {
			_ = f.Close() // closing drops the flock
			return nil, fmt.Errorf("cannot lock %s: %w", path, err)
		}
		return &Lock{path: path, f: f}, nil
	}
	return nil, fmt.Errorf("cannot lock %s: %w", path,
		errors.New("the lock file keeps being replaced while locking; make sure nothing else removes or rewrites it"))
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
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
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
func writeInfo(f *os.File, purpose string) error {
	purpose = strings.Join(strings.Fields(purpose), " ")
	data := fmt.Sprintf("pid: %d\npurpose: %s\nsince: %s\n",
		os.Getpid(), purpose, time.Now().UTC().Format(time.RFC3339))
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(data), 0); err != nil {
		return err
	}
	return f.Sync()
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

// Release gives the lock up. It empties the file first, so the content of a
// lock file names a live holder unless that holder died without releasing.
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
	f := l.f
	l.f = nil
	var errs []error
	if err := f.Truncate(0); err != nil {
		errs = append(errs, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_UN); err != nil {
		errs = append(errs, err)
	}
	if err := f.Close(); err != nil { // drops the flock in any case
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cannot release lock %s: %w", l.path, err)
	}
	return nil
}
