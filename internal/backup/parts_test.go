package backup

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// install is an app's install for the extra-path tests: data/, a .env
// file and a migrations/ folder beside it, as backup.paths [".env",
// "migrations"] names them.
type install struct {
	dir, data, root string
}

func newInstall(t *testing.T) install {
	t.Helper()
	base := tempDir(t)
	in := install{dir: filepath.Join(base, "app"), root: filepath.Join(base, "backups")}
	in.data = filepath.Join(in.dir, "data")
	mustMkdir(t, in.data)
	mustWrite(t, filepath.Join(in.data, "notes.txt"), "notes\n", 0o644)
	mustWrite(t, filepath.Join(in.dir, ".env"), "SECRET=1\n", 0o600)
	mustMkdir(t, filepath.Join(in.dir, "migrations", "sub"))
	mustWrite(t, filepath.Join(in.dir, "migrations", "0001_init.sql"), "CREATE TABLE notes (id INTEGER);\n", 0o644)
	mustWrite(t, filepath.Join(in.dir, "migrations", "sub", "0002_text.sql"), "ALTER TABLE notes ADD text TEXT;\n", 0o444)
	writeSparse(t, filepath.Join(in.dir, "migrations", "sparse.db"), 8<<20, 0, 4<<20)
	// What the checkout owns: never part of a backup of the extra paths.
	mustWrite(t, filepath.Join(in.dir, "README.md"), "tracked\n", 0o644)
	ageTree(t, in.dir)
	return in
}

var extraPaths = []string{".env", "migrations"}

func (in install) create(t *testing.T, id string) Backup {
	t.Helper()
	b, err := Create(context.Background(), in.data, in.root, id, Paths(in.dir, extraPaths...))
	if err != nil {
		t.Fatalf("Create %s: %v", id, err)
	}
	return b
}

func (in install) finish(t *testing.T, id string) Backup {
	t.Helper()
	b, err := Finish(context.Background(), in.data, in.root, id, Paths(in.dir))
	if err != nil {
		t.Fatalf("Finish %s: %v", id, err)
	}
	return b
}

// extraTree is the snapshot of the extra path p below dir, keyed like a
// snapshot of dir but holding only p and what is below it.
func extraTree(t *testing.T, dir, p string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range snapshot(t, dir) {
		if k == p || strings.HasPrefix(k, p+"/") {
			out[k] = v
		}
	}
	return out
}

// storedExtra is the snapshot the backup b has of the extra path p,
// keyed as extraTree keys the live one.
func storedExtra(t *testing.T, b Backup, p string) map[string]string {
	t.Helper()
	copyPath := b.PathCopy(p)
	if copyPath == "" {
		t.Fatalf("backup %s holds no extra path %q (it holds %q)", b.ID, p, b.Paths)
	}
	return extraTree(t, filepath.Dir(copyPath), filepath.Base(p))
}

// readOnlyView is extraTree with the write bits cleared, as a backup
// stores it.
func readOnlyView(t *testing.T, dir, p string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range snapshotMasked(t, dir, 0o222) {
		if k == p || strings.HasPrefix(k, p+"/") {
			out[k] = v
		}
	}
	return out
}

