package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/atomicfile"
)

const (
	// ManifestName is the file inside a backup folder whose presence marks
	// the backup as complete. It is written last, just before the rename.
	ManifestName = "MANIFEST.json"
	// DataDir is the subfolder of a backup folder holding the copy of the
	// source folder.
	DataDir = "data"

	partialSuffix  = ".partial"
	deletingSuffix = ".deleting"
	// maxIDLen keeps "."+id+".deleting" within the 255-byte name limit of
	// common Linux filesystems.
	maxIDLen = 200
)

var (
	// ErrInvalidID means a backup ID is not a safe file name. The fix is
	// to choose an ID that is not empty, has no '/', does not start with
	// '.', has no control characters and is at most 200 bytes.
	ErrInvalidID = errors.New("invalid backup id")
	// ErrIncomplete means <root>/<id> exists but has no readable manifest,
	// so it is not a backup this package completed. Create refuses to
	// overwrite it because it may hold something a human put there; the fix
	// is to inspect and remove the folder.
	ErrIncomplete = errors.New("backup folder has no valid manifest")
	// ErrSourceNotFolder means the source path exists but is not a folder.
	ErrSourceNotFolder = errors.New("source is not a folder")
	// ErrRootInsideSource means the backup root lies inside the source
	// folder, so a backup would copy itself (and earlier backups) forever.
	ErrRootInsideSource = errors.New("backup root is inside the source folder")
	// ErrInvalidKeep means Prune was asked to keep a negative number of
	// backups.
	ErrInvalidKeep = errors.New("number of backups to keep must not be negative")
)

// Backup describes one complete backup, as recorded in its manifest.
type Backup struct {
	// ID is the name given to Create, also the folder name under root.
	ID string
	// Path is the backup folder, <root>/<id>; it holds the manifest and
	// the data/ subfolder.
	Path string
	// Data is the copy of the source folder, <root>/<id>/data.
	Data string
	// CreatedAt is when Create started copying (UTC): the point in time the
	// data reflects.
	CreatedAt time.Time
	// Files is the number of regular files copied.
	Files int
	// Bytes is the total size of the regular files copied.
	Bytes int64
}

