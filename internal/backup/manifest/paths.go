package manifest

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// ErrUnsafePath means a backup's manifest lists a path that a restore
// could not create inside the data folder in manifest order: absolute,
// with a "..", "." or empty component, a trailing slash or a NUL byte,
// listed twice, or below something that is not a folder listed before
// it (a symlink, say); or names an extra path (Parts, Part) that is not
// one (see PartProblem), or entries of an extra path that lie outside
// it. Such a manifest was edited or damaged: Decode refuses it, so every
// operation that reads it refuses it before touching any file, and the
// fix is to restore from another backup.
var ErrUnsafePath = errors.New("unsafe path in backup manifest")

// checkPaths refuses a manifest whose entries a restore could not create
// inside the data folder, one after the other, in manifest order. It is
// the trust boundary for every path a manifest holds: Decode calls it,
// so the backup package's Verify, Restore, Finish and incremental Create
// never see a manifest that fails it. A path must be "." (the data folder
// itself, first and a folder) or clean, relative and slash-separated:
// not empty, not absolute, no "", "." or ".." component (so no repeated
// or trailing slash), no NUL byte. Its parent must be the data folder or
// a folder listed earlier (never a symlink, which a restore would
// follow), and no path may be listed twice. The error wraps
// ErrUnsafePath and names the backup, the first bad entry and why.
func (m *Manifest) checkPaths() error {
	i, why, ordered := m.checkPathsOrdered()
	if !ordered {
		i, why = m.checkPathsAnyOrder()
	}
	if why != "" {
		return fmt.Errorf("%w: backup %s, entry %q: %s (the manifest was edited or damaged; restore from another backup)", ErrUnsafePath, m.ID, m.Entries[i].Path, why)
	}
	return nil
}

// checkPathsOrdered is checkPaths for a manifest in the order Entries
// documents, which the backup package writes: the entries of one folder together, in increasing byte
// order of their names. Two entries with one path would then have to be
// neighbours, so only folders are remembered: a 50,000-entry manifest
// costs a pass over each path and a few hundred map inserts, not 50,000
// (BenchmarkCheckPaths). ordered is false when the entries are in another
// order (written by hand, say); checkPathsAnyOrder decides then. It
// returns the index of the first bad entry and why, or "".
func (m *Manifest) checkPathsOrdered() (bad int, why string, ordered bool) {
	began := map[string]bool{".": false} // listed folders: has their run of entries begun?
	run, prev := "", ""                  // the folder of the current run and the last name in it
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.Path == "." {
			if why := rootProblem(e, i); why != "" {
				return i, why, true
			}
			continue
		}
		if why := lexicalProblem(e.Path); why != "" {
			return i, why, true
		}
		parent, name := splitPath(e.Path)
		if parent != run { // run is "" at first, never a folder
			started, listed := began[parent]
			switch {
			case !listed:
				return i, m.parentProblem(parent, i), true
			case started:
				return 0, "", false // a second run of one folder
			}
			began[parent] = true
			run, prev = parent, name
		} else if name <= prev {
			return 0, "", false // not in increasing order
		}
		prev = name
		if e.Type == TypeDir {
			began[e.Path] = false
		}
	}
	return 0, "", true
}

// checkPathsAnyOrder is checkPaths for entries in any order: one map
// insert per entry. It returns the index of the first bad entry and why,
// or "".
func (m *Manifest) checkPathsAnyOrder() (bad int, why string) {
	isDir := make(map[string]bool, len(m.Entries))
	checked := "." // a parent known to be a listed folder
	for i := range m.Entries {
		e := &m.Entries[i]
		if e.Path == "." {
			why = rootProblem(e, i)
		} else if why = lexicalProblem(e.Path); why == "" {
			if parent, _ := splitPath(e.Path); parent != checked {
				if dir, listed := isDir[parent]; parent != "." && (!listed || !dir) {
					why = m.parentProblem(parent, i)
				} else {
					checked = parent
				}
			}
		}
		if why == "" {
			n := len(isDir)
			isDir[e.Path] = e.Type == TypeDir
			if len(isDir) == n {
				why = "it is listed twice"
			}
		}
		if why != "" {
			return i, why
		}
	}
	return 0, ""
}

