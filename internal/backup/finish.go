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
	"github.com/better-paas/updater/internal/backup/manifest"
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
// A backup with extra paths (see Paths) has each brought up to date the
// same way, in the same call: the paths its hot pass recorded, below the
// install folder opts give with Paths (the list given there is not used).
// Every tree is scanned and staged before any is changed, the main
// manifest is set aside before the first change and written after the
// last, so the backup counts again only when all of them are done. An
// extra path's manifest is set aside while its copy changes, so a resumed
// Finish does not trust it.
//
// Finish is idempotent: a second call with nothing changed copies nothing
// and only rewrites the manifest's finishedAt. It returns an error
// wrapping ErrNotFound when Create has not made the backup, ErrIncomplete
// for a folder that is not a backup, ErrUnsafePath when its manifest
// lists a path outside the backup (nothing is removed or written),
// ErrInvalidPath for a backup with extra paths and no Paths in opts, and
// like Create for the rest.
func Finish(ctx context.Context, src, root, id string, opts ...Option) (Backup, error) {
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
	trees, err := coldTrees(dir, id, src, root, bm, resume, opts)
	if err != nil {
		return Backup{}, err
	}
	syncer, err := openSyncFS(dir)
	if err != nil {
		return Backup{}, err
	}
	defer syncer.Close()
	if err := scanTrees(ctx, trees); err != nil {
		return Backup{}, err
	}
	if err := commitTrees(trees, syncer); err != nil {
		return Backup{}, fmt.Errorf("cannot finish backup %s: %w", id, err)
	}
	// The extra paths' manifests first: the main one, written last, is
	// what makes the backup count again.
	for _, t := range trees[1:] {
		if _, err := t.finish(ctx, &started); err != nil {
			return Backup{}, err
		}
	}
	m, err := trees[0].finish(ctx, &started)
	if err != nil {
		return Backup{}, err
	}
	remember(dir, m)
	return backupOf(m, root), nil
}

// coldTrees returns the trees Finish brings up to date in the folder dir
// of backup id under root, whose manifest is bm (set aside when resume):
// the data folder, from src, then each extra path bm lists, from below
// the install folder opts give (Paths). It checks what Finish checks
// before it writes anything: that each source is a folder or missing
// (coldTree.srcExists) and lies outside root.
func coldTrees(dir, id, src, root string, bm *manifest.Manifest, resume bool, opts []Option) ([]*coldTree, error) {
	trees := []*coldTree{{dir: dir, src: src, bm: bm, resume: resume}}
	if len(bm.Parts) > 0 {
		var o settings
		for _, opt := range opts {
			opt(&o)
		}
		if o.installDir == "" {
			return nil, fmt.Errorf("cannot finish backup %s: %w: it holds extra paths %q, and Finish was not told the install folder they are in (Paths)", id, ErrInvalidPath, bm.Parts)
		}
		installDir, err := filepath.Abs(o.installDir)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve %s: %w", o.installDir, err)
		}
		for _, p := range bm.Parts {
			t, err := partTree(dir, id, installDir, p)
			if err != nil {
				return nil, fmt.Errorf("cannot finish backup %s: %w", id, err)
			}
			trees = append(trees, t)
		}
	}
	for _, t := range trees {
		info, err := statSource(t.src)
		if err != nil {
			return nil, err
		}
		t.srcExists = info != nil
		if err := checkRootOutside(joinRel(t.src, orDot(t.only)), root); err != nil {
			return nil, err
		}
	}
	return trees, nil
}

// scanTrees stages what changed in every tree (coldTree.scan). On an
// error it removes what it staged: nothing in data/ was touched, so the
// hot backup still counts (unless this Finish resumed an interrupted
// one).
func scanTrees(ctx context.Context, trees []*coldTree) error {
	for _, t := range trees {
		if err := t.scan(ctx); err != nil {
			for _, t := range trees {
				_ = removeTree(filepath.Join(t.dir, stagingName))
			}
			return err
		}
	}
	return nil
}

