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
// for a folder that is not a backup, and like Create for the rest.
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
// what differs. Like the hot pass it hands folders with work to jobs; most
// entries need none: their stat shows they are unchanged.
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
	dirs      map[string]*coldSlot
	removed   []int // indices of base entries that left the source, parents first
	counts    counters
}

// coldDir is the pass's state for one source folder.
type coldDir struct {
	slots []*coldSlot
	work  []int  // children that need reading
	own   []bool // children with a job of their own
}

// scan walks the source (when it exists) and stages new and changed
// entries; nothing in data/ changes.
func (p *coldPass) scan(srcExists bool) error {
	if srcExists {
		root, err := statFollow(p.src)
		if err != nil {
			return fmt.Errorf("cannot inspect source folder %s: %w", p.src, err)
		}
		if p.stagingFD, err = openDirPath(p.staging); err != nil {
			return err
		}
		defer unix.Close(p.stagingFD)
		p.pool = newPool(p.ctx)
		if err := walkSource(p.pool.ctx, p.src, &root, p); err != nil {
			p.pool.fail(err)
		}
		if err := p.pool.wait(); err != nil {
			return err
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
	d.aux.(*coldDir).slots[i].skip = reasonVanished
}

// dirOp decides what the folder s needs.
func (p *coldPass) dirOp(s *coldSlot) {
	be, _ := p.base.lookup(s.e.Path)
	switch {
	case be == nil || be.Type != TypeDir:
		s.op = opMkdir
	case p.resume || !sameMeta(be, &s.e, p.chown):
		s.op = opMeta
	}
	p.dirs[s.e.Path] = s
}

func (p *coldPass) dir(d *srcDir) error {
	cd := &coldDir{slots: make([]*coldSlot, len(d.children)), own: make([]bool, len(d.children))}
	d.aux = cd
	if d.parent == nil {
		s := p.newSlot(".")
		s.e = entryFor(".", &d.st)
		p.dirOp(s)
	}
	for i := range d.children {
		c := &d.children[i]
		rel := childRel(d.rel, c.name)
		s := p.newSlot(rel)
		cd.slots[i] = s
		if c.gone {
			s.skip = reasonVanished
			continue
		}
		s.e = entryFor(rel, &c.st)
		be, _ := p.base.lookup(rel)
		switch s.e.Type {
		case TypeDir:
			p.dirOp(s)
		case TypeFile:
			v := judge(be, &c.st, p.chown)
			if v == unchanged {
				// The identity matches the recorded one: no reading.
				p.keep(s, be, be.SrcIno, be.SrcCtime)
				continue
			}
			if c.st.size >= directMin {
				cd.own[i] = true
				continue
			}
			cd.work = append(cd.work, i)
		case TypeSymlink:
			cd.work = append(cd.work, i) // its target must be read
		case TypeFIFO, TypeCharDevice, TypeBlockDevice:
			if p.resume || be == nil || !sameEntry(be, &s.e, p.chown) {
				cd.work = append(cd.work, i)
			}
		default:
			s.skip = reasonSocket
		}
	}
	if len(cd.work) > 0 {
		if err := p.pool.submit(func(buf []byte) error { return p.runDir(d, cd, cd.work, buf) }); err != nil {
			return err
		}
	}
	for i, own := range cd.own {
		if own {
			if err := p.pool.submit(func(buf []byte) error { return p.runDir(d, cd, []int{i}, buf) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// runDir stages the children todo of the folder d that differ from the
// backup.
func (p *coldPass) runDir(d *srcDir, cd *coldDir, todo []int, buf []byte) error {
	srcPath := joinRel(p.src, d.rel)
	fd, err := openSourceDir(srcPath, d.parent != nil)
	if err != nil {
		if vanished(err) {
			for _, i := range todo {
				cd.slots[i].skip = reasonVanished
			}
			return nil
		}
		return fmt.Errorf("cannot open folder %s: %w", srcPath, err)
	}
	defer unix.Close(fd)
	for _, i := range todo {
		if err := p.ctx.Err(); err != nil {
			return fmt.Errorf("cannot finish backup: %w", err)
		}
		c, s := &d.children[i], cd.slots[i]
		be, _ := p.base.lookup(s.e.Path)
		if err := p.entry(fd, c, s, be, buf); err != nil {
			return err
		}
	}
	return nil
}

func (p *coldPass) entry(dirfd int, c *child, s *coldSlot, be *Entry, buf []byte) error {
	stagedPath := joinRel(p.staging, s.staged)
	switch s.e.Type {
	case TypeFile:
		return p.file(dirfd, c, s, be, buf)
	case TypeSymlink:
		target, err := readlinkAt(dirfd, c.name)
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
	default:
		reason, err := makeSpecialAt(p.stagingFD, s.staged, stagedPath, &s.e, p.chown)
		s.skip, s.op = reason, opStaged
		return err
	}
}

// keep records that the backup's copy of a file is up to date.
func (p *coldPass) keep(s *coldSlot, be *Entry, ino uint64, ctime int64) {
	s.e = *be
	s.e.SrcIno, s.e.SrcCtime = ino, ctime
	s.op = opKeep
	p.counts.linked.Add(1)
}

func (p *coldPass) file(dirfd int, c *child, s *coldSlot, be *Entry, buf []byte) error {
	rel := s.e.Path
	in, reason, err := openSourceFile(dirfd, c.name, joinRel(p.src, rel))
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
		target := joinRel(p.data, s.e.Path)
		if err := setPathMeta(target, &s.e, p.chown); err != nil {
			return err
		}
		if syncEachFile {
			if err := syncDir(target); err != nil {
				return err
			}
		}
	}
	if !syncEachFile {
		return syncFS(syncer)
	}
	return nil
}

// writable lets a process that is not root change the folder holding
// rel even when the source folder is read-only: the backup's folders have
// the source's modes. touch makes sure the real mode is set again.
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