// ValidateID reports whether id can be used as a backup folder name. It
// returns an error wrapping ErrInvalidID that says what is wrong.
func ValidateID(id string) error {
	var why string
	switch {
	case id == "":
		why = "it is empty"
	case strings.HasPrefix(id, "."):
		why = "it starts with '.' (reserved for partial and deleted backups)"
	case strings.ContainsRune(id, '/'):
		why = "it contains '/'"
	case len(id) > maxIDLen:
		why = fmt.Sprintf("it is longer than %d bytes", maxIDLen)
	case strings.IndexFunc(id, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		why = "it contains a control character"
	default:
		return nil
	}
	return fmt.Errorf("cannot use %q as backup id: %w: %s", id, ErrInvalidID, why)
}

// Create copies the folder src into <root>/<id>/data and records it in
// <root>/<id>/MANIFEST.json. It is called before every update, with an ID
// that names the update, and it never modifies src.
//
// Create is idempotent: when <root>/<id> already holds a complete backup it
// returns that backup without copying anything, even if src has changed
// since. A leftover <root>/.<id>.partial from an interrupted run is removed
// and the copy is redone. A missing src is an empty backup (its manifest
// says sourceMissing), not an error.
//
// The copy keeps regular files (content, mode, owner when running as root,
// mtime), folders (mode, mtime, including empty ones) and symlinks (as
// symlinks, never followed). Sockets, named pipes and devices are skipped
// and listed in the manifest, as are files that vanish while Create runs.
//
// On any error, including ctx being cancelled and a full disk, Create
// removes the partial folder and returns a wrapped error; callers use
// errors.Is with ErrInvalidID, ErrIncomplete, ErrSourceNotFolder,
// ErrRootInsideSource, context.Canceled or syscall.ENOSPC.
func Create(ctx context.Context, src, root, id string) (b Backup, err error) {
	if err := ValidateID(id); err != nil {
		return Backup{}, err
	}
	final := filepath.Join(root, id)
	if b, found, err := load(root, id); err != nil {
		return Backup{}, err
	} else if found {
		return b, nil
	}
	if err := ctx.Err(); err != nil {
		return Backup{}, fmt.Errorf("cannot create backup %s: %w", id, err)
	}
	srcInfo, err := os.Stat(src) // follows a symlinked data/ on purpose: it may point at a volume
	switch {
	case errors.Is(err, fs.ErrNotExist):
		srcInfo = nil
	case err != nil:
		return Backup{}, fmt.Errorf("cannot inspect source folder %s: %w", src, err)
	case !srcInfo.IsDir():
		return Backup{}, fmt.Errorf("cannot back up %s: %w", src, ErrSourceNotFolder)
	}
	// Checked before anything is created, or creating root would already
	// have modified src.
	if err := checkRootOutside(src, root); err != nil {
		return Backup{}, err
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return Backup{}, fmt.Errorf("cannot create backup root %s: %w", root, err)
	}

	partial := filepath.Join(root, "."+id+partialSuffix)
	if err := removeTree(partial); err != nil {
		return Backup{}, fmt.Errorf("cannot remove leftover partial backup %s: %w", partial, err)
	}
	if err := os.Mkdir(partial, 0o700); err != nil {
		return Backup{}, fmt.Errorf("cannot create partial backup %s: %w", partial, err)
	}
	defer func() {
		if err != nil {
			if rmErr := removeTree(partial); rmErr != nil {
				err = errors.Join(err, fmt.Errorf("cannot remove partial backup %s: %w", partial, rmErr))
			}
		}
	}()

	m := &Manifest{
		Kind:      ManifestKind,
		Version:   ManifestVersion,
		ID:        id,
		Source:    src,
		CreatedAt: time.Now().UTC(),
	}
	dataDst := filepath.Join(partial, DataDir)
	if srcInfo == nil {
		m.SourceMissing = true
		if err := os.Mkdir(dataDst, 0o700); err != nil {
			return Backup{}, fmt.Errorf("cannot create folder %s: %w", dataDst, err)
		}
	} else {
		c := &copier{
			ctx:      ctx,
			src:      src,
			dst:      dataDst,
			m:        m,
			syncEach: syncEachFile,
			chown:    os.Geteuid() == 0,
		}
		if err := c.copyRoot(srcInfo); err != nil {
			return Backup{}, err
		}
	}
	if !syncEachFile {
		if err := syncFS(partial); err != nil {
			return Backup{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return Backup{}, fmt.Errorf("cannot create backup %s: %w", id, err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Backup{}, fmt.Errorf("cannot encode manifest of backup %s: %w", id, err)
	}
	if err := atomicfile.WriteFile(filepath.Join(partial, ManifestName), append(data, '\n'), 0o600); err != nil {
		return Backup{}, err
	}
	if err := atomicfile.Rename(partial, final); err != nil {
		return Backup{}, err
	}
	return m.backup(root), nil
}

// checkRootOutside refuses a root inside (or equal to) src, comparing real
// paths so a symlink cannot hide the nesting. Neither path needs to exist.
func checkRootOutside(src, root string) error {
	realSrc, err := resolve(src)
	if err != nil {
		return fmt.Errorf("cannot resolve source folder %s: %w", src, err)
	}
	realRoot, err := resolve(root)
	if err != nil {
		return fmt.Errorf("cannot resolve backup root %s: %w", root, err)
	}
	rel, err := filepath.Rel(realSrc, realRoot)
	if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("cannot back up %s into %s: %w (move the backup root outside the data folder)", src, root, ErrRootInsideSource)
	}
	return nil
}

// resolve returns the absolute path of p with symlinks resolved in the
// longest prefix of p that exists.
func resolve(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	var rest []string
	for dir := abs; ; {
		real, err := filepath.EvalSymlinks(dir)
		if err == nil {
			return filepath.Join(append([]string{real}, rest...)...), nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return abs, nil
		}
		rest = append([]string{filepath.Base(dir)}, rest...)
		dir = parent
	}
}

// load reads the backup <root>/<id>. found is false when the folder does
// not exist; an error wrapping ErrIncomplete means it exists without a
// valid manifest.
func load(root, id string) (b Backup, found bool, err error) {
	dir := filepath.Join(root, id)
	if _, err := os.Lstat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Backup{}, false, nil
		}
		return Backup{}, false, fmt.Errorf("cannot inspect backup folder %s: %w", dir, err)
	}
	m, err := ReadManifest(dir)
	if err != nil {
		return Backup{}, true, fmt.Errorf("cannot use backup folder %s: %w: %w (remove the folder to let the backup be redone)", dir, ErrIncomplete, err)
	}
	if m.ID != id {
		return Backup{}, true, fmt.Errorf("cannot use backup folder %s: %w: manifest names backup %q (remove the folder to let the backup be redone)", dir, ErrIncomplete, m.ID)
	}
	return m.backup(root), true, nil
}

// List returns the complete backups under root, oldest first (by creation
// time, then ID). A missing root has no backups. Folders without a readable
// manifest (partial, interrupted or foreign folders) and names starting
// with '.' are ignored, so List never reports a backup that is not whole.
func List(root string) ([]Backup, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list backups in %s: %w", root, err)
	}
	var out []Backup
	for _, e := range entries {
		if !e.IsDir() || ValidateID(e.Name()) != nil {
			continue
		}
		b, found, err := load(root, e.Name())
		if err != nil || !found {
			continue
		}
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Prune removes complete backups under root, oldest first, keeping the
// newest keep backups plus every backup whose ID is in protect (the one
// the current update may need to restore from). It returns the IDs it
// removed, also when it stops on an error.
//
// Each backup is first renamed to <root>/.<id>.deleting, so a crash halfway
// through a deletion never leaves a half-deleted folder that List would
// report as complete; leftovers of that kind are removed on the next Prune.
// Incomplete folders and partial backups are left alone.
func Prune(root string, keep int, protect ...string) (removed []string, err error) {
	if keep < 0 {
		return nil, fmt.Errorf("cannot prune backups in %s to %d: %w", root, keep, ErrInvalidKeep)
	}
	if err := removeLeftoverDeletions(root); err != nil {
		return nil, err
	}
	backups, err := List(root)
	if err != nil {
		return nil, err
	}
	protected := make(map[string]bool, len(protect))
	for _, id := range protect {
		protected[id] = true
	}
	for i, b := range backups {
		if i >= len(backups)-keep || protected[b.ID] {
			continue
		}
		doomed := filepath.Join(root, "."+b.ID+deletingSuffix)
		if err := atomicfile.Rename(b.Path, doomed); err != nil {
			return removed, fmt.Errorf("cannot remove backup %s: %w", b.ID, err)
		}
		removed = append(removed, b.ID)
		if err := removeTree(doomed); err != nil {
			return removed, fmt.Errorf("cannot remove backup folder %s: %w", doomed, err)
		}
	}
	return removed, nil
}

func removeLeftoverDeletions(root string) error {
	entries, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot list backups in %s: %w", root, err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") && strings.HasSuffix(name, deletingSuffix) {
			if err := removeTree(filepath.Join(root, name)); err != nil {
				return fmt.Errorf("cannot remove leftover backup folder %s: %w", filepath.Join(root, name), err)
			}
		}
	}
	return nil
}

// removeTree removes path and everything below it. Backups keep the
// source's folder modes, so a non-root process may meet read-only folders
// it cannot empty; on a permission error it makes every folder writable
// for its owner and tries again.
func removeTree(path string) error {
	err := os.RemoveAll(path)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	_ = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(path)
}
