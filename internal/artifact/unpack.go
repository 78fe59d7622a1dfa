package artifact

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Default limits of Unpack.
const (
	DefaultMaxFiles       = 100000
	DefaultMaxBytes int64 = 4 << 30
	// maxLinkHops bounds symlink resolution, as the kernel's ELOOP does.
	maxLinkHops = 40
)

// Limits bound what Unpack extracts. Zero values select DefaultMaxFiles
// and DefaultMaxBytes.
type Limits struct {
	// Files caps the number of entries (files, folders, symlinks).
	Files int
	// Bytes caps the total size of the regular files.
	Bytes int64
}

// IsArchive reports whether name is unpacked by Unpack: it ends in
// ".tar.gz" or ".tgz".
func IsArchive(name string) bool {
	return strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tgz")
}

// Unpack extracts the .tar.gz (or .tgz) file archive into dir, which must
// not exist; its parent must. dir is created 0755 and, on any error,
// removed again, so dir exists only when complete.
//
// Refused, wrapping ErrUntrusted and naming the entry: absolute paths, any
// ".." component, entries whose path passes through a symlink, symlinks
// whose target is absolute or resolves outside dir (resolved against the
// archive's own entries), hard links, devices, fifos, sockets and other
// special types, duplicate entries, and more than lim.Files entries or
// lim.Bytes in total. A malformed gzip or tar stream wraps ErrUntrusted
// too: the archive is unusable. A leading "./" is ignored. Files get mode
// 0755 when the owner's x bit is set, else 0644; folders 0755; mtimes come
// from the headers. Files and folders are fsynced, so dir can be renamed
// into place durably. A cancelled ctx stops extraction with ctx.Err().
func Unpack(ctx context.Context, archive, dir string, lim Limits) (err error) {
	if lim.Files <= 0 {
		lim.Files = DefaultMaxFiles
	}
	if lim.Bytes <= 0 {
		lim.Bytes = DefaultMaxBytes
	}
	fh, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("cannot unpack %s: %w", archive, err)
	}
	defer fh.Close()
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("cannot unpack %s: cannot create %s (it must not exist yet): %w", archive, dir, err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("cannot unpack %s: %w", archive, err)
	}
	defer root.Close()

	u := &unpacker{archive: archive, root: root, lim: lim, ctx: ctx,
		kinds: map[string]byte{".": tar.TypeDir}, targets: map[string]string{}, dirTimes: map[string]time.Time{}}
	if err := u.run(fh); err != nil {
		return err
	}
	return nil
}

type unpacker struct {
	archive string
	root    *os.Root
	lim     Limits
	ctx     context.Context

	// kinds maps every path created (or to be created) to its type:
	// tar.TypeDir, tar.TypeReg or tar.TypeSymlink. "." is dir itself.
	kinds map[string]byte
	// explicit marks folders that had their own entry (a second one is
	// a duplicate; an implied folder may get its entry later).
	explicit map[string]bool
	targets  map[string]string // symlink path -> target
	dirTimes map[string]time.Time
	files    int
	bytes    int64
}

func (u *unpacker) refuse(name, format string, args ...any) error {
	return untrustedf("cannot unpack %s: entry %q %s", u.archive, name, fmt.Sprintf(format, args...))
}

func (u *unpacker) run(r io.Reader) error {
	u.explicit = map[string]bool{}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return untrustedf("cannot unpack %s: not a gzip file: %v", u.archive, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		if err := u.ctx.Err(); err != nil {
			return fmt.Errorf("cannot unpack %s: %w", u.archive, err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return untrustedf("cannot unpack %s: malformed archive: %v", u.archive, err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if err := u.entry(hdr, tr); err != nil {
			return err
		}
	}
	// Reading to EOF checks the gzip trailer (CRC and size).
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return untrustedf("cannot unpack %s: malformed archive: %v", u.archive, err)
	}
	return u.finish()
}

// clean validates an entry name and returns it relative, without a
// leading "./" or trailing "/"; "" for the archive's root folder entry.
func (u *unpacker) clean(raw string) (string, error) {
	name := raw
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	name = strings.TrimSuffix(name, "/")
	if name == "" || name == "." {
		return "", nil
	}
	if strings.HasPrefix(name, "/") {
		return "", u.refuse(raw, "has an absolute path")
	}
	if strings.ContainsRune(name, 0) {
		return "", u.refuse(raw, "has a NUL byte in its name")
	}
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "..":
			return "", u.refuse(raw, "has a .. component, which would leave the folder")
		case "", ".":
			return "", u.refuse(raw, "is not a clean path (empty or . component)")
		}
	}
	return name, nil
}

