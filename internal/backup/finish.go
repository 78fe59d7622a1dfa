package backup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/atomicfile"
)

// Finish takes the cold pass of backup id: it brings <root>/<id> up to
// date with src, so the backup is a consistent snapshot of src at the
// moment Finish starts. It is called once the service is stopped for the
// restart, after Create took the hot pass while the app was running.
//
// Finish costs what changed since the hot pass, not the size of src: it
// looks at every entry of src (one stat each) but reads only files whose
// size, mtime, inode or ctime differ from what the hot pass recorded (or
// whose ctime was too recent to trust), copies only files that differ,
// drops entries that left src and rewrites the manifest. Backup.Copied,
// Linked (kept as they were), Hashed and Removed count what it did.
//
// A backup is never half-updated and still counted: new and changed files
// are first written and synced into <root>/<id>/.finish; only then is the
// manifest renamed aside (the backup stops counting), the new files
// renamed into data/ (never written in place: unchanged files may be hard
// links shared with older backups) and the new manifest written. An error
// before that point, a full disk included, leaves the hot backup as it was
// and complete. A crash after it leaves a backup that List ignores and
// that the next Finish, or Create with the same ID, completes.
//
// Finish is idempotent: a second call with nothing changed copies nothing
// and only rewrites the manifest's finishedAt. It returns an error
// wrapping ErrNotFound when Create has not made the backup, ErrIncomplete
// for a folder that is not a backup, ErrUnsafePath when its manifest
// lists a path outside the backup (nothing is removed or written), and
// like Create for the rest.
func Finish(ctx context.Context, src, root, id string) (Backup, error) {
	if err := ValidateID(id); err != nil {
		return Backup{}, err
	}
	dir := filepath.Join(root, id)
	st, err := stateOf(root, id)
	var resume bool
	switch {
	case err != nil:
		return Backup{}, err
	case !st.exists:
		return Backup{}, fmt.Errorf("cannot finish backup %s in %s: %w", id, root, ErrNotFound)
	case st.complete != nil:
	case st.finishing != nil:
		resume = true
	default:
		return Backup{}, st.incompleteErr
	}
	if err := ctx.Err(); err != nil {
		return Backup{}, fmt.Errorf("cannot finish backup %s: %w", id, err)
	}
	started := time.Now().UTC()
	baseName := ManifestName
	if resume {
		baseName = finishingName
	} else if err := os.Remove(filepath.Join(dir, finishingName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Backup{}, fmt.Errorf("cannot remove leftover manifest: %w", err)
	}
	bm, err := readManifestCached(dir, baseName)
	if err != nil {
		return Backup{}, fmt.Errorf("cannot finish backup %s: %w", id, err)
	}
	srcInfo, err := statSource(src)
	if err != nil {
		return Backup{}, err
	}
	if err := checkRootOutside(src, root); err != nil {
		return Backup{}, err
	}

	staging := filepath.Join(dir, stagingName)
	if err := removeTree(staging); err != nil {
		return Backup{}, fmt.Errorf("cannot remove leftover folder %s: %w", staging, err)
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return Backup{}, fmt.Errorf("cannot create folder %s: %w", staging, err)
	}
	p := &coldPass{
		ctx:     ctx,
		src:     src,
		data:    filepath.Join(dir, DataDir),
		staging: staging,
		chown:   bm.Owners,
		base:    newBase(bm, filepath.Join(dir, DataDir)),
		resume:  resume,
		dirs:    map[string]*coldSlot{},
	}
	syncer, err := openSyncFS(dir)
	if err != nil {
		return Backup{}, err
	}
	defer syncer.Close()
	if err := p.scan(srcInfo != nil); err != nil {
		// Nothing in data/ was touched: the hot backup still counts
		// (unless this Finish resumed an interrupted one).
		_ = removeTree(staging)
		return Backup{}, err
	}

	m := &Manifest{
		Kind:          ManifestKind,
		Version:       ManifestVersion,
		ID:            bm.ID,
		Source:        bm.Source,
		SourceMissing: srcInfo == nil,
		Owners:        bm.Owners,
		CreatedAt:     bm.CreatedAt,
		FinishedAt:    &started,
		Base:          bm.Base,
		DataOf:        bm.DataOf,
		TakenBefore:   bm.TakenBefore,
		// Copies this pass writes are read-only; those it keeps from a
		// hot pass made before backups were may not be.
		ReadOnly: bm.ReadOnly,
	}
	if err := p.commit(dir, syncer); err != nil {
		return Backup{}, fmt.Errorf("cannot finish backup %s: %w", id, err)
	}
	slots := make([]*slot, len(p.slots))
	var changed []Entry
	for i, s := range p.slots {
		slots[i] = &s.slot
		if s.skip == "" && (s.op == opStaged || s.op == opMkdir) {
			changed = append(changed, s.e)
		}
	}
	m.Entries, m.Skipped = collect(slots)
	m.Pass = p.counts.stats()
	m.computeTotals()
	if err := checkSizes(ctx, id, p.data, changed); err != nil {
		return Backup{}, err
	}
	if err := m.write(dir); err != nil {
		return Backup{}, err
	}
	if err := os.Remove(filepath.Join(dir, finishingName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Backup{}, fmt.Errorf("cannot remove manifest of the hot pass: %w", err)
	}
	if err := removeTree(staging); err != nil {
		return Backup{}, fmt.Errorf("cannot remove folder %s: %w", staging, err)
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return Backup{}, err
	}
	remember(dir, m)
	return m.backup(root), nil
}

type coldOp int

const (
	opKeep   coldOp = iota // the backup's entry is up to date
	opMeta                 // folder whose mode, owner or mtime changed
	opMkdir                // new folder
	opStaged               // new or changed entry, written in the staging folder
)

type coldSlot struct {
	slot
	op      coldOp
	staged  string // name in the staging folder
	touched bool   // folders: an entry in it was added, replaced or removed
}

// coldPass compares the source with the backup it finishes and stages
// what differs. Like the hot pass it hands each folder to a job, which
// stats its entries; most need nothing more: their stat shows they are
// unchanged.
type coldPass struct {
	ctx       context.Context
	src       string
	data      string
	staging   string
	stagingFD int
	chown     bool
	base      *baseBackup
	resume    bool
	pool      *pool
	slots     []*coldSlot
	dirs      map[string]*coldSlot // written by the walk only
	gone      []*coldSlot          // folders that vanished before the walk could list them
	removed   []int                // indices of base entries that left the source, parents first
	counts    counters
}

// scan walks the source (when it exists) and stages new and changed
// entries; nothing in data/ changes.
func (p *coldPass) scan(srcExists bool) error {
	if srcExists {
		var err error
		if p.stagingFD, err = openDirPath(p.staging); err != nil {
			return err
		}
		defer unix.Close(p.stagingFD)
		p.pool = newPool(p.ctx, "finish backup "+p.base.m.ID)
		if err := walkSource(p.pool.ctx, p.src, p); err != nil {
			p.pool.fail(err)
		}
		if err := p.pool.wait(); err != nil {
			return err
		}
		for _, s := range p.gone {
			s.skip = reasonVanished
		}
	}
	seen := make([]bool, len(p.base.m.Entries))
	for _, s := range p.slots {
		if s.skip != "" {
			continue
		}
		if be, i := p.base.lookup(s.e.Path); be != nil && be.Type == s.e.Type {
			seen[i] = true
		}
	}
	for i := range p.base.m.Entries {
		if !seen[i] && p.base.m.Entries[i].Path != "." {
			p.removed = append(p.removed, i)
		}
	}
	return nil
}

func (p *coldPass) newSlot(rel string) *coldSlot {
	s := &coldSlot{slot: slot{e: Entry{Path: rel}}, staged: strconv.Itoa(len(p.slots))}
	p.slots = append(p.slots, s)
	return s
}

func (p *coldPass) vanished(d *srcDir, i int) {
	p.gone = append(p.gone, d.aux.([]*coldSlot)[i])
}

func (p *coldPass) dir(d *srcDir) error {
	slots := make([]*coldSlot, len(d.names))
	d.aux = slots
	var self *coldSlot
	if d.parent == nil {
		self = p.newSlot(".")
	} else {
		self = d.parent.aux.([]*coldSlot)[d.index]
	}
	self.e = entryFor(d.rel, &d.st)
	be, _ := p.base.lookup(d.rel)
	switch {
	case be == nil || be.Type != TypeDir:
		self.op = opMkdir
	case p.resume || !sameMeta(be, &self.e, p.chown):
		self.op = opMeta
	}
	p.dirs[d.rel] = self
	for i, name := range d.names {
		slots[i] = p.newSlot(childRel(d.rel, name))
	}
	if !hasFiles(d) {
		return nil
	}
	return p.pool.submit(func(buf []byte) error { return p.runDir(d, slots, buf) })
}

// runDir stats the entries of the folder d that are not folders and
// stages those that differ from the backup.
func (p *coldPass) runDir(d *srcDir, slots []*coldSlot, buf []byte) error {
	srcPath := joinRel(p.src, d.rel)
	fd, err := openSourceDir(srcPath, d.parent != nil)
	if err != nil {
		if !vanished(err) {
			return fmt.Errorf("cannot open folder %s: %w", srcPath, err)
		}
		for i, s := range slots {
			if !d.isDir[i] {
				s.skip = reasonVanished
			}
		}
		return nil
	}
	defer unix.Close(fd)
	for i, name := range d.names {
		if d.isDir[i] {
			continue
		}
		if err := p.ctx.Err(); err != nil {
			return fmt.Errorf("cannot finish backup %s: %w", p.base.m.ID, err)
		}
		s := slots[i]
		if testHookVisit != nil {
			testHookVisit(s.e.Path)
		}
		st, err := statChild(fd, name)
		if err != nil {
			if vanished(err) {
				s.skip = reasonVanished
				continue
			}
			return fmt.Errorf("cannot inspect %s: %w", joinRel(p.src, s.e.Path), err)
		}
		s.e = entryFor(s.e.Path, &st)
		if err := p.entry(d, fd, name, &st, s, buf); err != nil {
			return err
		}
	}
	return nil
}

func (p *coldPass) entry(d *srcDir, dirfd int, name string, st *stat, s *coldSlot, buf []byte) error {
	be, _ := p.base.lookup(s.e.Path)
	stagedPath := joinRel(p.staging, s.staged)
	switch s.e.Type {
	case TypeFile:
		v := judge(be, st, p.chown)
		if v == unchanged {
			// The identity matches the recorded one: no reading.
			p.keep(s, be, be.SrcIno, be.SrcCtime)
			return nil
		}
		if st.size >= directMin && p.pool.trySubmit(func(buf []byte) error { return p.ownFile(d, name, s, be, buf) }) {
			return nil // a free worker copies it while this one goes on
		}
		return p.file(dirfd, name, s, be, buf)
	case TypeSymlink:
		target, err := readlinkAt(dirfd, name)
		if err != nil {
			if vanished(err) || errors.Is(err, unix.EINVAL) {
				s.skip = reasonVanished // gone, or no longer a symlink
				return nil
			}
			return fmt.Errorf("cannot read symlink %s: %w", joinRel(p.src, s.e.Path), err)
		}
		s.e.Target = target
		if !p.resume && be != nil && sameEntry(be, &s.e, p.chown) {
			return nil
		}
		s.op = opStaged
		return makeSymlinkAt(p.stagingFD, s.staged, stagedPath, &s.e, p.chown)
	case TypeFIFO, TypeCharDevice, TypeBlockDevice:
		if !p.resume && be != nil && sameEntry(be, &s.e, p.chown) {
			return nil
		}
		reason, err := makeSpecialAt(p.stagingFD, s.staged, stagedPath, &s.e, p.chown, readOnly)
		s.skip, s.op = reason, opStaged
		return err
	case TypeDir:
		s.skip = reasonChangedType // a file replaced by a folder since the listing
		return nil
	default:
		s.skip = reasonSocket
		return nil
	}
}

// ownFile stages the big file name of d in a job of its own.
func (p *coldPass) ownFile(d *srcDir, name string, s *coldSlot, be *Entry, buf []byte) error {
	srcPath := joinRel(p.src, d.rel)
	fd, err := openSourceDir(srcPath, d.parent != nil)
	if err != nil {
		if vanished(err) {
			s.skip = reasonVanished
			return nil
		}
		return fmt.Errorf("cannot open folder %s: %w", srcPath, err)
	}
	defer unix.Close(fd)
	return p.file(fd, name, s, be, buf)
}

// keep records that the backup's copy of a file is up to date.
func (p *coldPass) keep(s *coldSlot, be *Entry, ino uint64, ctime int64) {
	s.e = *be
	s.e.SrcIno, s.e.SrcCtime = ino, ctime
	s.op = opKeep
	p.counts.linked.Add(1)
}

func (p *coldPass) file(dirfd int, name string, s *coldSlot, be *Entry, buf []byte) error {
	rel := s.e.Path
	in, reason, err := openSourceFile(dirfd, name, joinRel(p.src, rel))
	if err != nil || reason != "" {
		s.skip = reason
		return err
	}
	defer in.close()
	if !p.resume && judge(be, &in.st, p.chown) == compareHash {
		// A resumed Finish does not compare content: a file replaced by
		// the interrupted commit and changed back could look like the
		// hot copy while data/ holds the replacement.
		p.counts.hashed.Add(1)
		n, sum, err := hashContent(p.ctx, in, buf)
		if err != nil {
			return fmt.Errorf("cannot read %s: %w", in.path, err)
		}
		if n == be.Size && sum == be.SHA256 {
			ino, ctime := identity(&in.st, in.at)
			p.keep(s, be, ino, ctime)
			return nil
		}
		if err := in.rewind(); err != nil {
			return err
		}
	}
	n, sum, err := copyFile(p.ctx, rel, in, p.stagingFD, s.staged, joinRel(p.staging, s.staged), buf, p.chown)
	if err != nil {
		return err
	}
	s.e = fileEntry(rel, &in.st, in.at, n, sum)
	s.op = opStaged
	p.counts.copied.Add(1)
	return nil
}

func (p *coldPass) changed() bool {
	if len(p.removed) > 0 {
		return true
	}
	for _, s := range p.slots {
		if s.op != opKeep && s.skip == "" {
			return true
		}
	}
	return false
}

// commit moves the staged entries into data/, removes what left the
// source and fixes folder metadata. The manifest is renamed aside first,
// so the backup does not count while its files and manifest disagree.
func (p *coldPass) commit(dir string, syncer *os.File) error {
	if !p.changed() {
		return nil
	}
	// The staged copies must be on disk before they replace anything.
	if syncEachFile {
		if err := syncDir(p.staging); err != nil {
			return err
		}
	} else if err := syncFS(syncer); err != nil {
		return err
	}
	if !p.resume {
		if err := atomicfile.Rename(filepath.Join(dir, ManifestName), filepath.Join(dir, finishingName)); err != nil {
			return fmt.Errorf("cannot set backup %s aside for its cold pass: %w", p.base.m.ID, err)
		}
		forget(dir)
	}
	for i := len(p.removed) - 1; i >= 0; i-- { // children before parents
		e := &p.base.m.Entries[p.removed[i]]
		target := joinRel(p.data, e.Path)
		p.writable(e.Path)
		err := os.Remove(target)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			err = removeTree(target)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cannot remove %s: %w", target, err)
		}
		p.touch(e.Path)
		p.counts.removed.Add(1)
	}
	for _, s := range p.slots {
		if s.skip != "" {
			continue
		}
		target := joinRel(p.data, s.e.Path)
		if s.op == opMkdir || s.op == opStaged {
			p.writable(s.e.Path)
		}
		switch s.op {
		case opMkdir:
			if err := ensureDir(target); err != nil {
				return err
			}
		case opStaged:
			if err := replace(joinRel(p.staging, s.staged), target); err != nil {
				return err
			}
		default:
			continue
		}
		p.touch(s.e.Path)
	}
	for i := len(p.slots) - 1; i >= 0; i-- { // deepest first
		s := p.slots[i]
		if s.skip != "" || s.e.Type != TypeDir || (s.op == opKeep && !s.touched) {
			continue
		}
		if err := settleDir(joinRel(p.data, s.e.Path), &s.e, p.chown); err != nil {
			return err
		}
	}
	return syncRest(syncer)
}

// writable lets a process that is not root change the folder holding
// rel: the backup's folders are read-only (see Create). touch makes sure
// the read-only mode is set again.
func (p *coldPass) writable(rel string) {
	if p.chown || rel == "." {
		return // root writes anywhere
	}
	parent := path.Dir(rel)
	if d, ok := p.dirs[parent]; !ok || !d.touched {
		_ = os.Chmod(joinRel(p.data, parent), 0o700)
	}
}

// touch marks the folder holding rel as changed: its mtime must be set
// again.
func (p *coldPass) touch(rel string) {
	if rel == "." {
		return
	}
	if d, ok := p.dirs[path.Dir(rel)]; ok {
		d.touched = true
	}
}

// ensureDir makes p a folder, replacing whatever else is there.
func ensureDir(p string) error {
	err := os.Mkdir(p, 0o700)
	if errors.Is(err, fs.ErrExist) {
		if st, lerr := lstat(p); lerr == nil && st.mode.IsDir() {
			return nil // a resumed Finish made it already
		}
		if err = removeTree(p); err == nil {
			err = os.Mkdir(p, 0o700)
		}
	}
	if err != nil {
		return fmt.Errorf("cannot create folder %s: %w", p, err)
	}
	return nil
}

// replace renames staged over target; a folder in the way (the entry
// changed type) is removed first.
func replace(staged, target string) error {
	err := os.Rename(staged, target)
	if err != nil && (errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTDIR)) {
		if err = removeTree(target); err == nil {
			err = os.Rename(staged, target)
		}
	}
	if err != nil {
		return fmt.Errorf("cannot move %s into place: %w", target, err)
	}
	return nil
}

// sameMeta reports whether a folder's mode, owner and mtime are as recorded.
func sameMeta(be, e *Entry, owners bool) bool {
	return be.Mode == e.Mode && be.ModTime.Equal(e.ModTime) && (!owners || (be.UID == e.UID && be.GID == e.GID))
}

// sameEntry reports whether a symlink or special file is as recorded.
func sameEntry(be, e *Entry, owners bool) bool {
	return be.Type == e.Type && be.Target == e.Target && be.Rdev == e.Rdev && sameMeta(be, e, owners)
}