func rootProblem(e *Entry, i int) string {
	switch {
	case i != 0:
		return `the root "." must be the first entry and listed once`
	case e.Type != TypeDir:
		return fmt.Sprintf(`the root "." must be a folder, not a %s`, e.Type)
	}
	return ""
}

// parentProblem says why parent, the folder of entry i, is not a folder
// listed before it. It is only called once it is known not to be one.
func (m *Manifest) parentProblem(parent string, i int) string {
	for j := range m.Entries[:i] {
		if m.Entries[j].Path == parent && m.Entries[j].Type != TypeDir {
			return fmt.Sprintf("its parent %q is a %s, not a folder", parent, m.Entries[j].Type)
		}
	}
	return fmt.Sprintf("its folder %q is not listed before it", parent)
}

// splitPath splits p, a clean relative path, into its folder ("." at
// the top) and its name.
func splitPath(p string) (dir, name string) {
	for j := len(p) - 1; j > 0; j-- {
		if p[j] == '/' {
			return p[:j], p[j+1:]
		}
	}
	return ".", p
}

// lexicalProblem says why p is not a clean, relative, slash-separated
// path below the data folder, or "" when it is one.
func lexicalProblem(p string) string {
	switch {
	case p == "":
		return "the path is empty"
	case p[0] == '/':
		return "the path is absolute"
	case p[len(p)-1] == '/':
		return "the path ends with a slash"
	}
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) {
			switch p[i] {
			case 0:
				return "the path contains a NUL byte"
			case '/':
			default:
				continue
			}
		}
		switch p[start:i] {
		case "":
			return "the path has an empty component (repeated slashes)"
		case ".":
			return `the path has a "." component`
		case "..":
			return `the path has a ".." component, which leads out of the backup`
		}
		start = i + 1
	}
	return ""
}

// maxNameLen is the longest file name common Linux filesystems take.
const maxNameLen = 255

// PartName returns the name of the folder that holds the extra path p in
// a backup's parts/ folder: p with '%', '/', control characters and a
// leading '.' percent-encoded, so that it is one name, never hidden (or
// "." or "..") and never the same for two paths. It is part of the
// on-disk format: a backup written with one PartName must be found with
// the next.
func PartName(p string) string {
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

// PartProblem says why p cannot be an extra path (an entry of Parts, or
// Part), or returns "" when it can be one: p must be a clean, relative,
// slash-separated path other than "." (as for an entry's path), UTF-8,
// and short enough that PartName(p) is a file name. The backup package
// checks the extra paths it is given with it; Decode checks those a
// manifest names.
func PartProblem(p string) string {
	if p == "." {
		return "it is the install folder itself"
	}
	if why := lexicalProblem(p); why != "" {
		return why
	}
	if !utf8.ValidString(p) {
		return "it is not UTF-8"
	}
	if len(PartName(p)) > maxNameLen {
		return fmt.Sprintf("it is too long to name its folder in the backup (more than %d bytes encoded)", maxNameLen)
	}
	return ""
}

// OverlapProblem says why the extra paths p and q (both accepted by
// PartProblem) cannot both be backed up, or returns "" when they can: p
// is q, or one is inside the other. It compares the paths as written.
func OverlapProblem(p, q string) string {
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

// checkParts is the trust boundary for the extra paths a manifest names
// (Parts, Part): each must be a path PartProblem accepts, listed once and
// not inside another, and the entries of an extra path's manifest must
// lie at or below the path's name, so that a restore moves out of its
// folder everything it restored. Decode calls it. The error wraps
// ErrUnsafePath.
func (m *Manifest) checkParts() error {
	bad := func(p, why string) error {
		return fmt.Errorf("%w: backup %s, extra path %q: %s (the manifest was edited or damaged; restore from another backup)", ErrUnsafePath, m.ID, p, why)
	}
	for i, p := range m.Parts {
		if why := PartProblem(p); why != "" {
			return bad(p, why)
		}
		for _, q := range m.Parts[:i] {
			if why := OverlapProblem(p, q); why != "" {
				return bad(p, why)
			}
		}
	}
	if m.Part == "" {
		return nil
	}
	if why := PartProblem(m.Part); why != "" {
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
