package backup

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// partsDir is the folder of a backup holding one folder per extra path.
const partsDir = "parts"

// ErrInvalidPath means an extra path given to Paths cannot be backed up
// with the data folder: it is not a clean, relative, slash-separated path
// inside the install folder (empty, absolute, ".", with a ".." or "."
// component, not UTF-8, its folder name too long), it is listed twice or
// inside another one, or it overlaps the data folder. The fix is to
// correct backup.paths in updater.yaml, which refuses all of these at load.
var ErrInvalidPath = errors.New("invalid extra path")

// Paths makes Create back up, with the data folder and into the same
// backup, the files and folders paths below installDir: state the app
// keeps beside its data folder (a .env file, migrations generated into
// the install). Each path is relative to installDir and slash-separated,
// and may be a file, a folder, a symlink (kept as one) or missing, which
// the backup records (see RestoreAll). Create refuses paths that are not
// clean and inside installDir, that repeat or contain one another, or that
// overlap the data folder (ErrInvalidPath), before writing anything.
//
// Each extra path is backed up like the data folder, by the same passes:
// into a folder of its own, <root>/<id>/parts/<name>/ with its own
// MANIFEST.json and data/, where <name> is the path with '%', '/', control
// characters and a leading '.' percent-encoded (".env" is "%2Eenv",
// "var/gen" is "var%2Fgen"). Its data/ is the folder that holds the path,
// narrowed to the path: data/.env, data/migrations/... Unchanged files
// are hard-linked to the same extra path's copies in the newest backup,
// copies are read-only and sparse files stay sparse; Verify checks each,
// Finish brings each up to date (it needs Paths for the install folder,
// see Finish), and the backup counts only once all of them and the data
// folder are whole. The main manifest lists them
// (manifest.Manifest.Parts) and Backup.Paths reports them.
//
// With Finish, Paths gives the install folder only: a backup's extra
// paths are those its hot pass recorded, whatever paths says then.
// EstimateCreate counts the extra paths' copies when given Paths too.
func Paths(installDir string, paths ...string) Option {
	return func(s *settings) {
		s.installDir = installDir
		s.paths = append([]string(nil), paths...)
	}
}

// PathCopy returns where backup b holds its copy of the extra path p (as
// given to Paths): <b.Path>/parts/<name>/data/<base of p>, a file or a
// folder as p was, or nothing there when p was missing. It returns ""
// when b does not hold p.
func (b Backup) PathCopy(p string) string {
	for _, q := range b.Paths {
		if q == p && manifest.PartProblem(p) == "" { // List reads manifest headers unchecked
			return filepath.Join(partFolder(b.Path, p), DataDir, path.Base(p))
		}
	}
	return ""
}

// partFolder is the folder of the extra path p in the backup folder dir.
func partFolder(dir, p string) string {
	return filepath.Join(dir, partsDir, manifest.PartName(p))
}

// checkExtraPaths checks the extra paths given to Create (or
// EstimateCreate) with the data folder src and returns installDir made
// absolute ("" without extra paths). Paths are compared as written,
// without looking at the disk, as config compares them.
func checkExtraPaths(src string, s settings) (installDir string, err error) {
	if len(s.paths) == 0 {
		return "", nil
	}
	installDir, err = filepath.Abs(s.installDir)
	if err != nil || s.installDir == "" {
		return "", fmt.Errorf("cannot back up extra paths: %w: the install folder %q is not a folder path", ErrInvalidPath, s.installDir)
	}
	absSrc, err := filepath.Abs(src)
	if err != nil {
		return "", fmt.Errorf("cannot resolve source folder %s: %w", src, err)
	}
	for i, p := range s.paths {
		why := manifest.PartProblem(p)
		for _, q := range s.paths[:i] {
			if why == "" && manifest.PartProblem(q) == "" {
				why = manifest.OverlapProblem(p, q)
			}
		}
		if abs := filepath.Join(installDir, filepath.FromSlash(p)); why == "" && (within(absSrc, abs) || within(abs, absSrc)) {
			why = fmt.Sprintf("it overlaps the data folder %s, which is backed up on its own", src)
		}
		if why != "" {
			return "", fmt.Errorf("cannot back up extra path %q of %s: %w: %s", p, installDir, ErrInvalidPath, why)
		}
	}
	return installDir, nil
}

// readPart reads the manifest file name (ManifestName, or finishingName
// for an interrupted cold pass) of the extra path p in the backup folder
// dir of backup id: it must name the backup and the path. The manifest
// may be shared: read it only.
func readPart(dir, id, p, name string) (*manifest.Manifest, error) {
	pm, err := readManifestCached(partFolder(dir, p), name)
	if err != nil {
		return nil, err
	}
	if pm.ID != id || pm.Part != p {
		return nil, fmt.Errorf("cannot use the manifest of extra path %q in %s: %w: it names backup %q, extra path %q",
			p, dir, ErrIncomplete, pm.ID, pm.Part)
	}
	return pm, nil
}

// partBase returns the copy of the extra path p in the backup folder dir
// (manifest m) to link unchanged files to, or nil: none when that backup
// does not hold p, holds it missing, or copied owners otherwise.
func partBase(m *manifest.Manifest, dir, p string, owners bool) *baseBackup {
	if m == nil {
		return nil
	}
	for _, q := range m.Parts {
		if q != p {
			continue
		}
		pm, err := readPart(dir, m.ID, p, ManifestName)
		if err != nil || pm.Owners != owners || pm.SourceMissing {
			return nil
		}
		return newBase(pm, filepath.Join(partFolder(dir, p), DataDir))
	}
	return nil
}

// partSource returns the folder that holds the extra path p below
// installDir and p's name in it: what the passes walk, narrowed.
func partSource(installDir, p string) (folder, name string) {
	abs := filepath.Join(installDir, filepath.FromSlash(p))
	return filepath.Dir(abs), filepath.Base(abs)
}

// displayPath is how a mismatch at entry rel of the extra path p's
// manifest is named: relative to the install folder, like p.
func displayPath(p, rel string) string {
	return path.Join(path.Dir(p), rel)
}
