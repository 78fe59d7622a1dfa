// Package filedigest hashes files with SHA-256 and remembers the result,
// so a file read at every reconcile (the app's binary, tens of megabytes)
// is hashed again only when it may have changed.
//
// A cached digest is used only while the file has the same inode, size,
// modification time and change time as when it was hashed. The change
// time cannot be set from user space and moves with every write, chmod,
// or rename onto the name, so an edited or replaced file is hashed again.
// A file changed within the timestamp granularity of its hashing could
// keep all four (git's "racily clean" entries): a digest is therefore
// cached only when the file's change time is some way before the hashing
// began (FineRacy, or Racy on a filesystem that keeps whole seconds); a
// younger file is hashed every time until it is not.
package filedigest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Racy is how long after its last change a file must have been hashed for
// its digest to be cached when its change time is a whole second, as on a
// filesystem that keeps seconds only (FAT keeps two, ext4 with 128-byte
// inodes and HFS+ one).
const Racy = 2 * time.Second

// FineRacy is the same for a file whose change time has a fraction of a
// second: its filesystem keeps nanoseconds (ext4, XFS, Btrfs, tmpfs, APFS),
// stamped from a clock that moves at least every 10 ms (Linux's coarse
// clock at HZ=100): twice that. It matters right after an update swapped
// the binary: the update's end hashes it once, and the reconciles after it
// need not hash it again.
const FineRacy = 20 * time.Millisecond

// racy and fineRacy are Racy and FineRacy, changed by tests (ctime cannot
// be set back).
var racy, fineRacy = Racy, FineRacy

// racyWindow is how old a change time of ctime (nanoseconds since the
// epoch) must be for the file's digest to be cached. A change time that is
// a whole second is taken to come from a filesystem that keeps seconds
// only; on one that keeps nanoseconds that happens once in a billion
// changes, and costs one more hash.
func racyWindow(ctime int64) time.Duration {
	if ctime%int64(time.Second) == 0 {
		return racy
	}
	return fineRacy
}

// ID identifies a file's content as far as its metadata can: the same ID
// and the same name mean the same bytes, unless the file is racily clean
// (see the package comment).
type ID struct {
	Ino, Size    uint64
	Mtime, Ctime int64 // nanoseconds since the epoch
}

// Stat returns the ID of the file at path, following links.
func Stat(path string) (ID, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return ID{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return ID{Ino: st.Ino, Size: uint64(st.Size), Mtime: st.Mtim.Nano(), Ctime: st.Ctim.Nano()}, nil
}

// Cache remembers the digest of each path it hashed. The zero value is
// ready to use; it is safe for concurrent use.
type Cache struct {
	mu sync.Mutex
	m  map[string]entry
}

type entry struct {
	id     ID
	digest string
}

// SHA256 returns the hex SHA-256 of the file at path, "" (and no error)
// when there is none: from the cache when the file has not changed since
// it was hashed, else by reading it. A nil Cache reads the file (Sum).
func (c *Cache) SHA256(path string) (string, error) {
	if c == nil {
		return Sum(path)
	}
	before, err := Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		c.forget(path)
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot hash %s: %w", path, err)
	}
	c.mu.Lock()
	e, ok := c.m[path]
	c.mu.Unlock()
	if ok && e.id == before {
		return e.digest, nil
	}
	began := time.Now()
	digest, err := Sum(path)
	if err != nil || digest == "" {
		return digest, err
	}
	// Cache only what was read whole and unchanged, and not racily clean.
	if after, err := Stat(path); err == nil && after == before && began.Sub(time.Unix(0, before.Ctime)) >= racyWindow(before.Ctime) {
		c.mu.Lock()
		if c.m == nil {
			c.m = map[string]entry{}
		}
		c.m[path] = entry{id: before, digest: digest}
		c.mu.Unlock()
	}
	return digest, nil
}

// SHA256Settled is SHA256 for a file just written: when its last change
// is younger than FineRacy (a filesystem that keeps nanoseconds), it first
// waits until it is not, so the digest is cached and the next SHA256 of
// the unchanged file reads nothing. An update calls it once the new
// binary is in place: otherwise, when the new version was healthy within
// FineRacy of the swap, the first reconcile after the update would hash
// the binary again (5 ms for tens of megabytes) before it could react.
// On a filesystem that keeps whole seconds it does not wait (Racy is too
// long); a cancelled ctx ends the wait.
func (c *Cache) SHA256Settled(ctx context.Context, path string) (string, error) {
	if id, err := Stat(path); err == nil && racyWindow(id.Ctime) == fineRacy {
		if wait := time.Until(time.Unix(0, id.Ctime).Add(fineRacy)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
	}
	return c.SHA256(path)
}

func (c *Cache) forget(path string) {
	c.mu.Lock()
	delete(c.m, path)
	c.mu.Unlock()
}

// Sum reads the file at path whole and returns its hex SHA-256, "" (and no
// error) when there is none. It never uses a cache.
func Sum(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("cannot hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
