package backup

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/fault"
)

// baseBackup is an earlier backup a pass compares the source with: the
// previous backup for Create, the backup itself for Finish.
type baseBackup struct {
	m    *Manifest
	data string
	idx  map[string]int
}

func newBase(m *Manifest, data string) *baseBackup {
	idx := make(map[string]int, len(m.Entries))
	for i := range m.Entries {
		idx[m.Entries[i].Path] = i
	}
	return &baseBackup{m: m, data: data, idx: idx}
}

// lookup returns the entry recorded for rel and its index, or nil and -1.
func (b *baseBackup) lookup(rel string) (*Entry, int) {
	if b == nil {
		return nil, -1
	}
	i, ok := b.idx[rel]
	if !ok {
		return nil, -1
	}
	return &b.m.Entries[i], i
}

// dirFD opens the base backup's copy of the folder rel for linkat, or
// returns -1 when it has none.
func (b *baseBackup) dirFD(rel string) int {
	if be, _ := b.lookup(rel); be == nil || be.Type != TypeDir {
		return -1
	}
	fd, err := openDirPath(joinRel(b.data, rel))
	if err != nil {
		return -1
	}
	return fd
}

// slot is one source entry in walk order: the manifest entry, or why the
// entry is not in the backup. The walk creates slots; the job that handles
// an entry fills its slot in, which is why slots are pointers.
type slot struct {
	e    Entry
	skip string
}

func collect(slots []*slot) ([]Entry, []Skipped) {
	entries := make([]Entry, 0, len(slots))
	var skipped []Skipped
	for _, s := range slots {
		if s.skip != "" {
			skipped = append(skipped, Skipped{Path: s.e.Path, Reason: s.skip})
			continue
		}
		entries = append(entries, s.e)
	}
	return entries, skipped
}

type counters struct{ copied, linked, hashed, removed atomic.Int64 }

func (c *counters) stats() PassStats {
	return PassStats{Copied: int(c.copied.Load()), Linked: int(c.linked.Load()), Hashed: int(c.hashed.Load()), Removed: int(c.removed.Load())}
}

// hotPass copies a source folder into a new backup folder, hard-linking
// what is unchanged since base.
//
// The walk lists folders and hands each to a job that creates it in the
// backup and puts its small files, symlinks and special files there; big
// files that must be read get jobs of their own so several are copied at
// once. Jobs use descriptors of the source, backup and base folders and
// *at system calls, so no path is looked up twice.
type hotPass struct {
	ctx    context.Context
	src    string
	dst    string // the data/ folder of the partial backup
	chown  bool
	base   *baseBackup
	pool   *pool
	slots  []*slot
	dirs   []*slot
	counts counters
}

// hotDir is the pass's state for one source folder.
type hotDir struct {
	slots   []*slot       // one per child
	own     []bool        // children with a job of their own
	created chan struct{} // closed once the folder exists in the backup
}

func newHotPass(ctx context.Context, src, dst string, chown bool, base *baseBackup) *hotPass {
	return &hotPass{ctx: ctx, src: src, dst: dst, chown: chown, base: base}
}

// run copies the source folder and makes the copy durable; partial is
// the backup folder, on the filesystem to sync.
func (p *hotPass) run(partial string) error {
	root, err := statFollow(p.src) // a symlinked data/ may point at a volume
	if err != nil {
		return fmt.Errorf("cannot inspect source folder %s: %w", p.src, err)
	}
	syncer, err := openSyncFS(partial)
	if err != nil {
		return err
	}
	defer syncer.Close()
	p.pool = newPool(p.ctx)
	if err := walkSource(p.pool.ctx, p.src, &root, p); err != nil {
		p.pool.fail(err)
	}
	if err := p.pool.wait(); err != nil {
		return err
	}
	// Folders get their real mode, owner and mtime last, deepest first:
	// adding entries would bump the mtime, and a read-only source folder
	// would refuse them.
	for i := len(p.dirs) - 1; i >= 0; i-- {
		d := p.dirs[i]
		if d.skip != "" {
			continue
		}
		path := joinRel(p.dst, d.e.Path)
		if err := setPathMeta(path, &d.e, p.chown); err != nil {
			return err
		}
		if syncEachFile {
			if err := syncDir(path); err != nil {
				return err
			}
		}
	}
	if !syncEachFile {
		return syncFS(syncer)
	}
	return nil
}