// TestExtraPathsAreBackedUpAndLinked: a single file (.env) and a folder
// (migrations/) named as extra paths are in the backup, read-only, sparse
// files still sparse, the rest of the install left out; the next backup
// hard-links what did not change, never to the live file.
func TestExtraPathsAreBackedUpAndLinked(t *testing.T) {
	trustCtimes(t)
	in := newInstall(t)
	first := in.create(t, "b1")
	if strings.Join(first.Paths, " ") != ".env migrations" {
		t.Fatalf("Paths = %q, want the extra paths", first.Paths)
	}
	for _, p := range extraPaths {
		assertSameTree(t, "backup of "+p, readOnlyView(t, in.dir, p), storedExtra(t, first, p))
	}
	for _, p := range []string{"README.md", "data"} {
		if _, err := os.Lstat(filepath.Join(filepath.Dir(first.PathCopy(".env")), p)); err == nil {
			t.Errorf("%s of the install is in the backup of the extra paths", p)
		}
	}
	sparse := first.PathCopy("migrations") + "/sparse.db"
	if got := allocated(t, sparse); got > 1<<20 {
		t.Errorf("the copy of a sparse file takes %d bytes, want its data only", got)
	}
	if err := Verify(context.Background(), in.root, "b1"); err != nil {
		t.Fatalf("Verify: %v", err)
	}

	second := in.create(t, "b2")
	for _, f := range []struct{ part, rel string }{
		{".env", ""}, {"migrations", "0001_init.sql"}, {"migrations", "sub/0002_text.sql"}, {"migrations", "sparse.db"},
	} {
		from, to := filepath.Join(first.PathCopy(f.part), f.rel), filepath.Join(second.PathCopy(f.part), f.rel)
		if inode(t, to) != inode(t, from) {
			t.Errorf("%s/%s: unchanged, but copied again instead of linked to the previous backup", f.part, f.rel)
		}
		if inode(t, to) == inode(t, filepath.Join(in.dir, f.part, f.rel)) {
			t.Errorf("%s/%s: the backup shares its file with the live one", f.part, f.rel)
		}
	}
	if second.Linked == 0 {
		t.Errorf("Linked = 0 in the second backup of unchanged data")
	}
	in.finish(t, "b2")
	if err := Verify(context.Background(), in.root, "b2"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// TestColdPassCapturesExtraPaths: what changes in an extra path between
// the hot and the cold pass (a file changed, one added, one removed, the
// whole .env replaced) is what the finished backup holds.
func TestColdPassCapturesExtraPaths(t *testing.T) {
	in := newInstall(t)
	in.create(t, "b1")
	mustWrite(t, filepath.Join(in.dir, ".env"), "SECRET=2\nNEW=1\n", 0o600)
	mustWrite(t, filepath.Join(in.dir, "migrations", "0003_late.sql"), "-- written while stopping\n", 0o644)
	if err := os.Remove(filepath.Join(in.dir, "migrations", "0001_init.sql")); err != nil {
		t.Fatal(err)
	}
	b := in.finish(t, "b1")
	if b.FinishedAt.IsZero() {
		t.Fatal("no cold pass recorded")
	}
	for _, p := range extraPaths {
		assertSameTree(t, "finished backup of "+p, readOnlyView(t, in.dir, p), storedExtra(t, b, p))
	}
	if err := Verify(context.Background(), in.root, "b1"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// A second Finish with nothing changed keeps it so.
	b = in.finish(t, "b1")
	assertSameTree(t, "backup after a second cold pass", readOnlyView(t, in.dir, "migrations"), storedExtra(t, b, "migrations"))
}

// TestVerifyNamesChangedFilesInExtraPaths: Verify names a changed file in
// an extra path by its path in the install, with the extra path it
// belongs to, beside what changed in data/.
func TestVerifyNamesChangedFilesInExtraPaths(t *testing.T) {
	in := newInstall(t)
	b := in.create(t, "b1")
	in.finish(t, "b1")
	// Same size, other content: Verify must hash to see it.
	damage := func(p string) {
		t.Helper()
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		b := []byte(mustRead(t, p))
		b[0] ^= 0x20
		overwriteInPlace(t, p, string(b))
	}
	damage(filepath.Join(b.PathCopy("migrations"), "sub", "0002_text.sql"))
	damage(b.PathCopy(".env"))
	damage(filepath.Join(b.Data, "notes.txt"))

	err := Verify(context.Background(), in.root, "b1")
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Verify = %v, want a *CorruptError", err)
	}
	got := map[string]string{}
	for _, m := range ce.Mismatches {
		got[m.Part+"|"+m.Path] = m.Problem
	}
	for _, want := range []string{"|notes.txt", "migrations|migrations/sub/0002_text.sql", ".env|.env"} {
		if prob, ok := got[want]; !ok || !strings.Contains(prob, "sha256") || !strings.Contains(prob, "mode") {
			t.Errorf("mismatch %q = %q, want it named with its content and mode; all: %+v", want, prob, ce.Mismatches)
		}
	}
	if len(ce.Mismatches) != 3 {
		t.Errorf("%d mismatches, want 3: %+v", len(ce.Mismatches), ce.Mismatches)
	}
	if !strings.Contains(err.Error(), "migrations/sub/0002_text.sql") {
		t.Errorf("error %q does not name the changed file", err)
	}
}

// TestRestoreAllBringsBackExtraPaths: RestoreAll puts data/ and each extra
// path back as the backup holds them, a folder and a single file alike,
// whether they were changed or deleted since, and keeps what it replaced
// beside each as <name>.replaced-<time>. An extra path the backup
// recorded as missing is moved aside, and one the backup does not hold
// is left alone.
func TestRestoreAllBringsBackExtraPaths(t *testing.T) {
	in := newInstall(t)
	// generated/ is listed but missing when the backup is taken.
	paths := append([]string{"generated"}, extraPaths...)
	if _, err := Create(context.Background(), in.data, in.root, "b1", Paths(in.dir, paths...)); err != nil {
		t.Fatal(err)
	}
	in.finish(t, "b1")
	wantData := snapshot(t, in.data)
	want := map[string]map[string]string{}
	for _, p := range extraPaths {
		want[p] = extraTree(t, in.dir, p)
	}

	// The app (or a person) changes and deletes things.
	mustWrite(t, filepath.Join(in.dir, "migrations", "0003_bad.sql"), "DROP TABLE notes;\n", 0o644)
	if err := os.Chmod(filepath.Join(in.dir, "migrations", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(in.dir, "migrations", "sub")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(in.dir, ".env")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(in.data, "notes.txt"), "damaged\n", 0o644)
	mustMkdir(t, filepath.Join(in.dir, "generated"))
	mustWrite(t, filepath.Join(in.dir, "generated", "schema.go"), "package schema\n", 0o644)
	mustWrite(t, filepath.Join(in.dir, "local.txt"), "not an extra path\n", 0o644)

	res, err := RestoreAll(context.Background(), in.root, "b1", in.data, in.dir, append(paths, "not-in-backup"))
	if err != nil {
		t.Fatalf("RestoreAll: %v", err)
	}
	assertSameTree(t, "restored data", wantData, snapshot(t, in.data))
	if res.Data == "" || mustRead(t, filepath.Join(res.Data, "notes.txt")) != "damaged\n" {
		t.Errorf("the replaced data was not kept: %+v", res)
	}
	for _, p := range extraPaths {
		assertSameTree(t, "restored "+p, want[p], extraTree(t, in.dir, p))
	}
	byPath := map[string]RestoredPath{}
	for _, r := range res.Paths {
		byPath[r.Path] = r
	}
	if r := byPath[".env"]; r.Replaced != "" || r.Missing {
		t.Errorf(".env was deleted, so nothing was replaced: %+v", r)
	}
	if r := byPath["migrations"]; r.Replaced == "" || mustRead(t, filepath.Join(r.Replaced, "0003_bad.sql")) != "DROP TABLE notes;\n" ||
		!strings.HasPrefix(filepath.Base(r.Replaced), "migrations.replaced-") || filepath.Dir(r.Replaced) != in.dir {
		t.Errorf("the replaced migrations were not kept beside them: %+v", r)
	}
	if r := byPath["generated"]; !r.Missing || r.Replaced == "" || mustRead(t, filepath.Join(r.Replaced, "schema.go")) != "package schema\n" {
		t.Errorf("generated/, missing in the backup, = %+v; want it moved aside", r)
	}
	if _, err := os.Lstat(filepath.Join(in.dir, "generated")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("generated/ is still there after restoring a backup without it: %v", err)
	}
	if _, ok := byPath["not-in-backup"]; ok || strings.Join(res.NotInBackup, " ") != "not-in-backup" {
		t.Errorf("a path the backup does not hold: %+v", res)
	}
	if mustRead(t, filepath.Join(in.dir, "local.txt")) != "not an extra path\n" {
		t.Error("a file that is no extra path was touched")
	}
	for _, name := range dirNames(t, in.dir) {
		if strings.HasSuffix(name, restoringSuffix) {
			t.Errorf("leftover %s", name)
		}
	}
	replaced, err := ListReplacedPath(in.dir, "migrations")
	if err != nil || len(replaced) != 1 || replaced[0].Path != byPath["migrations"].Replaced {
		t.Errorf("ListReplacedPath = %+v, %v", replaced, err)
	}
	// A restore of a backup without extra paths leaves them alone.
	if _, err := Create(context.Background(), in.data, in.root, "plain"); err != nil {
		t.Fatal(err)
	}
	before := extraTree(t, in.dir, "migrations")
	res, err = RestoreAll(context.Background(), in.root, "plain", in.data, in.dir, paths)
	if err != nil || len(res.Paths) != 0 || len(res.NotInBackup) != len(paths) {
		t.Fatalf("RestoreAll of a backup without extra paths = %+v, %v", res, err)
	}
	assertSameTree(t, "migrations after restoring a backup without them", before, extraTree(t, in.dir, "migrations"))
}

// TestRestoreAllVerifiesBeforeSwapping: a damaged copy of an extra path
// stops the restore before anything is swapped: data/ and every extra
// path stay as they are.
func TestRestoreAllVerifiesBeforeSwapping(t *testing.T) {
	in := newInstall(t)
	b := in.create(t, "b1")
	in.finish(t, "b1")
	p := filepath.Join(b.PathCopy("migrations"), "0001_init.sql")
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	overwriteInPlace(t, p, "DROP TABLE notes;\n")
	mustWrite(t, filepath.Join(in.data, "notes.txt"), "current\n", 0o644)
	mustWrite(t, filepath.Join(in.dir, ".env"), "SECRET=current\n", 0o600)
	// The install folder's own mtime moves: the copies were made in it.
	before := snapshot(t, in.dir)
	delete(before, ".")
	if _, err := RestoreAll(context.Background(), in.root, "b1", in.data, in.dir, extraPaths); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("RestoreAll of a damaged backup = %v, want ErrCorrupt", err)
	}
	after := snapshot(t, in.dir)
	delete(after, ".")
	assertSameTree(t, "install after a refused restore", before, after)
}

// TestExtraPathsRefused: extra paths that are not clean paths inside the
// install, that overlap each other or the data folder, are refused before
// anything is written.
func TestExtraPathsRefused(t *testing.T) {
	in := newInstall(t)
	for _, paths := range [][]string{{"/etc/passwd"}, {"../elsewhere"}, {"."}, {""}, {"migrations/../.env"}, {".env", ".env"}, {"migrations", "migrations/sub"}, {"data"}, {"data/x"}} {
		_, err := Create(context.Background(), in.data, in.root, "bad", Paths(in.dir, paths...))
		if !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Paths %q: err = %v, want ErrInvalidPath", paths, err)
		}
	}
	if names := dirNames(t, in.root); len(names) != 0 {
		t.Errorf("refused backups left %q", names)
	}
}

// TestColdPassDiskFullInExtraPath: a full disk while the cold pass copies
// an extra path leaves the whole hot backup complete and as it was, the
// data folder's copy included; a retry finishes it.
func TestColdPassDiskFullInExtraPath(t *testing.T) {
	trustCtimes(t)
	in := newInstall(t)
	hot := in.create(t, "b1")
	// The copies and manifests; the backup's own folders get staging
	// folders made and removed in them.
	contents := func() map[string]string {
		out := snapshot(t, hot.Path)
		for k := range out {
			if k == "." || k == partsDir || strings.Count(k, "/") == 1 && strings.HasPrefix(k, partsDir+"/") {
				delete(out, k)
			}
		}
		return out
	}
	before := contents()
	mustWrite(t, filepath.Join(in.data, "notes.txt"), "changed in data/\n", 0o644)
	mustWrite(t, filepath.Join(in.dir, ".env"), "SECRET=changed, much longer than before\n", 0o600)
	setWriterHook(t, func(rel string, w io.Writer) io.Writer {
		if rel == ".env" {
			return &failingWriter{w: w, limit: 3}
		}
		return w
	})
	if _, err := Finish(context.Background(), in.data, in.root, "b1", Paths(in.dir)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Finish = %v, want ENOSPC", err)
	}
	if list, err := List(in.root); err != nil || len(list) != 1 || !list[0].FinishedAt.IsZero() {
		t.Fatalf("List = %+v, %v; want the hot backup, complete and unfinished", list, err)
	}
	assertSameTree(t, "a failed cold pass changed the hot backup", before, contents())

	testHookWriter = nil
	b := in.finish(t, "b1")
	assertSameTree(t, "retried cold pass", readOnlyView(t, in.dir, ".env"), storedExtra(t, b, ".env"))
	if err := Verify(context.Background(), in.root, "b1"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}

// TestFinishResumesExtraPathAfterCrash: a crash while the cold pass
// changes an extra path's copy leaves a backup that does not count, and
// that Finish (or Create with its ID) completes without trusting the
// copy it was changing, even where the file changed back to what the hot
// pass saw.
func TestFinishResumesExtraPathAfterCrash(t *testing.T) {
	for _, via := range []string{"Finish", "Create"} {
		t.Run(via, func(t *testing.T) {
			trustCtimes(t)
			in := newInstall(t)
			b := in.create(t, "b1")
			envCopy := b.PathCopy(".env")
			part := filepath.Dir(filepath.Dir(envCopy))
			hotEnv := mustRead(t, filepath.Join(in.dir, ".env"))
			m, err := manifest.ReadFile(filepath.Join(part, ManifestName))
			if err != nil {
				t.Fatal(err)
			}
			// The state an interrupted commit leaves: both manifests set
			// aside, the copy of .env replaced by the staged one.
			for _, dir := range []string{b.Path, part} {
				if err := os.Rename(filepath.Join(dir, ManifestName), filepath.Join(dir, finishingName)); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(filepath.Dir(envCopy), 0o700); err != nil { // as the commit does when not root
				t.Fatal(err)
			}
			if err := os.Remove(envCopy); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, envCopy, "SECRET=9\n", 0o400)
			// The file changed back to the hot content and mtime.
			overwriteInPlace(t, filepath.Join(in.dir, ".env"), hotEnv)
			for _, e := range m.Entries {
				if e.Path == ".env" {
					if err := os.Chtimes(filepath.Join(in.dir, ".env"), e.ModTime, e.ModTime); err != nil {
						t.Fatal(err)
					}
				}
			}
			if list, _ := List(in.root); len(list) != 0 {
				t.Fatalf("List = %v: a half-committed backup counts", ids(list))
			}
			if via == "Finish" {
				b = in.finish(t, "b1")
			} else {
				b = in.create(t, "b1")
			}
			assertSameTree(t, "resumed backup of .env", readOnlyView(t, in.dir, ".env"), storedExtra(t, b, ".env"))
			if err := Verify(context.Background(), in.root, "b1"); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if names := dirNames(t, part); strings.Join(names, " ") != ManifestName+" "+DataDir {
				t.Errorf("the extra path's folder holds %q, want only its manifest and data", names)
			}
		})
	}
}

// TestRestoreAllReadOnlyExtraFolder: a read-only folder as an extra path
// comes back read-only, also for a restore that does not run as root
// (moving a folder to another parent needs it writable).
func TestRestoreAllReadOnlyExtraFolder(t *testing.T) {
	in := newInstall(t)
	locked := filepath.Join(in.dir, "locked")
	mustMkdir(t, locked)
	mustWrite(t, filepath.Join(locked, "schema.sql"), "-- fixed\n", 0o444)
	if err := os.Chmod(locked, 0o555); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(context.Background(), in.data, in.root, "b1", Paths(in.dir, "locked")); err != nil {
		t.Fatal(err)
	}
	want := extraTree(t, in.dir, "locked")
	res, err := RestoreAll(context.Background(), in.root, "b1", in.data, in.dir, []string{"locked"})
	if err != nil {
		t.Fatalf("RestoreAll: %v", err)
	}
	assertSameTree(t, "restored read-only folder", want, extraTree(t, in.dir, "locked"))
	if len(res.Paths) != 1 || res.Paths[0].Replaced == "" {
		t.Errorf("Restored = %+v, want the folder it replaced kept", res)
	}
}

// TestEstimateCountsExtraPaths: the room a backup needs includes its
// extra paths, and what the next backup would link of them.
func TestEstimateCountsExtraPaths(t *testing.T) {
	trustCtimes(t)
	in := newInstall(t)
	ctx := context.Background()
	est, err := EstimateCreate(ctx, in.data, in.root, Paths(in.dir, extraPaths...))
	if err != nil {
		t.Fatal(err)
	}
	// notes.txt, .env, 0001_init.sql, sub/0002_text.sql, and the two
	// 4 KiB data ranges of sparse.db.
	want := Estimate{CopyFiles: 5, CopyBytes: 4*4096 + 2*4096, Dirs: 5, Entries: 10}
	if est != want {
		t.Errorf("before any backup: %+v, want %+v", est, want)
	}
	b := in.create(t, "b1")
	if b.Copied != 1 {
		t.Errorf("Copied = %d in the data folder, want 1", b.Copied)
	}
	est, err = EstimateCreate(ctx, in.data, in.root, Paths(in.dir, extraPaths...))
	if err != nil {
		t.Fatal(err)
	}
	if est.CopyFiles != 0 || est.LinkFiles != 5 || est.Base != "b1" {
		t.Errorf("nothing changed: %+v, want every file linked to b1", est)
	}
}
