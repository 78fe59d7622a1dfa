package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/backup/manifest"
)

const (
	// ManifestName is the file inside a backup folder whose presence marks
	// the backup as complete. It is written last, just before the rename.
	ManifestName = manifest.FileName
	// DataDir is the subfolder of a backup folder holding the copy of the
	// source folder.
	DataDir = "data"

	partialSuffix  = ".partial"
	deletingSuffix = ".deleting"
	// finishingName is the manifest of a backup whose cold pass is
	// changing its files: MANIFEST.json is renamed to it first, so a
	// backup caught halfway through Finish does not count as complete,
	// and a later Finish knows what the folder held before.
	finishingName = ".MANIFEST.finishing.json"
	// stagingName is the folder inside a backup where Finish writes new
	// and changed files before it moves them into data/.
	stagingName = ".finish"
	// maxIDLen keeps "."+id+".deleting" within the 255-byte name limit of
	// common Linux filesystems.
	maxIDLen = 200
)

var (
	// ErrInvalidID means a backup ID is not a safe file name. The fix is
	// to choose an ID that is not empty, has no '/', does not start with
	// '.', has no control characters and is at most 200 bytes.
	ErrInvalidID = errors.New("invalid backup id")
	// ErrNotFound means there is no folder <root>/<id>.
	ErrNotFound = errors.New("backup not found")
	// ErrIncomplete means <root>/<id> exists but has no readable manifest,
	// so it is not a backup this package completed. Create refuses to
	// overwrite it because it may hold something a human put there; the fix
	// is to inspect and remove the folder.
	ErrIncomplete = errors.New("backup folder has no valid manifest")
	// ErrCorrupt means the files of a backup (or of a restored copy) do
	// not match its manifest. Errors wrapping it are *CorruptError values
	// that name the first bad path. The backup must not be trusted; the
	// fix is to use another backup.
	ErrCorrupt = errors.New("backup does not match its manifest")
	// ErrUnsafePath means a backup's manifest lists a path that a restore
	// could not create inside the data folder in manifest order: absolute,
	// with a "..", "." or empty component, a trailing slash or a NUL byte,
	// listed twice, or below something that is not a folder listed before
	// it (a symlink, say). Such a manifest was edited or damaged: every
	// operation that reads it refuses it before touching any file, and the
	// fix is to restore from another backup. It is manifest.ErrUnsafePath,
	// the error of the check, so errors.Is matches either name.
	ErrUnsafePath = manifest.ErrUnsafePath
	// ErrSourceNotFolder means the source path exists but is not a folder.
	ErrSourceNotFolder = errors.New("source is not a folder")
	// ErrRootInsideSource means the backup root lies inside the source
	// folder, so a backup would copy itself (and earlier backups) forever.
	ErrRootInsideSource = errors.New("backup root is inside the source folder")
	// ErrInvalidKeep means Prune was asked to keep a negative number of
	// backups.
	ErrInvalidKeep = errors.New("number of backups to keep must not be negative")
)

// CorruptError is the error Verify and Restore return when entries do not
// match the manifest. errors.Is(err, ErrCorrupt) is true for it.
type CorruptError struct {
	// Backup is the ID of the backup.
	Backup string
	// Path and Problem describe the first bad entry (Mismatches[0]).
	// Path is relative to the data folder, slash-separated (relative to
	// the install folder for an entry of an extra path, see
	// Mismatch.Part); Problem says what differs, e.g. "sha256 1f2e...,
	// manifest says 9a8b...".
	Path    string
	Problem string
	// Mismatches lists every bad entry Verify found, in manifest order,
	// then the entries the manifest does not list; one per path, its
	// Problem naming everything that differs there (mode, content, ...).
	// Error names the first maxListedMismatches of them; this list is
	// whole.
	Mismatches []Mismatch
}

