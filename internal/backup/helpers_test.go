package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Names a tree must keep byte for byte: a newline, bytes that are not
// UTF-8, JSON's special characters and a Unicode line separator.
const (
	nameNewline = "line\nbreak.txt"
	nameBinary  = "bad-\xff\xfe\x80.bin"
	nameJSON    = "quote\"back\\slash<&>\u2028.txt"
)

// tempDir is t.TempDir for trees that may hold read-only folders: a test
// not running as root could not empty them, so they are made writable
// before the removal.
func tempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
	})
	return dir
}

// canMknodDevice reports whether this process may create device nodes
// (root outside a restricted container).
func canMknodDevice(t *testing.T) bool {
	t.Helper()
	p := filepath.Join(t.TempDir(), "null")
	return unix.Mknod(p, unix.S_IFCHR|0o600, int(unix.Mkdev(1, 3))) == nil
}

// buildTree writes a source folder with every kind of entry a backup must
// handle, with distinct modes, owners (as root) and old mtimes so that
// preservation is visible. It returns the socket's path: sockets are not
// backed up.
func buildTree(t *testing.T, dir string) (socket string) {
	t.Helper()
	mustMkdir(t, filepath.Join(dir, "a", "b", "c"))
	mustMkdir(t, filepath.Join(dir, "empty"))
	mustMkdir(t, filepath.Join(dir, "readonly"))
	mustMkdir(t, filepath.Join(dir, "sticky"))
	mustWrite(t, filepath.Join(dir, "a", "b", "c", "deep.txt"), "deep content\n", 0o644)
	mustWrite(t, filepath.Join(dir, "a", "top.db"), strings.Repeat("0123456789", 50_000), 0o644)
	mustWrite(t, filepath.Join(dir, "secret.env"), "TOKEN=not-really\n", 0o600)
	mustWrite(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\necho hi\n", 0o755)
	mustWrite(t, filepath.Join(dir, "suid"), "setuid\n", 0o755|os.ModeSetuid)
	mustWrite(t, filepath.Join(dir, "empty.txt"), "", 0o644)
	mustWrite(t, filepath.Join(dir, "readonly", "kept"), "in a read-only folder\n", 0o444)
	mustWrite(t, filepath.Join(dir, nameNewline), "newline\n", 0o644)
	mustWrite(t, filepath.Join(dir, nameBinary), "\x00\x01binary\xff", 0o640)
	mustWrite(t, filepath.Join(dir, nameJSON), "json\n", 0o644)
	// A file named like our manifest must survive: the copy lives in data/.
	mustWrite(t, filepath.Join(dir, ManifestName), `{"app":"own file"}`, 0o644)
	mustSymlink(t, "a/b/c/deep.txt", filepath.Join(dir, "rel-link"))
	mustSymlink(t, "../../nowhere", filepath.Join(dir, "a", "dangling"))
	mustSymlink(t, "/etc/hostname", filepath.Join(dir, "abs-link"))
	mustSymlink(t, "\xff-target\nwith newline", filepath.Join(dir, "odd-link"))
	if err := unix.Mkfifo(filepath.Join(dir, "a", "pipe"), 0o640); err != nil {
		t.Fatal(err)
	}
	if canMknodDevice(t) {
		if err := unix.Mknod(filepath.Join(dir, "null-dev"), unix.S_IFCHR|0o620, int(unix.Mkdev(1, 3))); err != nil {
			t.Fatal(err)
		}
	}
	socket = filepath.Join(dir, "app.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	for p, mode := range map[string]os.FileMode{"a/b": 0o750, "sticky": 0o777 | os.ModeSticky, "readonly": 0o555} {
		if err := os.Chmod(filepath.Join(dir, p), mode); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 { // the updater runs as root: owners must survive for a restore
		for _, p := range []string{"secret.env", "rel-link", "a/b", "a/pipe", nameBinary} {
			if err := os.Lchown(filepath.Join(dir, p), 1234, 5678); err != nil {
				t.Fatal(err)
			}
		}
		// chown cleared setuid
		if err := os.Chmod(filepath.Join(dir, "suid"), 0o755|os.ModeSetuid); err != nil {
			t.Fatal(err)
		}
	}
	ageTree(t, dir)
	return socket
}

// ageTree gives every entry below dir an old, distinct mtime; folders
// last so creating entries does not bump them.
func ageTree(t *testing.T, dir string) {
	t.Helper()
	base := time.Date(2021, 3, 4, 5, 6, 7, 123456789, time.UTC)
	var paths []string
	if err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for i := len(paths) - 1; i >= 0; i-- {
		ts := []unix.Timespec{unix.NsecToTimespec(base.UnixNano()), unix.NsecToTimespec(base.Add(time.Duration(i) * time.Hour).UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}

func mustMkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
}

func mustSymlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// overwriteInPlace changes p's content without a new inode, as an app
// writing into its database file does.
func overwriteInPlace(t *testing.T, p, content string) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes every entry below dir (not following symlinks): type,
// mode, owner, mtime, device number, and content hash or link target.
// Comparing two snapshots compares trees byte for byte and metadata for
// metadata. Sockets are left out: backups skip them by design.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	return snapshotMasked(t, dir, 0)
}

// stored is the snapshot a backup of dir has: the same with every write
// bit cleared (a backup's copies are read-only; symlinks have no mode).
func stored(t *testing.T, dir string) map[string]string {
	t.Helper()
	return snapshotMasked(t, dir, 0o222)
}

// snapshotMasked is snapshot with the bits clear cleared from the modes of
// everything but symlinks.
func snapshotMasked(t *testing.T, dir string, clear fs.FileMode) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSocket != 0 {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode()
		if mode&fs.ModeSymlink == 0 {
			mode &^= clear
		}
		desc := fmt.Sprintf("%v uid=%d gid=%d mtime=%d", mode, st.Uid, st.Gid, fi.ModTime().UnixNano())
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			desc += " sha256=" + hex.EncodeToString(sum[:])
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" target=%q", target)
		case fi.Mode()&fs.ModeDevice != 0:
			desc += fmt.Sprintf(" rdev=%d", st.Rdev)
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func diffSnapshots(want, got map[string]string) []string {
	var diffs []string
	for k, w := range want {
		if g, ok := got[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("missing %q", k))
		} else if g != w {
			diffs = append(diffs, fmt.Sprintf("%q:\n  want %s\n  got  %s", k, w, g))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("extra %q", k))
		}
	}
	sort.Strings(diffs)
	return diffs
}

func assertSameTree(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	if diffs := diffSnapshots(want, got); len(diffs) > 0 {
		t.Fatalf("%s:\n%s", what, strings.Join(diffs, "\n"))
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// trustCtimes makes files written by the test count as old enough for
// their ctime to vouch for them, so tests see the incremental fast path
// deterministically instead of depending on how long ago the file was
// written (see identity).
func trustCtimes(t *testing.T) {
	t.Helper()
	old := racy
	racy.margin, racy.coarse = 0, 0
	t.Cleanup(func() { racy = old })
}

// failingWriter fails like a full disk once more than limit bytes went
// through it.
type failingWriter struct {
	w     io.Writer
	limit int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if len(p) > f.limit {
		n, _ := f.w.Write(p[:f.limit])
		f.limit = 0
		return n, syscall.ENOSPC
	}
	f.limit -= len(p)
	return f.w.Write(p)
}

func setWriterHook(t *testing.T, hook func(rel string, w io.Writer) io.Writer) {
	t.Helper()
	testHookWriter = hook
	t.Cleanup(func() { testHookWriter = nil })
}

func setVisitHook(t *testing.T, hook func(rel string)) {
	t.Helper()
	testHookVisit = hook
	t.Cleanup(func() { testHookVisit = nil })
}

// writeFiles writes n files of distinct content into dir/f<i>.
func writeFiles(t *testing.T, dir string, n int) {
	t.Helper()
	mustMkdir(t, dir)
	for i := range n {
		mustWrite(t, filepath.Join(dir, fmt.Sprintf("f%02d", i)), fmt.Sprintf("content of file %d\n", i), 0o644)
	}
}
