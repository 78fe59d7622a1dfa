package backup

import "fmt"

// checkPaths refuses a manifest whose entries a restore could not create
// inside the data folder, one after the other, in manifest order. It is
// the trust boundary for every path a manifest holds: decodeManifest
// calls it, so Verify, Restore, Finish and an incremental Create never
// see a manifest that fails it. A path must be "." (the data folder
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

// checkPathsOrdered is checkPaths for a manifest in the order this
// package writes: the entries of one folder together, in increasing byte
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
