package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// allocated is the disk space a file takes: st_blocks × 512.
func allocated(t *testing.T, p string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	// A big buffer, and no WriterTo/ReaderFrom to pick a small one:
	// reading a big hole takes half the time.
	if _, err := io.CopyBuffer(struct{ io.Writer }{h}, struct{ io.Reader }{f}, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeSparse makes a file of size bytes holding 4 KiB of data at each
// offset and holes everywhere else.
func writeSparse(t *testing.T, p string, size int64, offsets ...int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for i, off := range offsets {
		chunk := make([]byte, 4096)
		for j := range chunk {
			chunk[j] = byte(i + j%251 + 1)
		}
		if _, err := f.WriteAt(chunk, off); err != nil {
			t.Fatal(err)
		}
	}
}

// A sparse file stays sparse in a backup (hot pass and cold pass) and in
// a restore: holes are recreated, not written as zeros. The sha256 in the
// manifest is still that of the whole logical content, holes included.
func TestSparseFilesStaySparse(t *testing.T) {
	if testing.Short() {
		t.Skip("hashes 128 MiB files several times; run make test")
	}
	const (
		// Big enough that a copy writing the holes as zeros (the bug:
		// a 1 GiB sparse file became 1 GiB of blocks) is 128 times over
		// the limit; small enough to hash a dozen times in a second.
		size  = 128 << 20
		limit = 1 << 20 // what a copy may take on disk
	)
	base, root := tempDir(t), tempDir(t)
	src := filepath.Join(base, "data")
	mustMkdir(t, src)
	files := map[string]int64{"disk.img": size, "hole-first.img": 32 << 20, "all-hole.img": 4 << 20}
	writeSparse(t, filepath.Join(src, "disk.img"), size, 0, 64<<20)
	writeSparse(t, filepath.Join(src, "hole-first.img"), 32<<20, 16<<20)
	writeSparse(t, filepath.Join(src, "all-hole.img"), 4<<20)
	if a := allocated(t, filepath.Join(src, "disk.img")); a > limit {
		t.Skipf("the filesystem of %s does not keep holes (%d bytes allocated)", src, a)
	}
	ctx := context.Background()
	check := func(what, dir string, sums map[string]string) {
		t.Helper()
		for name, sz := range files {
			p := filepath.Join(dir, name)
			if a := allocated(t, p); a > limit {
				t.Errorf("%s: %s takes %d bytes on disk, want under %d", what, name, a, limit)
			}
			fi, err := os.Stat(p)
			if err != nil || fi.Size() != sz {
				t.Errorf("%s: %s is %v bytes (%v), want %d", what, name, fi.Size(), err, sz)
			}
			if got := fileSHA256(t, p); got != sums[name] {
				t.Errorf("%s: %s has sha256 %s, want %s", what, name, got, sums[name])
			}
		}
	}
	sums := func() map[string]string {
		out := map[string]string{}
		for name := range files {
			out[name] = fileSHA256(t, filepath.Join(src, name))
		}
		return out
	}

	hot := sums()
	start := time.Now()
	b, err := Create(ctx, src, root, "b1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Create (hot pass) of 164 MiB of sparse files: %v", time.Since(start))
	check("hot pass", b.Data, hot)
	m, err := manifest.Read(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Entries {
		if want, ok := hot[e.Path]; ok && e.SHA256 != want {
			t.Errorf("manifest: %s has sha256 %s, want the logical content's %s", e.Path, e.SHA256, want)
		}
	}

	// Changed while the app still ran: the cold pass copies it again.
	writeSparse(t, filepath.Join(src, "disk.img"), size, 96<<20)
	cold := sums()
	start = time.Now()
	if b, err = Finish(ctx, src, root, "b1"); err != nil {
		t.Fatal(err)
	}
	t.Logf("Finish (cold pass) copying the 128 MiB sparse file again: %v", time.Since(start))
	if b.Copied != 1 {
		t.Errorf("cold pass copied %d files, want 1", b.Copied)
	}
	check("cold pass", b.Data, cold)

	start = time.Now()
	if _, err := Restore(ctx, root, "b1", src); err != nil {
		t.Fatal(err)
	}
	t.Logf("Restore (copy and verify): %v", time.Since(start))
	check("restore", src, cold)
}
