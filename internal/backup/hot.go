package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/atomicfile"
	"github.com/better-paas/updater/internal/backup/manifest"
	"github.com/better-paas/updater/internal/fault"
)

// baseBackup is an earlier backup a pass compares the source with: the
// previous backup for Create, the backup itself for Finish.
type baseBackup struct {
	m    *manifest.Manifest
	data string
	idx  map[string]int
}

func newBase(m *manifest.Manifest, data string) *baseBackup {
	idx := make(map[string]int, len(m.Entries))
	for i := range m.Entries {
		idx[m.Entries[i].Path] = i
	}
	return &baseBackup{m: m, data: data, idx: idx}
}

// lookup returns the entry recorded for rel and its index, or nil and -1.
func (b *baseBackup) lookup(rel string) (*manifest.Entry, int) {
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
	if be, _ := b.lookup(rel); be == nil || be.Type != manifest.TypeDir {
		return -1
	}
	fd, err := openDirPath(joinRel(b.data, rel))
	if err != nil {
		return -1
	}
	return fd
}

// slot is one source entry in walk order: the manifest entry, or why the
// entry is not in the backup. The walk creates slots; a folder's slot is
// filled by the walk, any other entry's by the job that handles it, which
// is why slots are pointers.
type slot struct {
	e    manifest.Entry
	skip string
	// checked: the entry's size and type were read back from the backup
	// already (a hard link, checked right after linking).
	checked bool
}

func collect(slots []*slot) ([]manifest.Entry, []manifest.Skipped) {
	entries := make([]manifest.Entry, 0, len(slots))
	var skipped []manifest.Skipped
	for _, s := range slots {
		if s.skip != "" {
			skipped = append(skipped, manifest.Skipped{Path: s.e.Path, Reason: s.skip})
			continue
		}
		entries = append(entries, s.e)
	}
	return entries, skipped
}

type counters struct{ copied, linked, hashed, removed atomic.Int64 }

func (c *counters) stats() manifest.PassStats {
	return manifest.PassStats{Copied: int(c.copied.Load()), Linked: int(c.linked.Load()), Hashed: int(c.hashed.Load()), Removed: int(c.removed.Load())}
}

// hotPass copies a source folder into a new backup folder, hard-linking
// what is unchanged since base.
//
// The walk lists folders and hands each to a job that creates it in the
// backup, stats its entries and puts its files, symlinks and special files
// there; a big file that must be read becomes a job of its own when a
// worker is free, so several are copied at once. Jobs use descriptors of
// the source, backup and base folders and *at system calls, so no path is
// looked up twice.
type hotPass struct {
	ctx    context.Context
	src    string
	only   string // the one entry of src to copy (an extra path), "" for all
	dst    string // the data/ folder of the partial backup
	chown  bool
	base   *baseBackup
	pool   *pool
	slots  []*slot
	dirs   []*slot // folders the walk listed
	gone   []*slot // folders that vanished before the walk could list them
	counts counters
}

// hotDir is the pass's state for one source folder.
type hotDir struct {
	slots   []*slot       // one per entry
	created chan struct{} // closed once the folder exists in the backup
}

func newHotPass(ctx context.Context, src, only, dst string, chown bool, base *baseBackup) *hotPass {
	return &hotPass{ctx: ctx, src: src, only: only, dst: dst, chown: chown, base: base}
}

// run copies the source folder. The copies are not durable yet: see
// writeBack.
func (p *hotPass) run() error {
	p.pool = newPool(p.ctx, "back up "+p.src)
	if err := walkSource(p.pool.ctx, p.src, p.only, p); err != nil {
		p.pool.fail(err)
	}
	if err := p.pool.wait(); err != nil {
		return err
	}
	for _, s := range p.gone {
		s.skip = reasonVanished
	}
	// Folders get their real mode, owner and mtime last, deepest first:
	// adding entries would bump the mtime, and a read-only source folder
	// would refuse them.
	for i := len(p.dirs) - 1; i >= 0; i-- {
		d := p.dirs[i]
		if err := settleDir(joinRel(p.dst, d.e.Path), &d.e, p.chown); err != nil {
			return err
		}
	}
	return nil
}

// settleDir gives a copied folder its owner, mtime and read-only mode
// (after its entries were added, which would bump the mtime and which its
// read-only mode would refuse a process that is not root) and, when each
// file is synced on its own, syncs the folder too.
func settleDir(path string, e *manifest.Entry, chown bool) error {
	if err := setPathMeta(path, e, chown, readOnly); err != nil {
		return err
	}
	if syncEachFile {
		return atomicfile.SyncDir(path)
	}
	return nil
}

// syncRest makes a pass durable when files were not synced one by one:
// one syncfs of the file system syncer is open on.
func syncRest(syncer *os.File) error {
	if syncEachFile {
		return nil
	}
	return syncFS(syncer)
}

