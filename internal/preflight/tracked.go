package preflight

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrDataTracked is wrapped by UntrackedData's error: the app's repository
// tracks files inside dataDir.
var ErrDataTracked = errors.New("data folder is tracked by git")

// UntrackedData checks that the app's repository tracks nothing inside
// dataDir, a folder inside installDir. A checkout writes and removes
// tracked files, so tracked data would be changed by an update, which the
// updater promises never to do, and a restore of the backup would undo
// the checkout's files again.
//
// tracked lists the tracked files of one version under a folder given
// relative to installDir with slashes ("data"), as slash-separated paths
// relative to installDir; a missing folder is no error and lists nothing.
// A function keeps this package from opening the checkout itself: the
// caller binds it to a version, and calls UntrackedData for the version
// running now and the one about to be checked out, since either tracking
// data is a problem.
//
// Errors: one naming up to five tracked paths and the fix, wrapping
// ErrDataTracked; "cannot list ..." wrapping tracked's error; an error
// when dataDir is not inside installDir (config refuses that at load).
func UntrackedData(installDir, dataDir, version string, tracked func(dir string) ([]string, error)) error {
	rel, err := filepath.Rel(installDir, dataDir)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return fmt.Errorf("cannot check dataDir %s: it is not a folder inside installDir %s", dataDir, installDir)
	}
	rel = filepath.ToSlash(rel)
	paths, err := tracked(rel)
	if err != nil {
		return fmt.Errorf("cannot list the files %s tracks in %s: %w", version, rel, err)
	}
	if len(paths) == 0 {
		return nil
	}
	shown := paths
	if len(shown) > 5 {
		shown = shown[:5]
	}
	more := ""
	if n := len(paths) - len(shown); n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	return fmt.Errorf("cannot update while dataDir %s is tracked by git: %s tracks %s%s; an update would change the app's data: remove them from the app's repository (git rm -r --cached %s, then add /%s/ to .gitignore) or set dataDir to a folder git does not track: %w",
		dataDir, version, strings.Join(shown, ", "), more, rel, rel, ErrDataTracked)
}

// UntrackedPaths checks that the app's repository tracks nothing at or
// under each of paths, the backup.paths of updater.yaml: files and folders
// relative to installDir, slash-separated, that are backed up and restored
// with dataDir. A checkout writes and removes tracked files, so a tracked
// extra path would be changed by an update and a restore would put the
// old version's copy back over the checkout's.
//
// tracked is as for UntrackedData, bound to one version; the caller checks
// the version running now and the one about to be checked out. A path
// that does not exist in the version lists nothing and is fine.
//
// Errors: one naming every tracked path (up to five files each) and the
// fix, wrapping ErrDataTracked; "cannot list ..." wrapping tracked's
// error.
func UntrackedPaths(paths []string, version string, tracked func(dir string) ([]string, error)) error {
	var found []string
	var fixes []string
	for _, p := range paths {
		files, err := tracked(p)
		if err != nil {
			return fmt.Errorf("cannot list the files %s tracks in %s: %w", version, p, err)
		}
		if len(files) == 0 {
			continue
		}
		shown := files
		if len(shown) > 5 {
			shown = shown[:5]
		}
		more := ""
		if n := len(files) - len(shown); n > 0 {
			more = fmt.Sprintf(" and %d more", n)
		}
		found = append(found, strings.Join(shown, ", ")+more)
		fixes = append(fixes, fmt.Sprintf("git rm -r --cached %s, then add /%s to .gitignore", p, p))
	}
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("cannot update while backup.paths holds files tracked by git: %s tracks %s; an update would change them and a restore would undo the checkout: "+
		"remove them from the app's repository (%s) or remove it from backup.paths in updater.yaml: %w",
		version, strings.Join(found, "; "), strings.Join(fixes, "; "), ErrDataTracked)
}
