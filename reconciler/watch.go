package reconciler

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// maxLinks bounds a link chain as the kernel does (MAXSYMLINKS); a longer
// chain is a loop, and what was met of it is still watched.
const maxLinks = 40

// digestLimit is how much of each file the poll hashes: desired.yaml may
// not be larger (spec.MaxFileSize), and the size is hashed as well.
const digestLimit = 64 << 10

// folderWatcher is the part of *fsnotify.Watcher a watchSet drives.
type folderWatcher interface {
	Add(path string) error
	Remove(path string) error
	WatchList() []string
}

// watchSet decides what Loop watches so that it sees every change to its
// files, whatever stands between a file's name and its content. A name is
// followed the way the kernel follows it, one element at a time; the
// folder of every link met on the way (a ConfigMap's desired.yaml and
// ..data, a link into a git checkout) and the folder of the file finally
// named are watched. Where a folder is missing, its nearest existing
// ancestor is watched instead, so its return is seen. Links and folders
// change under the set, so it is resolved again after every event.
type watchSet struct {
	files []string
	// watched maps each folder added to the watcher to what it was when
	// added: a folder renamed away and recreated keeps its name but is
	// another folder, whose watch must be added again.
	watched map[string]fs.FileInfo
	// names are the event names that concern a file: every link of its
	// chain, the file itself, and the missing folder on the way to it.
	names map[string]bool
	// failing is the last error sync reported, so it is logged once.
	failing string
}

func newWatchSet(files []string) *watchSet {
	s := &watchSet{watched: map[string]fs.FileInfo{}, names: map[string]bool{}}
	for _, f := range files {
		if abs, err := filepath.Abs(f); err == nil {
			f = abs
		}
		s.files = append(s.files, filepath.Clean(f))
	}
	return s
}

// folders returns the watched folders, sorted.
func (s *watchSet) folders() []string {
	return slices.Sorted(maps.Keys(s.watched))
}

// concerns reports whether an event on name may change one of the files.
func (s *watchSet) concerns(name string) bool {
	return s.names[filepath.Clean(name)]
}

// sync resolves the files again and makes w watch the folders they need
// now, and only those. It reports the folders it added and removed; an
// error means a folder could not be watched (permissions, the inotify
// watch limit), which the poll makes up for.
func (s *watchSet) sync(w folderWatcher) (added, removed []string, err error) {
	// After adding a watch, resolve again: a folder created between
	// resolving and watching its parent raised no event there, and a
	// folder can vanish before it is watched. A pass that adds nothing
	// ends it; the bound only guards against a tree that keeps changing.
	for range 8 {
		want := s.resolve()
		listed := map[string]bool{}
		for _, f := range w.WatchList() {
			listed[f] = true
		}
		var errs []error
		again := false
		for _, folder := range slices.Sorted(maps.Keys(want)) {
			fi := want[folder]
			if old, ok := s.watched[folder]; ok && listed[folder] && os.SameFile(old, fi) {
				continue
			}
			if listed[folder] {
				_ = w.Remove(folder) // another folder now bears the name
			}
			delete(s.watched, folder)
			if err := w.Add(folder); err != nil {
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
					again = true
				} else {
					errs = append(errs, fmt.Errorf("cannot watch %s: %w", folder, err))
				}
				continue
			}
			// What was resolved, not what is there after Add: if the two
			// differ, the next pass sees it and adds the watch again.
			s.watched[folder] = fi
			added = append(added, folder)
			again = true
		}
		for folder := range listed {
			if _, ok := want[folder]; !ok {
				_ = w.Remove(folder)
				removed = append(removed, folder)
			}
		}
		for folder := range s.watched {
			if _, ok := want[folder]; !ok {
				delete(s.watched, folder)
			}
		}
		err = errors.Join(errs...)
		if !again {
			break
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return slices.Compact(added), slices.Compact(removed), err
}

// resolve follows every file's chain and returns the folders to watch,
// each as it is now; it sets names.
func (s *watchSet) resolve() map[string]fs.FileInfo {
	want := map[string]fs.FileInfo{}
	clear(s.names)
	for _, f := range s.files {
		for _, name := range linkChain(f) {
			folder, fi := nearestFolder(filepath.Dir(name))
			if folder == "" {
				continue
			}
			want[folder] = fi
			s.names[name] = true
			if folder != filepath.Dir(name) {
				// The folder is missing: its creation is what to wait for.
				rel, err := filepath.Rel(folder, name)
				if err == nil {
					s.names[filepath.Join(folder, strings.Split(rel, string(filepath.Separator))[0])] = true
				}
			}
		}
	}
	return want
}

// linkChain follows path one element at a time, as the kernel does, and
// returns every link it met and the name it finally arrived at, each in a
// folder whose own links are resolved (the form event names take). The
// final name need not exist.
func linkChain(path string) []string {
	var names []string
	dir := string(filepath.Separator)
	rest := strings.Split(path, string(filepath.Separator))
	for links := 0; len(rest) > 0; {
		elem := rest[0]
		rest = rest[1:]
		switch elem {
		case "", ".":
			continue
		case "..":
			dir = filepath.Dir(dir)
			continue
		}
		name := filepath.Join(dir, elem)
		fi, err := os.Lstat(name)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			if err == nil && fi.IsDir() && len(rest) > 0 {
				dir = name
				continue
			}
			// The end, or missing (or not a folder) on the way: the name
			// to watch for is what the path names from here.
			return append(names, filepath.Join(append([]string{name}, rest...)...))
		}
		names = append(names, name)
		if links++; links > maxLinks {
			return names
		}
		target, err := os.Readlink(name)
		if err != nil {
			return names // replaced since Lstat; the event will follow
		}
		if filepath.IsAbs(target) {
			dir = string(filepath.Separator)
		}
		rest = append(strings.Split(target, string(filepath.Separator)), rest...)
	}
	return append(names, dir)
}

// nearestFolder returns dir, or its nearest ancestor that exists and is a
// folder, with what it is now. dir's own links are resolved, so Lstat is
// what the kernel would see.
func nearestFolder(dir string) (string, fs.FileInfo) {
	for {
		if fi, err := os.Lstat(dir); err == nil && fi.IsDir() {
			return dir, fi
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

// digest sums what the files hold now, read through their links: each
// file's size and at most its first 64 KiB. A missing or unreadable file
// sums as that condition, so a file appearing, vanishing or changing all
// change the digest, and an unchanged file costs one small read.
func (s *watchSet) digest() [sha256.Size]byte {
	h := sha256.New()
	for _, name := range s.files {
		fmt.Fprintf(h, "%q ", name)
		f, err := os.Open(name)
		if errors.Is(err, fs.ErrNotExist) {
			h.Write([]byte("missing\n"))
			continue
		} else if err != nil {
			h.Write([]byte("unreadable\n"))
			continue
		}
		if fi, err := f.Stat(); err == nil {
			fmt.Fprintf(h, "size=%d ", fi.Size())
		}
		if _, err := io.Copy(h, io.LimitReader(f, digestLimit)); err != nil {
			h.Write([]byte(" unreadable"))
		}
		f.Close()
		h.Write([]byte{'\n'})
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