// fill puts the entries, skipped list and counts into m and returns the
// entries whose size and type are still to be read back.
func (p *hotPass) fill(m *manifest.Manifest) (unchecked []manifest.Entry) {
	m.Entries, m.Skipped = collect(p.slots)
	m.Pass = p.counts.stats()
	unchecked = make([]manifest.Entry, 0, len(m.Entries)-int(m.Pass.Linked))
	for _, s := range p.slots {
		if s.skip == "" && !s.checked {
			unchecked = append(unchecked, s.e)
		}
	}
	return unchecked
}

func (p *hotPass) newSlot(rel string) *slot {
	s := &slot{e: manifest.Entry{Path: rel}}
	p.slots = append(p.slots, s)
	return s
}

func (p *hotPass) vanished(d *srcDir, i int) {
	p.gone = append(p.gone, d.aux.(*hotDir).slots[i])
}

func (p *hotPass) dir(d *srcDir) error {
	hd := &hotDir{slots: make([]*slot, len(d.names)), created: make(chan struct{})}
	d.aux = hd
	var self *slot
	if d.parent == nil {
		self = p.newSlot(".")
	} else {
		self = d.parent.aux.(*hotDir).slots[d.index]
	}
	self.e = entryFor(d.rel, &d.st)
	p.dirs = append(p.dirs, self)
	for i, name := range d.names {
		hd.slots[i] = p.newSlot(childRel(d.rel, name))
	}
	return p.pool.submit(func(buf []byte) error { return p.runDir(d, hd, buf) })
}

// runDir creates the folder d in the backup and puts its entries there,
// except sub-folders, which have jobs of their own.
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
	if !hasFiles(d) {
		return nil
	}
	fds, ok, err := p.openDirs(d)
	if err != nil {
		return err
	}
	if !ok {
		for i, s := range hd.slots {
			if !d.isDir[i] {
				s.skip = reasonVanished
			}
		}
		return nil
	}
	defer fds.close()
	for i, name := range d.names {
		if d.isDir[i] {
			continue
		}
		if err := p.ctx.Err(); err != nil {
			return fmt.Errorf("cannot back up %s: %w", p.src, err)
		}
		s := hd.slots[i]
		if testHookVisit != nil {
			testHookVisit(s.e.Path)
		}
		st, err := statChild(fds.src, name)
		if err != nil {
			if vanished(err) {
				s.skip = reasonVanished
				continue
			}
			return fmt.Errorf("cannot inspect %s: %w", joinRel(p.src, s.e.Path), err)
		}
		s.e = entryFor(s.e.Path, &st)
		if err := p.entry(d, name, &st, s, fds, buf); err != nil {
			return err
		}
	}
	return nil
}

// hasFiles reports whether d has entries that are not folders.
func hasFiles(d *srcDir) bool {
	for _, isDir := range d.isDir {
		if !isDir {
			return true
		}
	}
	return false
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

// entry puts one entry that is not a folder into the backup; st is its
// stat.
func (p *hotPass) entry(d *srcDir, name string, st *stat, s *slot, fds dirFDs, buf []byte) error {
	dstPath := joinRel(p.dst, s.e.Path)
	switch s.e.Type {
	case manifest.TypeFile:
		pe, _ := p.base.lookup(s.e.Path)
		v := judge(pe, st, p.chown)
		if v == unchanged {
			// The identity matches the recorded one, which was
			// trusted then and, being older still, is trusted now.
			ok, err := p.link(name, pe, s, fds, pe.SrcIno, pe.SrcCtime)
			if ok || err != nil {
				return err
			}
			v = mustCopy
		}
		if st.size >= directMin && p.pool.trySubmit(func(buf []byte) error { return p.ownFile(d, name, v, s, buf) }) {
			return nil // a free worker copies it while this one goes on
		}
		return p.file(name, v, s, fds, buf)
	case manifest.TypeSymlink:
		target, err := readlinkAt(fds.src, name)
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
		return makeSymlinkAt(fds.dst, name, dstPath, &s.e, p.chown)
	case manifest.TypeFIFO, manifest.TypeCharDevice, manifest.TypeBlockDevice:
		reason, err := makeSpecialAt(fds.dst, name, dstPath, &s.e, p.chown, readOnly)
		s.skip = reason
		return err
	case manifest.TypeDir:
		// A file replaced by a folder since the listing: the walk did
		// not descend into it, so it is not in this backup.
		s.skip = reasonChangedType
		return nil
	default:
		s.skip = reasonSocket
		return nil
	}
}

// ownFile copies the big file name of d in a job of its own.
func (p *hotPass) ownFile(d *srcDir, name string, v verdict, s *slot, buf []byte) error {
	fds, ok, err := p.openDirs(d)
	if err != nil || !ok {
		s.skip = reasonVanished
		return err
	}
	defer fds.close()
	return p.file(name, v, s, fds, buf)
}

// file copies the regular file name into the backup, or links the base
// backup's copy when its content turns out unchanged (v is compareHash).
func (p *hotPass) file(name string, v verdict, s *slot, fds dirFDs, buf []byte) error {
	rel := s.e.Path
	in, reason, err := openSourceFile(fds.src, name, joinRel(p.src, rel))
	if err != nil || reason != "" {
		s.skip = reason
		return err
	}
	defer in.close()
	pe, _ := p.base.lookup(rel)
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
			ok, err := p.link(name, pe, s, fds, ino, ctime)
			if ok || err != nil {
				return err
			}
		}
		if err := in.rewind(); err != nil {
			return err
		}
	}
	n, sum, err := copyFile(p.ctx, rel, in, fds.dst, name, joinRel(p.dst, rel), buf, p.chown)
	if err != nil {
		return err
	}
	s.e = fileEntry(rel, &in.st, in.at, n, sum)
	p.counts.copied.Add(1)
	return nil
}

