package backup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// EstimateCreate applies Create's rule: it counts what the hot pass would
// copy (new and changed files, each rounded up to a 4 KiB block) and
// what it would link, against the newest complete backup, without
// writing anything; Create then copies exactly the files it counted.
func TestEstimateCreateCountsWhatCreateCopies(t *testing.T) {
	trustCtimes(t)
	src, root := tempDir(t), tempDir(t)
	writeFiles(t, filepath.Join(src, "small"), 10) // 10 files of 19 or 20 bytes
	mustWrite(t, filepath.Join(src, "big.db"), strings.Repeat("b", 100_000), 0o644)
	ctx := context.Background()

	est, err := EstimateCreate(ctx, src, root)
	if err != nil {
		t.Fatal(err)
	}
	want := Estimate{CopyFiles: 11, CopyBytes: 10*4096 + 102400, Dirs: 2, Entries: 13}
	if est != want {
		t.Errorf("before any backup: %+v, want %+v", est, want)
	}
	if _, err := Create(ctx, src, root, "b1"); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, root)
	est, err = EstimateCreate(ctx, src, root)
	if err != nil {
		t.Fatal(err)
	}
	want = Estimate{Base: "b1", LinkFiles: 11, LinkBytes: 10*4096 + 102400, Dirs: 2, Entries: 13}
	if est != want {
		t.Errorf("nothing changed: %+v, want %+v", est, want)
	}
	assertSameTree(t, "EstimateCreate wrote into the backup root", before, snapshot(t, root))

	// One file changed, one new, one gone.
	overwriteInPlace(t, filepath.Join(src, "big.db"), strings.Repeat("c", 5000))
	mustWrite(t, filepath.Join(src, "small", "new"), "new", 0o644)
	if err := os.Remove(filepath.Join(src, "small", "f01")); err != nil {
		t.Fatal(err)
	}
	est, err = EstimateCreate(ctx, src, root)
	if err != nil {
		t.Fatal(err)
	}
	want = Estimate{Base: "b1", CopyFiles: 2, CopyBytes: 8192 + 4096, LinkFiles: 9, LinkBytes: 9 * 4096, Dirs: 2, Entries: 13}
	if est != want {
		t.Errorf("after changes: %+v, want %+v", est, want)
	}
	b2, err := Create(ctx, src, root, "b2")
	if err != nil {
		t.Fatal(err)
	}
	if b2.Copied != est.CopyFiles || b2.Linked != est.LinkFiles {
		t.Errorf("Create copied %d and linked %d, the estimate said %d and %d", b2.Copied, b2.Linked, est.CopyFiles, est.LinkFiles)
	}

	// A missing source is an empty backup: nothing to copy.
	if est, err := EstimateCreate(ctx, filepath.Join(src, "missing"), root); err != nil || est != (Estimate{}) {
		t.Errorf("missing source: %+v, %v; want nothing", est, err)
	}
}
