package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// testHookVisit, when set by a test, is called with each entry after its
// folder was listed and before the entry is handed on, so a test can change
// the source at an exact point of a walk (make entries vanish).
var testHookVisit func(rel string)

// srcDir is one listed folder of the source.
type srcDir struct {
	rel      string
	st       stat
	at       time.Time // taken before the children's stats (see identity)
	children []child
	parent   *srcDir
	index    int // in parent.children
	aux      any // the visitor's state for this folder
}

// child is one entry of a listed folder.
type child struct {
	name string
	st   stat
	gone bool // vanished between the listing and its stat
}

// visitor receives the folders of a source from walkSource, parents before
// children, each with its entries in byte order of their names.
type visitor interface {
	// dir is called once per folder, after it was listed.
	dir(d *srcDir) error
	// vanished is called when the folder child i of d vanished before it
	// could be listed: a live folder changes under a hot pass.
	vanished(d *srcDir, i int)
}

// walkSource walks the folder src, whose stat is st, and everything below
// it without following symlinks.
func walkSource(ctx context.Context, src string, st *stat, v visitor) error {
	return walkDir(ctx, src, ".", st, nil, 0, v)
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

func walkDir(ctx context.Context, src, rel string, st *stat, parent *srcDir, index int, v visitor) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot finish backup: %w", err)
	}
	p := joinRel(src, rel)
	fd, err := openSourceDir(p, rel != ".")
	if err != nil {
		if vanished(err) && parent != nil {
			v.vanished(parent, index)
			return nil
		}
		return fmt.Errorf("cannot open folder %s: %w", p, err)
	}
	names, err := readNames(fd)
	if err != nil {
		unix.Close(fd)
		if vanished(err) && parent != nil {
			v.vanished(parent, index)
			return nil
		}
		return fmt.Errorf("cannot read folder %s: %w", p, err)
	}
	sort.Strings(names)
	// Stat every child through the folder's descriptor: no path lookups.
	d := &srcDir{rel: rel, st: *st, at: time.Now(), parent: parent, index: index, children: make([]child, len(names))}
	var sys unix.Stat_t
	for i, name := range names {
		if testHookVisit != nil {
			testHookVisit(childRel(rel, name))
		}
		c := &d.children[i]
		c.name = name
		if err := ignoringEINTR(func() error { return unix.Fstatat(fd, name, &sys, unix.AT_SYMLINK_NOFOLLOW) }); err != nil {
			if vanished(err) {
				c.gone = true
				continue
			}
			unix.Close(fd)
			return fmt.Errorf("cannot inspect %s: %w", joinRel(src, childRel(rel, name)), err)
		}
		c.st = fromSys(&sys)
	}
	unix.Close(fd)

	if err := v.dir(d); err != nil {
		return err
	}
	for i := range d.children {
		if c := &d.children[i]; !c.gone && c.st.mode.IsDir() {
			if err := walkDir(ctx, src, childRel(rel, c.name), &c.st, d, i, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// readNames lists the folder open as fd, without "." and "..".
func readNames(fd int) ([]string, error) {
	buf := make([]byte, 32<<10)
	var names []string
	for {
		var n int
		err := ignoringEINTR(func() (err error) { n, err = unix.Getdents(fd, buf); return err })
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return names, nil
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
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
