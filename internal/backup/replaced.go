package backup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/atomicfile"
)

// replacedTimeFormat is the UTC time in the name of a folder Restore set
// aside.
const replacedTimeFormat = "20060102T150405Z"

// Replaced is a copy of the data folder that Restore set aside when it put
// a backup in its place: <parent>/<name>.replaced-<UTC time>, with -1,
// -2, ... when several restores ran within one second.
type Replaced struct {
	// Path is the folder.
	Path string
	// ReplacedAt is the time in its name: when the restore moved the
	// data aside, to the second.
	ReplacedAt time.Time
	// seq is the -<n> suffix, 0 without one: it orders the folders of
	// one second.
	seq int
}

// ListReplaced returns the copies of dataDir that restores set aside and
// that are still there, oldest first. They lie beside the folder dataDir
// is, or points to when it is a symlink (a volume), as Restore puts them.
// Only folders whose name Restore could have given are listed: a folder
// named by hand, or a file, is not one of them. A missing parent folder
// has none.
func ListReplaced(dataDir string) ([]Replaced, error) {
	parent, name, err := replacedPlace(dataDir)
	if err != nil {
		return nil, err
	}
	return listReplaced(parent, name, false)
}

// ListReplacedPath returns what restores (RestoreAll) set aside of the
// extra path p below installDir and is still there, oldest first:
// <path>.replaced-<UTC time> beside it, files and folders alike, as an
// extra path may be either.
func ListReplacedPath(installDir, p string) ([]Replaced, error) {
	parent, name := partSource(installDir, p)
	return listReplaced(parent, name, true)
}

// listReplaced lists the copies of name set aside in parent: folders
// only unless anyType.
func listReplaced(parent, name string, anyType bool) ([]Replaced, error) {
	entries, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot list replaced data in %s: %w", parent, err)
	}
	var out []Replaced
	for _, e := range entries {
		if !e.IsDir() && !anyType {
			continue
		}
		if r, ok := parseReplaced(name, e.Name()); ok {
			r.Path = filepath.Join(parent, e.Name())
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].ReplacedAt.Equal(out[j].ReplacedAt) {
			return out[i].ReplacedAt.Before(out[j].ReplacedAt)
		}
		return out[i].seq < out[j].seq
	})
	return out, nil
}

// PruneReplaced removes the copies ListReplaced lists, oldest first, until
// the newest keep are left, and returns the paths it removed, also when it
// stops on an error. It runs after every backup, keeping as many as
// backups are kept: each copy is a whole copy of data/ (no hard links), and
// the newest is the one a human may still want after restoring the wrong
// backup. Like Prune, it first renames a copy to <parent>/.<folder>.deleting,
// so a crash halfway through leaves no half-deleted copy that looks whole,
// and it removes such leftovers. A negative keep is ErrInvalidKeep.
func PruneReplaced(dataDir string, keep int) (removed []string, err error) {
	if keep < 0 {
		return nil, fmt.Errorf("cannot prune replaced data of %s to %d: %w", dataDir, keep, ErrInvalidKeep)
	}
	parent, name, err := replacedPlace(dataDir)
	if err != nil {
		return nil, err
	}
	return pruneReplaced(parent, name, false, keep)
}

// PruneReplacedPath is PruneReplaced for what restores set aside of the
// extra path p below installDir (see ListReplacedPath).
func PruneReplacedPath(installDir, p string, keep int) (removed []string, err error) {
	if keep < 0 {
		return nil, fmt.Errorf("cannot prune replaced copies of %s to %d: %w", p, keep, ErrInvalidKeep)
	}
	parent, name := partSource(installDir, p)
	return pruneReplaced(parent, name, true, keep)
}

// pruneReplaced keeps the newest keep copies of name set aside in parent
// (folders only unless anyType).
func pruneReplaced(parent, name string, anyType bool, keep int) (removed []string, err error) {
	if err := removeLeftoverReplaced(parent, name); err != nil {
		return nil, err
	}
	list, err := listReplaced(parent, name, anyType)
	if err != nil {
		return nil, err
	}
	for _, r := range list[:max(0, len(list)-keep)] {
		doomed := filepath.Join(parent, "."+filepath.Base(r.Path)+deletingSuffix)
		if err := atomicfile.Rename(r.Path, doomed); err != nil {
			return removed, fmt.Errorf("cannot remove replaced data %s: %w", r.Path, err)
		}
		removed = append(removed, r.Path)
		if err := removeTree(doomed); err != nil {
			return removed, fmt.Errorf("cannot remove folder %s: %w", doomed, err)
		}
	}
	return removed, nil
}

// replacedPlace returns the folder where Restore sets aside the data it
// replaces in dataDir, and the name of the data folder there.
func replacedPlace(dataDir string) (parent, name string, err error) {
	target, err := restoreTarget(dataDir)
	if err != nil {
		return "", "", err
	}
	return filepath.Dir(target), filepath.Base(target), nil
}

// parseReplaced reads the name of a folder Restore set aside the data
// folder name as; ok is false for any other name.
func parseReplaced(name, folder string) (r Replaced, ok bool) {
	rest, found := strings.CutPrefix(folder, name+replacedInfix)
	if !found || len(rest) < len(replacedTimeFormat) {
		return Replaced{}, false
	}
	at, err := time.Parse(replacedTimeFormat, rest[:len(replacedTimeFormat)])
	if err != nil {
		return Replaced{}, false
	}
	r.ReplacedAt = at
	if suffix := rest[len(replacedTimeFormat):]; suffix != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(suffix, "-"))
		if !strings.HasPrefix(suffix, "-") || err != nil || n < 1 || strconv.Itoa(n) != suffix[1:] {
			return Replaced{}, false
		}
		r.seq = n
	}
	return r, true
}

// removeLeftoverReplaced removes what an interrupted PruneReplaced left:
// <parent>/.<name>.replaced-....deleting.
func removeLeftoverReplaced(parent, name string) error {
	entries, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cannot list replaced data in %s: %w", parent, err)
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "."+name+replacedInfix) && strings.HasSuffix(n, deletingSuffix) {
			if err := removeTree(filepath.Join(parent, n)); err != nil {
				return fmt.Errorf("cannot remove leftover folder %s: %w", filepath.Join(parent, n), err)
			}
		}
	}
	return nil
}