// Mismatch is one entry of a backup that does not match its manifest.
type Mismatch struct {
	// Part is the extra path (see Paths) the entry belongs to, "" for the
	// data folder. Path is then relative to the install folder, like
	// Part ("migrations/0002.sql"), instead of the data folder.
	Part    string
	Path    string
	Problem string
}

// name is how an error message names the entry.
func (m Mismatch) name() string {
	if m.Part == "" {
		return fmt.Sprintf("%q", m.Path)
	}
	return fmt.Sprintf("%q (extra path %q)", m.Path, m.Part)
}

// maxListedMismatches caps the paths an error message names: a backup
// damaged throughout must not produce a message of 50,000 lines. The
// error value keeps them all.
const maxListedMismatches = 20

// newCorruptError returns the error for the mismatches ms (at least one)
// of backup id.
func newCorruptError(id string, ms []Mismatch) *CorruptError {
	return &CorruptError{Backup: id, Path: ms[0].Path, Problem: ms[0].Problem, Mismatches: ms}
}

func (e *CorruptError) Error() string {
	if len(e.Mismatches) <= 1 {
		return fmt.Sprintf("backup %s does not match its manifest at %s: %s", e.Backup, e.Mismatches[0].name(), e.Problem)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "backup %s does not match its manifest at %d paths: ", e.Backup, len(e.Mismatches))
	for i, m := range e.Mismatches {
		if i == maxListedMismatches {
			fmt.Fprintf(&b, "; and %d more", len(e.Mismatches)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %s", m.name(), m.Problem)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Backup describes one complete backup, as recorded in its manifest.
type Backup struct {
	// ID is the name given to Create, also the folder name under root.
	ID string
	// Path is the backup folder, <root>/<id>; it holds the manifest and
	// the data/ subfolder.
	Path string
	// Data is the copy of the source folder, <root>/<id>/data.
	Data string
	// CreatedAt is when Create started copying (UTC).
	CreatedAt time.Time
	// FinishedAt is when the last cold pass (Finish) started (UTC), the
	// moment the data reflects; zero when Finish never ran, in which
	// case the data reflects a live folder copied while it was in use.
	FinishedAt time.Time
	// Base is the earlier backup whose unchanged files the hot pass
	// hard-linked; empty for a full copy.
	Base string
	// DataOf is the version whose data the backup holds and TakenBefore
	// the version its update was about to install, as given to Create
	// (see manifest.Manifest.DataOf); empty when unknown.
	DataOf, TakenBefore string
	// Files is the number of regular files in the backup.
	Files int
	// Bytes is the total size of the regular files in the backup.
	Bytes int64
	// Copied, Linked, Hashed and Removed count what the last pass did
	// (see manifest.PassStats): for Create the hot pass, for Finish the cold pass.
	Copied, Linked, Hashed, Removed int
	// Paths are the extra paths the backup holds besides the data
	// folder (see Paths and PathCopy), as given to Create; Files, Bytes
	// and the counts above are the data folder's only.
	Paths []string
}

// backupOf describes the backup in root whose manifest (or header) is m.
func backupOf(m *manifest.Manifest, root string) Backup {
	dir := filepath.Join(root, m.ID)
	b := Backup{
		ID:          m.ID,
		Path:        dir,
		Data:        filepath.Join(dir, DataDir),
		CreatedAt:   m.CreatedAt,
		Base:        m.Base,
		DataOf:      m.DataOf,
		TakenBefore: m.TakenBefore,
		Files:       m.Totals.Files,
		Bytes:       m.Totals.Bytes,
		Copied:      m.Pass.Copied,
		Linked:      m.Pass.Linked,
		Hashed:      m.Pass.Hashed,
		Removed:     m.Pass.Removed,
		Paths:       slices.Clone(m.Parts), // m may be cached: shared
	}
	if m.FinishedAt != nil {
		b.FinishedAt = *m.FinishedAt
	}
	return b
}

// writeManifest stores m in the folder dir (manifest.Write): atomically,
// read back, so a manifest that exists is whole and durable. A manifest
// that reads back different is ErrCorrupt, like a copy that does.
func writeManifest(m *manifest.Manifest, dir string) error {
	return readBackCorrupt(m.Write(dir))
}

// writeNewManifest stores m in the folder dir of a backup being made and
// reads it back, without a temporary name or a sync of its own
// (manifest.WriteUnsynced): the folder counts only once Create has synced
// it and renamed it into place (writeBack). With syncEachFile no syncfs
// comes, so it is written as writeManifest writes it.
func writeNewManifest(m *manifest.Manifest, dir string) error {
	if syncEachFile {
		return writeManifest(m, dir)
	}
	return readBackCorrupt(m.WriteUnsynced(dir))
}

// readBackCorrupt returns err, wrapping ErrCorrupt too when a manifest
// read back different from what was written (manifest.ErrReadBack).
func readBackCorrupt(err error) error {
	if errors.Is(err, manifest.ErrReadBack) {
		return fmt.Errorf("%w: %w", err, ErrCorrupt)
	}
	return err
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

// Option is a label Create records in the manifest of a new backup (see
// DataOf and TakenBefore), or the extra paths it backs up (see Paths).
type Option func(*settings)

type settings struct {
	dataOf, takenBefore string
	installDir          string
	paths               []string
}

// DataOf records the version whose data the backup holds: the version
// that runs, and writes data/, while the backup is taken ("" when none
// is installed). `backups list` shows it.
func DataOf(version string) Option {
	return func(s *settings) { s.dataOf = strings.ToValidUTF8(version, "\uFFFD") }
}

// TakenBefore records the version the update taking the backup is about
// to install. `backups list` shows it.
func TakenBefore(version string) Option {
	return func(s *settings) { s.takenBefore = strings.ToValidUTF8(version, "\uFFFD") }
}

// Create takes the hot pass of a backup: it copies the folder src into
// <root>/<id>/data while the app may still be running, and records it in
// <root>/<id>/MANIFEST.json. It is called before every update, with an ID
// that names the update, and it never modifies src.
//
// Create is incremental: a file that is unchanged since the newest
// complete backup in root (same size, mtime, inode and ctime as that
// backup recorded; or, when the inode or ctime cannot be trusted, the same
// sha256) is hard-linked to that backup's copy, never to the live file, so
// later writes to src cannot alter any backup. Other files are copied and
// hashed. Backup.Copied, Linked and Hashed count what it did.
//
// The backup is verified before it counts: every copy is made durable,
// the size and type of every entry is checked against the manifest, the
// manifest is written last, read back, and only then is the folder renamed
// from <root>/.<id>.partial to <root>/<id>. A backup folder with a
// manifest is therefore whole and durable.
//
// Every copy is read-only: a file, folder, pipe or device node in the
// backup has its source's mode minus the write bits (0644 becomes 0444),
// while the manifest records the source's mode, which Restore gives back
// and Verify checks (manifest.Manifest.ReadOnly). Copies are hard links shared by
// backups; a write to one (an editor or sqlite3 opened on a backup, which
// folds its WAL back into the database on close) would change them all, and
// only root can now make it, by changing the mode first, which Verify
// reports. Folders are read-only too: the updater runs as root, which can
// remove them anyway, and a process that is not root makes a folder
// writable again just before it removes it or (Finish) changes it. A copy
// in a backup from before copies were read-only becomes read-only when a
// new backup links to it; that backup's Verify accepts both modes.
//
// opts label the backup (DataOf, TakenBefore) and name the extra paths
// it holds besides src (Paths), each backed up as src is, into a part of
// the same backup; they are recorded only when the backup is made, not by
// a call that finds it made (one that finds it half-finished passes them
// to Finish).
//
// Create is idempotent: when <root>/<id> already holds a complete backup it
// returns that backup without copying anything, even if src has changed
// since (Finish brings it up to date). A leftover <root>/.<id>.partial from
// an interrupted run is removed and the copy is redone; a backup whose
// Finish was interrupted is finished. A missing src is an empty backup
// (its manifest says sourceMissing), not an error.
//
// The copy keeps regular files (content, holes of sparse files, mode,
// owner when running as root, mtime), folders (mode, owner, mtime,
// including empty ones), symlinks (as symlinks, never followed), named
// pipes and device nodes (devices only as root). Sockets are skipped and
// listed in the manifest, as are entries that vanish while Create runs.
// Names are byte strings: newlines and bytes that are not UTF-8 survive.
//
// On any error, including ctx being cancelled and a full disk, Create
// removes the partial folder and returns a wrapped error; callers use
// errors.Is with ErrInvalidID, ErrIncomplete, ErrSourceNotFolder,
// ErrRootInsideSource, ErrInvalidPath (a bad extra path, refused before
// anything is written), ErrCorrupt, context.Canceled or syscall.ENOSPC.
func Create(ctx context.Context, src, root, id string, opts ...Option) (b Backup, err error) {
	if err := ValidateID(id); err != nil {
		return Backup{}, err
	}
	switch st, err := stateOf(root, id); {
	case err != nil:
		return Backup{}, err
	case st.complete != nil:
		return backupOf(st.complete, root), nil
	case st.finishing != nil:
		return Finish(ctx, src, root, id, opts...)
	case st.exists:
		return Backup{}, st.incompleteErr
	}
	if err := ctx.Err(); err != nil {
		return Backup{}, fmt.Errorf("cannot create backup %s: %w", id, err)
	}
	var o settings
	for _, opt := range opts {
		opt(&o)
	}
	installDir, srcExists, err := checkCreate(src, root, o)
	if err != nil {
		return Backup{}, err
	}
	partial, err := makePartial(root, id)
	if err != nil {
		return Backup{}, err
	}
	defer func() {
		if err != nil {
			if rmErr := removeTree(partial); rmErr != nil {
				err = errors.Join(err, fmt.Errorf("cannot remove partial backup %s: %w", partial, rmErr))
			}
		}
	}()

	m := &manifest.Manifest{
		Kind:        manifest.Kind,
		Version:     manifest.Version,
		ID:          id,
		Source:      src,
		Owners:      os.Geteuid() == 0,
		CreatedAt:   time.Now().UTC(),
		DataOf:      o.dataOf,
		TakenBefore: o.takenBefore,
		ReadOnly:    true,
	}
	prevM, prevDir, err := newestBackup(root, id, m.Owners)
	if err != nil {
		return Backup{}, err
	}
	var prev *baseBackup
	if prevM != nil && !prevM.SourceMissing {
		prev = newBase(prevM, filepath.Join(prevDir, DataDir))
	}
	wb, err := openWriteBack(partial)
	if err != nil {
		return Backup{}, err
	}
	defer wb.close()
	if err := hotTree(ctx, src, "", srcExists, partial, m, prev, wb); err != nil {
		return Backup{}, err
	}
	// Each extra path in a folder of its own, as its own backup; the
	// main manifest, written last, makes them all count.
	for _, p := range o.paths {
		if err := createPart(ctx, installDir, p, partial, m, partBase(prevM, prevDir, p, m.Owners), wb); err != nil {
			return Backup{}, err
		}
		m.Parts = append(m.Parts, p)
	}
	m.ComputeTotals()
	if err := ctx.Err(); err != nil {
		return Backup{}, fmt.Errorf("cannot create backup %s: %w", id, err)
	}
	if err := writeNewManifest(m, partial); err != nil {
		return Backup{}, err
	}
	// Copies and manifests durable, then the rename that makes the
	// backup count.
	if err := wb.finish(); err != nil {
		return Backup{}, err
	}
	if err := atomicfile.Rename(partial, filepath.Join(root, id)); err != nil {
		return Backup{}, err
	}
	remember(filepath.Join(root, id), m)
	return backupOf(m, root), nil
}

// checkCreate makes the checks Create makes before it writes anything,
// with the options o: the extra paths are valid (installDir is their
// folder made absolute, "" without them), src is a folder or missing
// (srcExists says which), and root is outside src and every extra path.
func checkCreate(src, root string, o settings) (installDir string, srcExists bool, err error) {
	installDir, err = checkExtraPaths(src, o)
	if err != nil {
		return "", false, err
	}
	srcInfo, err := statSource(src)
	if err != nil {
		return "", false, err
	}
	// Checked before anything is created, or creating root would already
	// have modified src.
	if err := checkRootOutside(src, root); err != nil {
		return "", false, err
	}
	for _, p := range o.paths {
		if err := checkRootOutside(filepath.Join(installDir, filepath.FromSlash(p)), root); err != nil {
			return "", false, err
		}
	}
	return installDir, srcInfo != nil, nil
}

// makePartial creates root if need be and the empty partial folder of
// backup id in it, <root>/.<id>.partial, removing a leftover of an
// interrupted Create first. It returns the partial folder.
func makePartial(root, id string) (string, error) {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", fmt.Errorf("cannot create backup root %s: %w", root, err)
	}
	partial := filepath.Join(root, "."+id+partialSuffix)
	if err := removeTree(partial); err != nil {
		return "", fmt.Errorf("cannot remove leftover partial backup %s: %w", partial, err)
	}
	if err := os.Mkdir(partial, 0o700); err != nil {
		return "", fmt.Errorf("cannot create partial backup %s: %w", partial, err)
	}
	return partial, nil
}

// statSource returns the info of src, nil when it does not exist.
func statSource(src string) (fs.FileInfo, error) {
	fi, err := os.Stat(src) // follows a symlinked data/ on purpose: it may point at a volume
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("cannot inspect source folder %s: %w", src, err)
	case !fi.IsDir():
		return nil, fmt.Errorf("cannot back up %s: %w", src, ErrSourceNotFolder)
	}
	return fi, nil
}

// hotTree takes the hot pass of one tree of a backup into dir/data (dir
// is the partial backup folder, or an extra path's folder in it) and
// fills m with what it copied: the folder src, or when only is not ""
// src narrowed to its entry only (an extra path). exists says whether src
// exists; a missing one is recorded as SourceMissing, with an empty
// data/. prev is the copy of the same tree in an earlier backup to link
// unchanged files to, or nil. Once the copies are written, wb starts
// writing them back while their sizes are checked.
func hotTree(ctx context.Context, src, only string, exists bool, dir string, m *manifest.Manifest, prev *baseBackup, wb *writeBack) error {
	dataDst := filepath.Join(dir, DataDir)
	if !exists {
		m.SourceMissing = true
		if err := os.Mkdir(dataDst, 0o700); err != nil {
			return fmt.Errorf("cannot create folder %s: %w", dataDst, err)
		}
		return nil
	}
	p := newHotPass(ctx, src, only, dataDst, m.Owners, prev)
	if err := p.run(); err != nil {
		return err
	}
	wb.start()
	unchecked := p.fill(m)
	if prev != nil {
		m.Base = prev.m.ID
	}
	return checkSizes(ctx, m.ID, dataDst, unchecked)
}

// createPart takes the hot pass of the extra path p (below installDir)
// into its folder in the partial backup folder partial, whose manifest m
// it copies the header of, and writes its manifest there. prev is the
// same path's copy in the newest backup, or nil; wb makes it durable.
func createPart(ctx context.Context, installDir, p, partial string, m *manifest.Manifest, prev *baseBackup, wb *writeBack) error {
	dir := partFolder(partial, p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create folder %s: %w", dir, err)
	}
	folder, name := partSource(installDir, p)
	info, err := statSource(folder)
	if err != nil {
		return fmt.Errorf("cannot back up extra path %q: %w", p, err)
	}
	pm := &manifest.Manifest{
		Kind:      manifest.Kind,
		Version:   manifest.Version,
		ID:        m.ID,
		Source:    filepath.Join(folder, name),
		Part:      p,
		Owners:    m.Owners,
		CreatedAt: m.CreatedAt,
		ReadOnly:  true,
	}
	if err := hotTree(ctx, folder, name, info != nil, dir, pm, prev, wb); err != nil {
		return err
	}
	pm.ComputeTotals()
	return writeNewManifest(pm, dir)
}

// newestBackup returns the manifest and folder of the newest complete
// backup under root other than id, whose copies a new backup may link to,
// or nil. A backup made with a different owner policy cannot be linked
// to: its copies carry different owners.
func newestBackup(root, id string, owners bool) (*manifest.Manifest, string, error) {
	list, err := List(root)
	if err != nil {
		return nil, "", err
	}
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].ID == id {
			continue
		}
		m, err := readManifestCached(list[i].Path, ManifestName)
		if err != nil {
			continue // vanished or damaged since List: try an older one
		}
		// Version 1 did not record the owner policy: the check after
		// each link compares the copy's real owner instead.
		if m.Version > 1 && m.Owners != owners {
			return nil, "", nil
		}
		return m, list[i].Path, nil
	}
	return nil, "", nil
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
	if within(realSrc, realRoot) {
		return fmt.Errorf("cannot back up %s into %s: %w (move the backup root outside the data folder)", src, root, ErrRootInsideSource)
	}
	return nil
}

// within reports whether p is dir or lies below it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
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

// backupState is what <root>/<id> holds.
type backupState struct {
	exists bool
	// complete is the manifest header (no entries) of a complete backup.
	complete *manifest.Manifest
	// finishing is the manifest header of a backup whose Finish was
	// interrupted.
	finishing *manifest.Manifest
	// incompleteErr wraps ErrIncomplete when the folder exists but is
	// neither complete nor finishing.
	incompleteErr error
}

func stateOf(root, id string) (backupState, error) {
	dir := filepath.Join(root, id)
	if _, err := os.Lstat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return backupState{}, nil
		}
		return backupState{}, fmt.Errorf("cannot inspect backup folder %s: %w", dir, err)
	}
	st := backupState{exists: true}
	m, err := readHeaderCached(filepath.Join(dir, ManifestName))
	if err == nil && m.ID == id {
		st.complete = m
		return st, nil
	}
	if err != nil {
		if fm, ferr := manifest.ReadHeader(filepath.Join(dir, finishingName)); ferr == nil && fm.ID == id {
			st.finishing = fm
			return st, nil
		}
	} else {
		err = fmt.Errorf("manifest names backup %q", m.ID)
	}
	st.incompleteErr = fmt.Errorf("cannot use backup folder %s: %w: %w (remove the folder to let the backup be redone)", dir, ErrIncomplete, err)
	return st, nil
}