func (u *unpacker) entry(hdr *tar.Header, tr io.Reader) error {
	name, err := u.clean(hdr.Name)
	if err != nil {
		return err
	}
	u.files++
	if u.files > u.lim.Files {
		return untrustedf("cannot unpack %s: more than %d entries (the limit)", u.archive, u.lim.Files)
	}
	if name == "" {
		if hdr.Typeflag != tar.TypeDir {
			return u.refuse(hdr.Name, "names the top folder but is not a folder")
		}
		return nil
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink: // the reader turns the old TypeRegA into TypeReg
	case tar.TypeLink:
		return u.refuse(hdr.Name, "is a hard link (to %q), which is refused", hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock:
		return u.refuse(hdr.Name, "is a device, which is refused")
	case tar.TypeFifo:
		return u.refuse(hdr.Name, "is a fifo, which is refused")
	default:
		return u.refuse(hdr.Name, "has type %q, which is refused (only files, folders and symlinks)", string(hdr.Typeflag))
	}
	if err := u.parents(hdr.Name, name); err != nil {
		return err
	}
	if kind, ok := u.kinds[name]; ok {
		// An implied folder may get its own entry once; anything else is
		// a duplicate.
		switch {
		case kind == tar.TypeDir && hdr.Typeflag == tar.TypeDir && !u.explicit[name]:
		case kind == tar.TypeDir && !u.explicit[name]:
			return u.refuse(hdr.Name, "is a duplicate: an earlier entry used it as a folder")
		default:
			return u.refuse(hdr.Name, "is a duplicate")
		}
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if _, ok := u.kinds[name]; !ok {
			if err := u.root.Mkdir(name, 0o755); err != nil {
				return fmt.Errorf("cannot unpack %s: %w", u.archive, err)
			}
		}
		u.kinds[name] = tar.TypeDir
		u.explicit[name] = true
		u.dirTimes[name] = hdr.ModTime
	case tar.TypeSymlink:
		if hdr.Linkname == "" || path.IsAbs(hdr.Linkname) {
			return u.refuse(hdr.Name, "is a symlink to %q: absolute or empty targets are refused", hdr.Linkname)
		}
		// Created at the end, once every entry is known, so the target can
		// be resolved against the whole archive.
		u.kinds[name] = tar.TypeSymlink
		u.targets[name] = hdr.Linkname
	default:
		if hdr.Size < 0 || hdr.Size > u.lim.Bytes-u.bytes {
			return untrustedf("cannot unpack %s: entry %q makes the files larger than %d bytes in total (the limit)", u.archive, hdr.Name, u.lim.Bytes)
		}
		u.bytes += hdr.Size
		mode := os.FileMode(0o644)
		if hdr.Mode&0o100 != 0 {
			mode = 0o755
		}
		u.kinds[name] = tar.TypeReg
		if err := u.writeFile(name, mode, hdr, tr); err != nil {
			return err
		}
	}
	return nil
}

// parents checks the folders above name: none may be a symlink or a file;
// missing ones are created (implied folders).
func (u *unpacker) parents(raw, name string) error {
	dir := path.Dir(name)
	if dir == "." {
		return nil
	}
	parts := strings.Split(dir, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		switch kind, ok := u.kinds[p]; {
		case !ok:
			if err := u.root.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("cannot unpack %s: %w", u.archive, err)
			}
			u.kinds[p] = tar.TypeDir
		case kind == tar.TypeSymlink:
			return u.refuse(raw, "passes through the symlink %q", p)
		case kind != tar.TypeDir:
			return u.refuse(raw, "is beneath %q, which is a file", p)
		}
	}
	return nil
}

