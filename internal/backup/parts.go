package backup

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// partsDir is the folder of a backup holding one folder per extra path.
const partsDir = "parts"

// maxNameLen is the longest file name common Linux filesystems take.
const maxNameLen = 255

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
// folder are whole. The main manifest lists them (Manifest.Parts) and
// Backup.Paths reports them.
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
		if q == p && pathProblem(p) == "" { // List reads manifest headers unchecked
			return filepath.Join(partFolder(b.Path, p), DataDir, path.Base(p))
		}
	}
	return ""
}

// partName returns the name of the folder that holds the extra path p in
// a backup's parts/ folder: p with '%', '/', control characters and a
// leading '.' percent-encoded, so that it is one name, never hidden (or
// "." or "..") and never the same for two paths.
func partName(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' || c == '/' || c < 0x20 || c == 0x7f || (i == 0 && c == '.') {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// partFolder is the folder of the extra path p in the backup folder dir.
func partFolder(dir, p string) string {
	return filepath.Join(dir, partsDir, partName(p))
}

// pathProblem says why p cannot be an extra path, or "".
func pathProblem(p string) string {
	if p == "." {
		return "it is the install folder itself"
	}
	if why := lexicalProblem(p); why != "" {
		return why
	}
	if !utf8.ValidString(p) {
		return "it is not UTF-8"
	}
	if len(partName(p)) > maxNameLen {
		return fmt.Sprintf("it is too long to name its folder in the backup (more than %d bytes encoded)", maxNameLen)
	}
	return ""
}

// overlapProblem says why the extra paths p and q (both without a
// pathProblem) cannot both be backed up, or "".
func overlapProblem(p, q string) string {
	switch {
	case p == q:
		return "it is listed twice"
	case strings.HasPrefix(p, q+"/"):
		return fmt.Sprintf("it is inside extra path %q", q)
	case strings.HasPrefix(q, p+"/"):
		return fmt.Sprintf("it holds extra path %q", q)
	}
	return ""
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
		why := pathProblem(p)
		for _, q := range s.paths[:i] {
			if why == "" && pathProblem(q) == "" {
				why = overlapProblem(p, q)
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

// checkParts is the trust boundary for the extra paths a manifest names
// (Parts, Part): each must be a path pathProblem accepts, listed once and
// not inside another, and the entries of an extra path's manifest must
// lie at or below the path's name, so that a restore moves out of its
// folder everything it restored. decodeManifest calls it. The error wraps
// ErrUnsafePath.
func (m *Manifest) checkParts() error {
	bad := func(p, why string) error {
		return fmt.Errorf("%w: backup %s, extra path %q: %s (the manifest was edited or damaged; restore from another backup)", ErrUnsafePath, m.ID, p, why)
	}
	for i, p := range m.Parts {
		if why := pathProblem(p); why != "" {
			return bad(p, why)
		}
		for _, q := range m.Parts[:i] {
			if why := overlapProblem(p, q); why != "" {
				return bad(p, why)
			}
		}
	}
	if m.Part == "" {
		return nil
	}
	if why := pathProblem(m.Part); why != "" {
		return bad(m.Part, why)
	}
	name := path.Base(m.Part)
	for i := range m.Entries {
		if e := m.Entries[i].Path; e != "." && e != name && !strings.HasPrefix(e, name+"/") {
			return bad(m.Part, fmt.Sprintf("entry %q is not at or below %q", e, name))
		}
	}
	return nil
}

// readPart reads the manifest file name (ManifestName, or finishingName
// for an interrupted cold pass) of the extra path p in the backup folder
// dir of backup id: it must name the backup and the path. The manifest
// may be shared: read it only.
func readPart(dir, id, p, name string) (*Manifest, error) {
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
func partBase(m *Manifest, dir, p string, owners bool) *baseBackup {
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