// fill puts the entries, skipped list and counts into m.
func (p *hotPass) fill(m *Manifest) {
	m.Entries, m.Skipped = collect(p.slots)
	m.Pass = p.counts.stats()
}

func (p *hotPass) newSlot(rel string) *slot {
	s := &slot{e: Entry{Path: rel}}
	p.slots = append(p.slots, s)
	return s
}

func (p *hotPass) vanished(d *srcDir, i int) {
	d.aux.(*hotDir).slots[i].skip = reasonVanished
}

func (p *hotPass) dir(d *srcDir) error {
	hd := &hotDir{slots: make([]*slot, len(d.children)), own: make([]bool, len(d.children)), created: make(chan struct{})}
	d.aux = hd
	if d.parent == nil {
		s := p.newSlot(".")
		s.e = entryFor(".", &d.st)
		p.dirs = append(p.dirs, s)
	}
	for i := range d.children {
		c := &d.children[i]
		rel := childRel(d.rel, c.name)
		s := p.newSlot(rel)
		hd.slots[i] = s
		if c.gone {
			s.skip = reasonVanished
			continue
		}
		s.e = entryFor(rel, &c.st)
		switch s.e.Type {
		case TypeDir:
			p.dirs = append(p.dirs, s)
		case TypeFile:
			if c.st.size >= directMin {
				pe, _ := p.base.lookup(rel)
				hd.own[i] = judge(pe, &c.st, p.chown) != unchanged
			}
		}
	}
	if err := p.pool.submit(func(buf []byte) error { return p.runDir(d, hd, buf) }); err != nil {
		return err
	}
	for i, own := range hd.own {
		if own {
			if err := p.pool.submit(func(buf []byte) error { return p.runOwn(d, hd, i, buf) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// runDir creates the folder d in the backup and puts its entries there,
// except sub-folders and files with a job of their own.
func (p *hotPass) runDir(d *srcDir, hd *hotDir, buf []byte) error {
	if d.parent != nil {
		if err := p.pool.await(d.parent.aux.(*hotDir).created); err != nil {
			return err
		}
	}
	dst := joinRel(p.dst, d.rel)
	if err := ignoringEINTR(func() error { return unix.Mkdir(dst, 0o700) }); err != nil {
		return fmt.Errorf("cannot create folder %s: %w", dst, err)
	}
	close(hd.created)
	var todo []int
	for i := range d.children {
		if c := &d.children[i]; !c.gone && !c.st.mode.IsDir() && !hd.own[i] {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	fds, ok, err := p.openDirs(d)
	if err != nil || !ok {
		for _, i := range todo {
			hd.slots[i].skip = reasonVanished
		}
		return err
	}
	defer fds.close()
	for _, i := range todo {
		if err := p.ctx.Err(); err != nil {
			return fmt.Errorf("cannot finish backup: %w", err)
		}
		if err := p.entry(&d.children[i], hd.slots[i], fds, buf); err != nil {
			return err
		}
	}
	return nil
}

// runOwn copies the big file child i of d.
func (p *hotPass) runOwn(d *srcDir, hd *hotDir, i int, buf []byte) error {
	if err := p.pool.await(hd.created); err != nil {
		return err
	}
	fds, ok, err := p.openDirs(d)
	if err != nil || !ok {
		hd.slots[i].skip = reasonVanished
		return err
	}
	defer fds.close()
	return p.file(&d.children[i], hd.slots[i], fds, buf)
}

// dirFDs are the descriptors of one folder in the source, the backup
// being made and the base backup (-1: none).
type dirFDs struct{ src, dst, base int }

func (f dirFDs) close() {
	for _, fd := range []int{f.src, f.dst, f.base} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// openDirs opens the descriptors for folder d; ok is false when the source
// folder vanished since it was listed.
func (p *hotPass) openDirs(d *srcDir) (fds dirFDs, ok bool, err error) {
	srcPath := joinRel(p.src, d.rel)
	src, err := openSourceDir(srcPath, d.parent != nil)
	if err != nil {
		if vanished(err) {
			return dirFDs{}, false, nil
		}
		return dirFDs{}, false, fmt.Errorf("cannot open folder %s: %w", srcPath, err)
	}
	dst, err := openDirPath(joinRel(p.dst, d.rel))
	if err != nil {
		unix.Close(src)
		return dirFDs{}, false, err
	}
	return dirFDs{src: src, dst: dst, base: p.base.dirFD(d.rel)}, true, nil
}

// entry puts one non-folder entry into the backup.
func (p *hotPass) entry(c *child, s *slot, fds dirFDs, buf []byte) error {
	dstPath := joinRel(p.dst, s.e.Path)
	switch s.e.Type {
	case TypeFile:
		return p.file(c, s, fds, buf)
	case TypeSymlink:
		target, err := readlinkAt(fds.src, c.name)
		if err != nil {
			switch {
			case vanished(err):
				s.skip = reasonVanished
			case errors.Is(err, unix.EINVAL):
				s.skip = reasonChangedType
			default:
				return fmt.Errorf("cannot read symlink %s: %w", joinRel(p.src, s.e.Path), err)
			}
			return nil
		}
		s.e.Target = target
		return makeSymlinkAt(fds.dst, c.name, dstPath, &s.e, p.chown)
	case TypeFIFO, TypeCharDevice, TypeBlockDevice:
		reason, err := makeSpecialAt(fds.dst, c.name, dstPath, &s.e, p.chown)
		s.skip = reason
		return err
	default:
		s.skip = reasonSocket
		return nil
	}
}

// file puts the regular file c into the backup: a hard link to the base
// backup's copy when it is unchanged, a copy otherwise.
func (p *hotPass) file(c *child, s *slot, fds dirFDs, buf []byte) error {
	rel := s.e.Path
	pe, _ := p.base.lookup(rel)
	v := judge(pe, &c.st, p.chown)
	if v == unchanged {
		// The identity matches the recorded one, which was trusted then
		// and, being older still, is trusted now.
		ok, err := p.link(c.name, rel, pe, s, fds, pe.SrcIno, pe.SrcCtime)
		if ok || err != nil {
			return err
		}
		v = mustCopy
	}
	in, reason, err := openSourceFile(fds.src, c.name, joinRel(p.src, rel))
	if err != nil || reason != "" {
		s.skip = reason
		return err
	}
	defer in.close()
	if v == compareHash && sameLook(pe, &in.st, p.chown) {
		// In doubt: the file looks unchanged but its inode or ctime
		// cannot vouch for it. Reading it is cheaper than copying it.
		p.counts.hashed.Add(1)
		n, sum, err := hashContent(p.ctx, in, buf)
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", in.path, err)
		}
		if n == pe.Size && sum == pe.SHA256 {
			ino, ctime := identity(&in.st, in.at)
			ok, err := p.link(c.name, rel, pe, s, fds, ino, ctime)
			if ok || err != nil {
				return err
			}
		}
		if err := in.rewind(); err != nil {
			return err
		}
	}
	n, sum, err := copyFile(p.ctx, rel, in, fds.dst, c.name, joinRel(p.dst, rel), buf, p.chown)
	if err != nil {
		return err
	}
	s.e = fileEntry(rel, &in.st, in.at, n, sum)
	p.counts.copied.Add(1)
	return nil
}

// fileEntry is the manifest entry of a file copied from a source file
// whose fstat st was taken no earlier than at.
func fileEntry(rel string, st *stat, at time.Time, n int64, sum string) Entry {
	e := entryFor(rel, st)
	e.Size, e.SHA256 = n, sum
	e.SrcIno, e.SrcCtime = identity(st, at)
	return e
}

// link hard-links the base backup's copy of the file name, whose entry is
// pe, into the new backup and records the source identity ino/ctime. The
// live file is never linked: a later write to it would change the backup.
// ok is false, with a nil error, when the link cannot be made (no base
// copy, or it is damaged or has too many links): the caller copies.
func (p *hotPass) link(name, rel string, pe *Entry, s *slot, fds dirFDs, ino uint64, ctime int64) (ok bool, err error) {
	if fds.base < 0 {
		return false, nil
	}
	to := joinRel(p.dst, rel)
	if err := ignoringEINTR(func() error { return unix.Linkat(fds.base, name, fds.dst, name, 0) }); err != nil {
		if linkImpossible(err) {
			return false, nil
		}
		return false, fmt.Errorf("cannot link %s to %s: %w", to, joinRel(p.base.data, rel), err)
	}
	// A base copy that no longer matches its manifest (or, from a version
	// 1 backup, has other owners) must not spread into a new backup.
	var sys unix.Stat_t
	if err := unix.Fstatat(fds.dst, name, &sys, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, fmt.Errorf("cannot inspect %s: %w", to, err)
	}
	if got := fromSys(&sys); !got.mode.IsRegular() || got.size != pe.Size || got.mtime != pe.ModTime.UnixNano() ||
		modeString(got.mode) != pe.Mode || (p.chown && (int(got.uid) != pe.UID || int(got.gid) != pe.GID)) {
		if err := unix.Unlinkat(fds.dst, name, 0); err != nil {
			return false, fmt.Errorf("cannot remove %s: %w", to, err)
		}
		return false, nil
	}
	// Half done, as for a copied file: the crash tests need this point
	// reached even when nothing changed since the previous backup.
	if err := fault.Inject(p.ctx, "mid"); err != nil {
		return false, fmt.Errorf("cannot link %s: %w", to, err)
	}
	s.e = *pe
	s.e.SrcIno, s.e.SrcCtime = ino, ctime
	p.counts.linked.Add(1)
	return true, nil
}

// linkImpossible reports whether a link(2) error means "copy instead"
// rather than a failure of the backup (a full disk must still fail it).
func linkImpossible(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EMLINK) || errors.Is(err, unix.EXDEV) ||
		errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOTSUP)
}

// checkSizes is the check after a pass: every entry exists in data with
// the type, and for files the size, its manifest says. It stats in
// parallel: on 50,000 files it is on the update's critical path.
func checkSizes(ctx context.Context, id, data string, entries []Entry) error {
	const batch = 512
	errs := make([]error, (len(entries)+batch-1)/batch)
	p := newPool(ctx)
	for b := range errs {
		if err := p.submit(func([]byte) error {
			for i := b * batch; i < min(len(entries), (b+1)*batch); i++ {
				if err := checkSize(id, data, &entries[i]); err != nil {
					errs[b] = err
					return nil
				}
			}
			return nil
		}); err != nil {
			break
		}
	}
	if err := p.wait(); err != nil {
		return fmt.Errorf("cannot verify backup %s: %w", id, err)
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkSize(id, data string, e *Entry) error {
	st, err := lstat(joinRel(data, e.Path))
	if err != nil {
		return &CorruptError{Backup: id, Path: e.Path, Problem: fmt.Sprintf("cannot inspect it: %v", err)}
	}
	if got := entryFor(e.Path, &st).Type; got != e.Type {
		return &CorruptError{Backup: id, Path: e.Path, Problem: fmt.Sprintf("it is a %s, manifest says %s", got, e.Type)}
	}
	if e.Type == TypeFile && st.size != e.Size {
		return &CorruptError{Backup: id, Path: e.Path, Problem: fmt.Sprintf("size %d, manifest says %d", st.size, e.Size)}
	}
	return nil
}