func (u *unpacker) writeFile(name string, mode os.FileMode, hdr *tar.Header, tr io.Reader) error {
	f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("cannot unpack %s: %w", u.archive, err)
	}
	defer f.Close()
	n, err := io.Copy(f, ctxReader{u.ctx, tr})
	if err != nil {
		if cerr := u.ctx.Err(); cerr != nil {
			return fmt.Errorf("cannot unpack %s: %w", u.archive, cerr)
		}
		var perr *os.PathError
		if errors.As(err, &perr) {
			return fmt.Errorf("cannot unpack %s: cannot write %s: %w", u.archive, name, err)
		}
		return untrustedf("cannot unpack %s: entry %q is truncated: %v", u.archive, hdr.Name, err)
	}
	if n != hdr.Size {
		return untrustedf("cannot unpack %s: entry %q has %d of %d bytes", u.archive, hdr.Name, n, hdr.Size)
	}
	// The umask may have narrowed the mode.
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("cannot unpack %s: cannot set mode of %s: %w", u.archive, name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot unpack %s: cannot sync %s: %w", u.archive, name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot unpack %s: cannot close %s: %w", u.archive, name, err)
	}
	if !hdr.ModTime.IsZero() {
		if err := u.root.Chtimes(name, hdr.ModTime, hdr.ModTime); err != nil {
			return fmt.Errorf("cannot unpack %s: cannot set the time of %s: %w", u.archive, name, err)
		}
	}
	return nil
}

// finish creates the symlinks (after checking where they lead), sets the
// folders' modes and times, and fsyncs the folders.
func (u *unpacker) finish() error {
	links := make([]string, 0, len(u.targets))
	for name := range u.targets {
		links = append(links, name)
	}
	slices.Sort(links)
	for _, name := range links {
		target := u.targets[name]
		if _, err := u.resolve(path.Dir(name), target, 0); err != nil {
			return u.refuse(name, "is a symlink to %q, which %v", target, err)
		}
		if err := u.root.Symlink(target, name); err != nil {
			return fmt.Errorf("cannot unpack %s: %w", u.archive, err)
		}
	}
	dirs := make([]string, 0, len(u.kinds))
	for name, kind := range u.kinds {
		if kind == tar.TypeDir {
			dirs = append(dirs, name)
		}
	}
	// Deepest first, so setting a folder's time is not undone by a change
	// inside it.
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, name := range dirs {
		if err := u.root.Chmod(name, 0o755); err != nil {
			return fmt.Errorf("cannot unpack %s: cannot set mode of %s: %w", u.archive, name, err)
		}
		if err := syncDir(u.root, name); err != nil {
			return fmt.Errorf("cannot unpack %s: %w", u.archive, err)
		}
		if t, ok := u.dirTimes[name]; ok && !t.IsZero() {
			if err := u.root.Chtimes(name, t, t); err != nil {
				return fmt.Errorf("cannot unpack %s: cannot set the time of %s: %w", u.archive, name, err)
			}
		}
	}
	return syncDir(u.root, ".")
}

// resolve resolves target, relative to the folder dir (a path of real
// folders), against the archive's entries, as the kernel would, and returns
// the resolved path. Components the archive does not have are taken as
// folders (so a later mkdir by the application cannot make the link
// escape). It fails when the path leaves the top folder or loops.
func (u *unpacker) resolve(dir, target string, hops int) (string, error) {
	if path.IsAbs(target) {
		return "", errors.New("is absolute")
	}
	var cur []string
	if dir != "." {
		cur = strings.Split(dir, "/")
	}
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
			continue
		case "..":
			if len(cur) == 0 {
				return "", errors.New("leaves the folder")
			}
			cur = cur[:len(cur)-1]
			continue
		}
		p := strings.Join(append(slices.Clone(cur), c), "/")
		if u.kinds[p] != tar.TypeSymlink {
			cur = append(cur, c)
			continue
		}
		if hops++; hops > maxLinkHops {
			return "", errors.New("is a symlink loop")
		}
		parent := "."
		if len(cur) > 0 {
			parent = strings.Join(cur, "/")
		}
		res, err := u.resolve(parent, u.targets[p], hops)
		if err != nil {
			return "", err
		}
		cur = nil
		if res != "." {
			cur = strings.Split(res, "/")
		}
	}
	if len(cur) == 0 {
		return ".", nil
	}
	return strings.Join(cur, "/"), nil
}

func syncDir(root *os.Root, name string) error {
	d, err := root.Open(name)
	if err != nil {
		return fmt.Errorf("cannot open folder %s: %w", filepath.FromSlash(name), err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("cannot sync folder %s: %w", filepath.FromSlash(name), err)
	}
	return nil
}

// ctxReader stops a long copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