// load returns the manifest, entries included, of the complete backup
// <root>/<id>: ErrNotFound when there is no such folder, ErrIncomplete when
// it is not a complete backup. The manifest may be shared: read it only.
func load(root, id string) (*manifest.Manifest, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	st, err := stateOf(root, id)
	switch {
	case err != nil:
		return nil, err
	case !st.exists:
		return nil, fmt.Errorf("cannot use backup %s in %s: %w", id, root, ErrNotFound)
	case st.complete != nil:
		return readManifestCached(filepath.Join(root, id), ManifestName)
	case st.finishing != nil:
		return nil, fmt.Errorf("cannot use backup folder %s: %w: its cold pass (Finish) was interrupted (run it again to complete the backup)", filepath.Join(root, id), ErrIncomplete)
	}
	return nil, st.incompleteErr
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
		st, err := stateOf(root, e.Name())
		if err != nil || st.complete == nil {
			continue
		}
		out = append(out, backupOf(st.complete, root))
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].CreatedAt.Equal(out[j].CreatedAt) {
			return out[i].CreatedAt.Before(out[j].CreatedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Retention says which backups Prune keeps.
type Retention struct {
	// Keep is how many backups to keep in total, protected ones
	// included; more stay when more are protected. Must not be negative.
	Keep int
	// Protect are backups never removed: the one the current update
	// made, and the one of the last known good version's data.
	Protect []string
	// Succeeded are the IDs of backups taken by updates that succeeded
	// and Failed those of updates that failed (rolled back, or not), as
	// the update history records them; a backup's ID is its update's.
	// A backup in neither (its history entry is gone, or there is none)
	// counts as successful when it had its cold pass and as a failed
	// attempt when it did not.
	Succeeded, Failed []string
}

// Prune removes complete backups under root until r.Keep are left, never
// one in r.Protect, in this order: first the backups of failed attempts
// and those that never had their cold pass (only a hot pass, copied while
// the app wrote: possibly inconsistent), oldest first; then the oldest
// backups of updates that succeeded. A failed attempt's backup is the
// least useful: the data it holds stayed in use, and a later backup holds
// it more recently. It returns the IDs it removed, in the order it removed
// them, also when it stops on an error.
//
// Removing a backup never harms another: files shared between backups are
// hard links, and removing one name leaves the others.
//
// Each backup is first renamed to <root>/.<id>.deleting, so a crash halfway
// through a deletion never leaves a half-deleted folder that List would
// report as complete; leftovers of that kind are removed on the next Prune.
// Incomplete folders, partial backups and backups whose Finish was
// interrupted are left alone. A negative Keep is ErrInvalidKeep.
func Prune(root string, r Retention) (removed []string, err error) {
	if r.Keep < 0 {
		return nil, fmt.Errorf("cannot prune backups in %s to %d: %w", root, r.Keep, ErrInvalidKeep)
	}
	if err := removeLeftoverDeletions(root); err != nil {
		return nil, err
	}
	backups, err := List(root)
	if err != nil {
		return nil, err
	}
	for _, b := range pruneOrder(backups, r) {
		doomed := filepath.Join(root, "."+b.ID+deletingSuffix)
		if err := atomicfile.Rename(b.Path, doomed); err != nil {
			return removed, fmt.Errorf("cannot remove backup %s: %w", b.ID, err)
		}
		forget(b.Path)
		removed = append(removed, b.ID)
		if err := removeTree(doomed); err != nil {
			return removed, fmt.Errorf("cannot remove backup folder %s: %w", doomed, err)
		}
	}
	return removed, nil
}

// pruneOrder returns the backups (oldest first, as List gives them) that
// r removes, in the order to remove them. It decides without touching
// anything.
func pruneOrder(backups []Backup, r Retention) []Backup {
	in := func(ids []string) map[string]bool {
		set := make(map[string]bool, len(ids))
		for _, id := range ids {
			set[id] = true
		}
		return set
	}
	protected, succeeded, failed := in(r.Protect), in(r.Succeeded), in(r.Failed)
	var attempts, successes []Backup
	for _, b := range backups {
		switch {
		case protected[b.ID]:
		case b.FinishedAt.IsZero() || (failed[b.ID] && !succeeded[b.ID]):
			attempts = append(attempts, b)
		default:
			successes = append(successes, b)
		}
	}
	excess := len(backups) - r.Keep
	if excess <= 0 {
		return nil
	}
	doomed := append(attempts, successes...)
	return doomed[:min(excess, len(doomed))]
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

// removeTree removes path and everything below it. A backup's folders are
// read-only, so a non-root process meets folders it cannot empty; on a
// permission error it makes every folder writable for its owner and tries
// again.
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
