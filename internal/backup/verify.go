package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Verify re-reads backup id under root and compares it with its manifest:
// every entry must exist with the recorded type, mode, owner (when the
// backup copied owners), mtime, symlink target or device number, and every
// file must have the recorded size and sha256; nothing may be there that
// the manifest does not list. It is what `backups verify ID` runs, and it
// only reads.
//
// A mismatch returns a *CorruptError (errors.Is ErrCorrupt) naming the
// first bad path in manifest order. ErrNotFound and ErrIncomplete mean
// there is no complete backup to verify; ErrUnsafePath means its manifest
// lists a path outside the backup (nothing is read then); a cancelled ctx
// returns its error.
func Verify(ctx context.Context, root, id string) error {
	m, err := load(root, id)
	if err != nil {
		return err
	}
	return verifyTree(ctx, id, filepath.Join(root, id, DataDir), m, m.Owners)
}

// verifyTree compares the folder dir with the manifest m; owners says
// whether to compare owners.
func verifyTree(ctx context.Context, id, dir string, m *Manifest, owners bool) error {
	errs := make([]error, len(m.Entries))
	p := newPool(ctx, "verify backup "+id)
entries:
	for i := range m.Entries {
		e := &m.Entries[i]
		path := joinRel(dir, e.Path)
		st, err := lstat(path)
		if err != nil {
			errs[i] = corrupt(id, e, "cannot inspect it: %v", err)
			continue
		}
		if err := compareMeta(e, &st, owners); err != "" {
			errs[i] = corrupt(id, e, "%s", err)
			continue
		}
		switch e.Type {
		case TypeSymlink:
			if target, err := os.Readlink(path); err != nil || target != e.Target {
				errs[i] = corrupt(id, e, "symlink target %q, manifest says %q", target, e.Target)
			}
		case TypeFile:
			if err := p.submit(func(buf []byte) error {
				f, err := os.Open(path)
				if err != nil {
					errs[i] = corrupt(id, e, "cannot open it: %v", err)
					return nil
				}
				defer f.Close()
				n, sum, err := hashContent(p.ctx, f, buf)
				switch {
				case ctx.Err() != nil:
					return fmt.Errorf("cannot verify backup %s: %w", id, ctx.Err())
				case err != nil:
					errs[i] = corrupt(id, e, "cannot read it: %v", err)
				case n != e.Size:
					errs[i] = corrupt(id, e, "size %d, manifest says %d", n, e.Size)
				case sum != e.SHA256:
					errs[i] = corrupt(id, e, "sha256 %s, manifest says %s", sum, e.SHA256)
				}
				return nil
			}); err != nil {
				break entries // the pool stopped: wait says why
			}
		}
	}
	if err := p.wait(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return checkExtras(ctx, id, dir, m)
}

func corrupt(id string, e *Entry, format string, args ...any) error {
	return &CorruptError{Backup: id, Path: e.Path, Problem: fmt.Sprintf(format, args...)}
}

// compareMeta returns what differs between the entry and st, or "".
func compareMeta(e *Entry, st *stat, owners bool) string {
	got := entryFor(e.Path, st)
	switch {
	case got.Type != e.Type:
		return fmt.Sprintf("it is a %s, manifest says %s", got.Type, e.Type)
	case e.Type == TypeFile && st.size != e.Size:
		return fmt.Sprintf("size %d, manifest says %d", st.size, e.Size)
	case e.Type != TypeSymlink && got.Mode != e.Mode:
		return fmt.Sprintf("mode %s, manifest says %s", got.Mode, e.Mode)
	case owners && (got.UID != e.UID || got.GID != e.GID):
		return fmt.Sprintf("owner %d:%d, manifest says %d:%d", got.UID, got.GID, e.UID, e.GID)
	case !got.ModTime.Equal(e.ModTime):
		return fmt.Sprintf("mtime %s, manifest says %s", got.ModTime.Format(time.RFC3339Nano), e.ModTime.UTC().Format(time.RFC3339Nano))
	case got.Rdev != e.Rdev:
		return fmt.Sprintf("device %d, manifest says %d", got.Rdev, e.Rdev)
	}
	return ""
}

// checkExtras reports the first entry below dir that the manifest does
// not list.
func checkExtras(ctx context.Context, id, dir string, m *Manifest) error {
	listed := make(map[string]bool, len(m.Entries))
	for i := range m.Entries {
		listed[m.Entries[i].Path] = true
	}
	var extra string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel := "."
		if p != dir {
			rel = strings.TrimPrefix(p, dir+"/")
		}
		if !listed[rel] && !(rel == "." && m.SourceMissing) {
			extra = rel
			return errStop
		}
		return nil
	})
	switch {
	case extra != "":
		return &CorruptError{Backup: id, Path: extra, Problem: "it is not in the manifest"}
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("cannot verify backup %s: %w", id, ctx.Err())
	case err != nil:
		return fmt.Errorf("cannot verify backup %s: %w", id, err)
	}
	return nil
}

var errStop = errors.New("stop walking")