// finish checks what the cold pass wrote into the tree, writes its new
// manifest (started: when the pass started) and removes what the pass
// no longer needs: the manifest set aside, the staging folder.
func (t *coldTree) finish(ctx context.Context, started *time.Time) (*manifest.Manifest, error) {
	m, changed := t.manifest(started)
	if err := checkSizes(ctx, m.ID, t.p.data, changed); err != nil {
		return nil, err
	}
	if err := writeManifest(m, t.dir); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(t.dir, finishingName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cannot remove manifest of the hot pass: %w", err)
	}
	if err := removeTree(t.p.staging); err != nil {
		return nil, fmt.Errorf("cannot remove folder %s: %w", t.p.staging, err)
	}
	if err := atomicfile.SyncDir(t.dir); err != nil {
		return nil, err
	}
	return m, nil
}

func orDot(name string) string {
	if name == "" {
		return "."
	}
	return name
}

// coldTree is one tree of a backup that Finish brings up to date: the
// data folder, or an extra path.
type coldTree struct {
	dir       string // the backup folder, or the extra path's folder in it
	src, only string // what the passes walk: src, narrowed to only if set
	bm        *manifest.Manifest
	// resume: the tree's manifest is set aside (finishingName), an
	// earlier Finish having been interrupted while it changed the tree.
	resume    bool
	srcExists bool
	p         *coldPass
}