// fileEntry is the manifest entry of a file copied from a source file
// whose fstat st was taken no earlier than at.
func fileEntry(rel string, st *stat, at time.Time, n int64, sum string) manifest.Entry {
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
func (p *hotPass) link(name string, pe *manifest.Entry, s *slot, fds dirFDs, ino uint64, ctime int64) (ok bool, err error) {
	if fds.base < 0 {
		return false, nil
	}
	rel := s.e.Path
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
	got := fromSys(&sys)
	recorded, perr := parseMode(pe.Mode)
	bits := modeBits(got.mode)
	// A copy from before backups were read-only has the recorded mode:
	// the link makes it read-only, for the old backup too, whose Verify
	// accepts either mode.
	harden := perr == nil && !p.base.m.ReadOnly && bits == recorded
	if perr != nil || (bits != readOnly.apply(recorded) && !harden) ||
		!got.mode.IsRegular() || got.size != pe.Size || got.mtime != pe.ModTime.UnixNano() ||
		(p.chown && (int(got.uid) != pe.UID || int(got.gid) != pe.GID)) {
		if err := unix.Unlinkat(fds.dst, name, 0); err != nil {
			return false, fmt.Errorf("cannot remove %s: %w", to, err)
		}
		return false, nil
	}
	if harden {
		if err := chmodNoFollow(fds.dst, name, readOnly.apply(recorded)); err != nil {
			return false, fmt.Errorf("cannot set mode of %s: %w", to, err)
		}
	}
	// Half done, as for a copied file: the crash tests need this point
	// reached even when nothing changed since the previous backup.
	if err := fault.Inject(p.ctx, "mid"); err != nil {
		return false, fmt.Errorf("cannot link %s: %w", to, err)
	}
	s.e = *pe
	s.e.SrcIno, s.e.SrcCtime = ino, ctime
	s.checked = true
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
// the type, and for files the size, its manifest says. On 50,000 files it
// is on the update's critical path, so it works folder by folder in
// parallel, with one descriptor per folder (the entries of a folder are
// together in a manifest).
func checkSizes(ctx context.Context, id, data string, entries []manifest.Entry) error {
	type run struct{ from, to int }
	var runs []run
	var runDir string
	for i := range entries {
		dir := path.Dir(entries[i].Path)
		if entries[i].Path == "." {
			dir = ".."
		}
		if len(runs) == 0 || dir != runDir {
			runs = append(runs, run{from: i})
			runDir = dir
		}
		runs[len(runs)-1].to = i + 1
	}
	errs := make([]error, len(runs))
	p := newPool(ctx, "check backup "+id)
	for r, rn := range runs {
		if err := p.submit(func([]byte) error {
			errs[r] = checkRun(id, data, entries[rn.from:rn.to])
			return nil
		}); err != nil {
			break
		}
	}
	if err := p.wait(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// checkRun checks entries that share a folder.
func checkRun(id, data string, entries []manifest.Entry) error {
	first := &entries[0]
	if first.Path == "." {
		return checkEntry(id, first, func(st *unix.Stat_t) error { return unix.Lstat(data, st) })
	}
	dir := joinRel(data, path.Dir(first.Path))
	fd, err := openDirPath(dir)
	if err != nil {
		return newCorruptError(id, []Mismatch{{Path: first.Path, Problem: fmt.Sprintf("cannot open its folder: %v", err)}})
	}
	defer unix.Close(fd)
	for i := range entries {
		e := &entries[i]
		name := path.Base(e.Path)
		if err := checkEntry(id, e, func(st *unix.Stat_t) error {
			return unix.Fstatat(fd, name, st, unix.AT_SYMLINK_NOFOLLOW)
		}); err != nil {
			return err
		}
	}
	return nil
}

func checkEntry(id string, e *manifest.Entry, statFn func(*unix.Stat_t) error) error {
	var sys unix.Stat_t
	if err := ignoringEINTR(func() error { return statFn(&sys) }); err != nil {
		return newCorruptError(id, []Mismatch{{Path: e.Path, Problem: fmt.Sprintf("cannot inspect it: %v", err)}})
	}
	st := fromSys(&sys)
	if got := entryFor(e.Path, &st).Type; got != e.Type {
		return newCorruptError(id, []Mismatch{{Path: e.Path, Problem: fmt.Sprintf("it is a %s, manifest says %s", got, e.Type)}})
	}
	if e.Type == manifest.TypeFile && st.size != e.Size {
		return newCorruptError(id, []Mismatch{{Path: e.Path, Problem: fmt.Sprintf("size %d, manifest says %d", st.size, e.Size)}})
	}
	return nil
}
