package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"golang.org/x/sys/unix"
)

// testHookVisit, when set by a test, is called with the path of each
// folder before it is listed and of each other entry before its stat, so a
// test can change the source at an exact point of a pass (make entries
// vanish).
var testHookVisit func(rel string)

// srcDir is one listed folder of the source. The walk only lists: it
// learns which entries are folders from the listing itself (d_type) and
// leaves the stat of every other entry to the job that handles the folder,
// so that the stats, the bulk of a pass over many small files, run on all
// CPUs.
type srcDir struct {
	rel    string
	st     stat     // fstat of the folder as it was opened for listing
	names  []string // in byte order
	isDir  []bool   // names[i] is a folder
	parent *srcDir
	index  int // in parent.names
	aux    any // the visitor's state for this folder
}

// visitor receives the folders of a source from walkSource, parents before
// children. Both methods are called from the walk's goroutine only.
type visitor interface {
	// dir is called once per folder, after it was listed.
	dir(d *srcDir) error
	// vanished is called when the folder names[i] of d vanished (or is
	// no longer a folder) before it could be listed: a live folder
	// changes under a hot pass.
	vanished(d *srcDir, i int)
}

// walkSource walks the folder src and everything below it without
// following symlinks (src itself may be a symlink to a folder). When only
// is not "", the walk sees src itself and, of its entries, only the one
// named only (and what is below it): an extra path is the folder that
// holds it, narrowed to its name (see Paths).
func walkSource(ctx context.Context, src, only string, v visitor) error {
	return walkDir(ctx, src, ".", nil, 0, only, v)
}

// joinRel returns the path of rel (slash-separated, "." for the top)
// below dir. Names are joined as they are: filepath.Join would clean them.
func joinRel(dir, rel string) string {
	if rel == "." {
		return dir
	}
	return dir + "/" + rel
}

func childRel(rel, name string) string {
	if rel == "." {
		return name
	}
	return rel + "/" + name
}

func walkDir(ctx context.Context, src, rel string, parent *srcDir, index int, only string, v visitor) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot walk %s: %w", src, err)
	}
	if testHookVisit != nil && parent != nil {
		testHookVisit(rel)
	}
	p := joinRel(src, rel)
	fd, err := openSourceDir(p, parent != nil)
	if err != nil {
		if vanished(err) && parent != nil {
			v.vanished(parent, index)
			return nil
		}
		return fmt.Errorf("cannot open folder %s: %w", p, err)
	}
	d := &srcDir{rel: rel, parent: parent, index: index}
	err = func() error {
		defer unix.Close(fd)
		var sys unix.Stat_t
		if err := unix.Fstat(fd, &sys); err != nil {
			return err
		}
		d.st = fromSys(&sys)
		if err := readDir(fd, d); err != nil {
			return err
		}
		if only != "" {
			narrow(d, only)
		}
		return nil
	}()
	if err != nil {
		if vanished(err) && parent != nil {
			v.vanished(parent, index)
			return nil
		}
		return fmt.Errorf("cannot read folder %s: %w", p, err)
	}
	if err := v.dir(d); err != nil {
		return err
	}
	for i, name := range d.names {
		if d.isDir[i] {
			if err := walkDir(ctx, src, childRel(rel, name), d, i, "", v); err != nil {
				return err
			}
		}
	}
	return nil
}

// narrow keeps, of the entries of d, only the one named name, if any.
func narrow(d *srcDir, name string) {
	for i, n := range d.names {
		if n == name {
			d.names, d.isDir = d.names[i:i+1], d.isDir[i:i+1]
			return
		}
	}
	d.names, d.isDir = nil, nil
}

// dirent is one entry of a listing.
type dirent struct {
	name  string
	isDir bool
}

// readDir lists the folder open as fd into d, sorted by name.
func readDir(fd int, d *srcDir) error {
	ents, err := listDir(fd)
	if err != nil {
		return err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].name < ents[j].name })
	d.names = make([]string, len(ents))
	d.isDir = make([]bool, len(ents))
	for i, e := range ents {
		d.names[i], d.isDir[i] = e.name, e.isDir
	}
	return nil
}

// statChild stats the entry name of the folder open as fd.
func statChild(fd int, name string) (stat, error) {
	var sys unix.Stat_t
	if err := ignoringEINTR(func() error { return unix.Fstatat(fd, name, &sys, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
		return stat{}, err
	}
	return fromSys(&sys), nil
}

// ignoringEINTR retries f while a signal interrupts it; the Go runtime's
// preemption signals make EINTR common on slow filesystems.
func ignoringEINTR(f func() error) error {
	for {
		err := f()
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