// partTree returns the tree of the extra path p of backup id, in the
// backup folder dir, whose source is below installDir. Its manifest is
// the complete one, or the one set aside by an interrupted Finish.
func partTree(dir, id, installDir, p string) (*coldTree, error) {
	t := &coldTree{dir: partFolder(dir, p)}
	t.src, t.only = partSource(installDir, p)
	bm, err := readPart(dir, id, p, ManifestName)
	if err == nil {
		if err := os.Remove(filepath.Join(t.dir, finishingName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("cannot remove leftover manifest: %w", err)
		}
	} else if fm, ferr := readPart(dir, id, p, finishingName); ferr == nil {
		bm, err, t.resume = fm, nil, true
	}
	if err != nil {
		return nil, err
	}
	t.bm = bm
	return t, nil
}

// scan stages what differs between the tree's source and its copy
// (coldPass.scan) in <tree>/.finish; nothing in data/ changes.
func (t *coldTree) scan(ctx context.Context) error {
	staging := filepath.Join(t.dir, stagingName)
	if err := removeTree(staging); err != nil {
		return fmt.Errorf("cannot remove leftover folder %s: %w", staging, err)
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return fmt.Errorf("cannot create folder %s: %w", staging, err)
	}
	data := filepath.Join(t.dir, DataDir)
	t.p = &coldPass{
		ctx:     ctx,
		src:     t.src,
		only:    t.only,
		data:    data,
		staging: staging,
		chown:   t.bm.Owners,
		base:    newBase(t.bm, data),
		resume:  t.resume,
		dirs:    map[string]*coldSlot{},
	}
	return t.p.scan(t.srcExists)
}

// commitTrees moves what the trees staged into their data/ folders, once
// the staged copies are durable. The main manifest (the first tree's) is
// set aside first, so the backup does not count while its files and
// manifests disagree, and so is the manifest of each extra path that
// changes, so a Finish that resumes after a crash knows not to trust it.
// A tree that resumes has its manifest set aside already.
func commitTrees(trees []*coldTree, syncer *os.File) error {
	changed := false
	for _, t := range trees {
		changed = changed || t.p.changed()
	}
	if !changed {
		return nil
	}
	// The staged copies must be on disk before they replace anything.
	if syncEachFile {
		for _, t := range trees {
			if err := atomicfile.SyncDir(t.p.staging); err != nil {
				return err
			}
		}
	} else if err := syncFS(syncer); err != nil {
		return err
	}
	for i, t := range trees {
		if t.resume || (i > 0 && !t.p.changed()) {
			continue
		}
		if err := atomicfile.Rename(filepath.Join(t.dir, ManifestName), filepath.Join(t.dir, finishingName)); err != nil {
			return fmt.Errorf("cannot set backup %s aside for its cold pass: %w", t.bm.ID, err)
		}
		forget(t.dir)
	}
	for _, t := range trees {
		if err := t.p.apply(); err != nil {
			return err
		}
	}
	return syncRest(syncer)
}

// manifest returns the tree's new manifest, started being when the cold
// pass started, and the entries the pass wrote, whose size and type are
// to be read back.
func (t *coldTree) manifest(started *time.Time) (*manifest.Manifest, []manifest.Entry) {
	bm := t.bm
	m := &manifest.Manifest{
		Kind:          manifest.Kind,
		Version:       manifest.Version,
		ID:            bm.ID,
		Source:        bm.Source,
		SourceMissing: !t.srcExists,
		Owners:        bm.Owners,
		CreatedAt:     bm.CreatedAt,
		FinishedAt:    started,
		Base:          bm.Base,
		DataOf:        bm.DataOf,
		TakenBefore:   bm.TakenBefore,
		// Copies this pass writes are read-only; those it keeps from a
		// hot pass made before backups were may not be.
		ReadOnly: bm.ReadOnly,
		Parts:    bm.Parts,
		Part:     bm.Part,
	}
	slots := make([]*slot, len(t.p.slots))
	var changed []manifest.Entry
	for i, s := range t.p.slots {
		slots[i] = &s.slot
		if s.skip == "" && (s.op == opStaged || s.op == opMkdir) {
			changed = append(changed, s.e)
		}
	}
	m.Entries, m.Skipped = collect(slots)
	m.Pass = t.p.counts.stats()
	m.ComputeTotals()
	return m, changed
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
	only      string // the one entry of src (an extra path), "" for all
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
		if err := walkSource(p.pool.ctx, p.src, p.only, p); err != nil {
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
	s := &coldSlot{slot: slot{e: manifest.Entry{Path: rel}}, staged: strconv.Itoa(len(p.slots))}
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
	case be == nil || be.Type != manifest.TypeDir:
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
	case manifest.TypeFile:
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
	case manifest.TypeSymlink:
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
	case manifest.TypeFIFO, manifest.TypeCharDevice, manifest.TypeBlockDevice:
		if !p.resume && be != nil && sameEntry(be, &s.e, p.chown) {
			return nil
		}
		reason, err := makeSpecialAt(p.stagingFD, s.staged, stagedPath, &s.e, p.chown, readOnly)
		s.skip, s.op = reason, opStaged
		return err
	case manifest.TypeDir:
		s.skip = reasonChangedType // a file replaced by a folder since the listing
		return nil
	default:
		s.skip = reasonSocket
		return nil
	}
}

// ownFile stages the big file name of d in a job of its own.
func (p *coldPass) ownFile(d *srcDir, name string, s *coldSlot, be *manifest.Entry, buf []byte) error {
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
func (p *coldPass) keep(s *coldSlot, be *manifest.Entry, ino uint64, ctime int64) {
	s.e = *be
	s.e.SrcIno, s.e.SrcCtime = ino, ctime
	s.op = opKeep
	p.counts.linked.Add(1)
}

func (p *coldPass) file(dirfd int, name string, s *coldSlot, be *manifest.Entry, buf []byte) error {
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

// apply moves the staged entries into data/, removes what left the
// source and fixes folder metadata. The caller made the staged copies
// durable and set the manifest aside (commitTrees).
func (p *coldPass) apply() error {
	if !p.changed() {
		return nil
	}
	if err := p.removeGone(); err != nil {
		return err
	}
	if err := p.moveStaged(); err != nil {
		return err
	}
	return p.settleDirs()
}

// removeGone removes from data/ the entries that left the source,
// children before parents.
func (p *coldPass) removeGone() error {
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
	return nil
}

// moveStaged creates the new folders in data/ and renames the staged
// entries into place, parents before children.
func (p *coldPass) moveStaged() error {
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
	return nil
}

// settleDirs gives the folders that changed, or had an entry added,
// replaced or removed, their recorded metadata (and the read-only mode)
// again, deepest first, as writing into them changed their mtime.
func (p *coldPass) settleDirs() error {
	for i := len(p.slots) - 1; i >= 0; i-- { // deepest first
		s := p.slots[i]
		if s.skip != "" || s.e.Type != manifest.TypeDir || (s.op == opKeep && !s.touched) {
			continue
		}
		if err := settleDir(joinRel(p.data, s.e.Path), &s.e, p.chown); err != nil {
			return err
		}
	}
	return nil
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
func sameMeta(be, e *manifest.Entry, owners bool) bool {
	return be.Mode == e.Mode && be.ModTime.Equal(e.ModTime) && (!owners || (be.UID == e.UID && be.GID == e.GID))
}

// sameEntry reports whether a symlink or special file is as recorded.
func sameEntry(be, e *manifest.Entry, owners bool) bool {
	return be.Type == e.Type && be.Target == e.Target && be.Rdev == e.Rdev && sameMeta(be, e, owners)
}
