package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// copyShapes are files that take each path of copyFile: small (one read),
// empty, big (O_DIRECT in chunks, with a tail that is not a whole block),
// and modes the copy must get with or without an fchmod.
var copyShapes = []struct {
	name string
	size int
	mode uint32 // chmod bits
}{
	{"small.txt", 5000, 0o644},
	{"empty", 0, 0o600},
	{"private.key", 1234, 0o400},
	{"run.sh", 300, 0o755},
	{"setuid-tool", 4096, 0o4755},
	{"big.bin", directMin + directChunk + 12345, 0o640},
}

// writeCopyShapes writes copyShapes below dir with distinct content.
func writeCopyShapes(t *testing.T, dir string) {
	t.Helper()
	for i, f := range copyShapes {
		p := filepath.Join(dir, f.name)
		data := []byte(strings.Repeat(string(rune('a'+i)), f.size))
		for j := 0; j < len(data); j += 4099 {
			data[j] = byte(j / 4099) // no two blocks alike
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Chmod(p, f.mode); err != nil { // raw bits: 04755 is setuid
			t.Fatal(err)
		}
	}
}

// checkCopies asserts that every file of the backup's manifest has, in
// data/, the size and sha256 the manifest records (hashed here, apart
// from the package's code) and the source's mode without write bits.
func checkCopies(t *testing.T, b Backup) {
	t.Helper()
	m, err := manifest.Read(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	files := 0
	for _, e := range m.Entries {
		if e.Type != manifest.TypeFile {
			continue
		}
		files++
		p := filepath.Join(b.Data, filepath.FromSlash(e.Path))
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != e.SHA256 || int64(len(data)) != e.Size {
			t.Errorf("%s: the copy has %d bytes, sha256 %s; the manifest says %d, %s", e.Path, len(data), got, e.Size, e.SHA256)
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := parseMode(e.Mode)
		if err != nil {
			t.Fatal(err)
		}
		if got := modeBits(fi.Mode()); got != readOnly.apply(want) {
			t.Errorf("%s: mode %s, want %s (the manifest's %s without write bits)", e.Path, formatMode(got), formatMode(readOnly.apply(want)), e.Mode)
		}
	}
	if files != len(copyShapes) {
		t.Errorf("the manifest lists %d files, want %d", files, len(copyShapes))
	}
}

// Copies are created with their final mode and corrected only where the
// umask took bits away; whatever the umask, every copy is the bytes the
// manifest hashes, with the source's mode minus write bits.
func TestCopiesMatchManifestWhateverTheUmask(t *testing.T) {
	for _, umask := range []int{0o022, 0o077, 0o777} {
		t.Run(formatMode(uint32(umask)), func(t *testing.T) {
			src, root := tempDir(t), tempDir(t)
			writeCopyShapes(t, src)
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			b, err := Create(context.Background(), src, root, "u1")
			syscall.Umask(old)
			if err != nil {
				t.Fatal(err)
			}
			checkCopies(t, b)
			if err := Verify(context.Background(), root, "u1"); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

// As root, a copy whose owner differs from the one it was created with
// is chowned, and the chown, which clears setuid, is followed by the
// mode: the setuid bit survives.
func TestCopiesGetSourceOwnerAndKeepSetuid(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing owners needs root")
	}
	src, root := tempDir(t), tempDir(t)
	writeCopyShapes(t, src)
	for _, f := range copyShapes {
		if err := os.Lchown(filepath.Join(src, f.name), 1234, 5678); err != nil {
			t.Fatal(err)
		}
		// chown cleared the setuid bit of the source too.
		if err := syscall.Chmod(filepath.Join(src, f.name), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Create(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	checkCopies(t, b)
	for _, f := range copyShapes {
		fi, err := os.Lstat(filepath.Join(b.Data, f.name))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("%s: owner %d:%d, want 1234:5678", f.name, st.Uid, st.Gid)
		}
	}
	if fi, err := os.Lstat(filepath.Join(b.Data, "setuid-tool")); err != nil || fi.Mode()&os.ModeSetuid == 0 {
		t.Errorf("setuid-tool lost its setuid bit: %v, %v", fi.Mode(), err)
	}
	if err := Verify(context.Background(), root, "u1"); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// A big file the app writes while the hot pass copies it (O_DIRECT, on a
// worker of its own) gives a torn copy whose manifest hash is still the
// copy's; its size and mtime are put back, so only its ctime and content
// tell, and the cold pass copies it again.
func TestColdPassCatchesBigFileChangedDuringHotCopy(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	writeCopyShapes(t, src)
	big := filepath.Join(src, "big.bin")
	before, err := os.Stat(big)
	if err != nil {
		t.Fatal(err)
	}
	newContent := []byte(strings.Repeat("N", int(before.Size())))
	var wrote atomic.Bool
	setWriterHook(t, func(rel string, w io.Writer) io.Writer {
		if rel != "big.bin" {
			return w
		}
		return writerFunc(func(p []byte) (int, error) {
			// The first chunk was read and hashed; the app rewrites
			// the whole file before the copy reads on.
			if wrote.CompareAndSwap(false, true) {
				// In place, as a database writes: never shorter.
				f, err := os.OpenFile(big, os.O_WRONLY, 0)
				if err != nil {
					return 0, err
				}
				_, err = f.WriteAt(newContent, 0)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return 0, err
				}
				if err := os.Chtimes(big, before.ModTime(), before.ModTime()); err != nil {
					return 0, err
				}
			}
			return w.Write(p)
		})
	})
	if _, err := Create(context.Background(), src, root, "u1"); err != nil {
		t.Fatal(err)
	}
	testHookWriter = nil
	if !wrote.Load() {
		t.Fatal("the hook did not change big.bin during its copy")
	}
	hot := mustRead(t, filepath.Join(root, "u1", DataDir, "big.bin"))
	if hot == string(newContent) || !strings.HasSuffix(hot, "NNNN") {
		t.Fatalf("the hot copy of big.bin is not torn as arranged")
	}
	// The torn copy is what the manifest hashes: the backup is whole.
	if err := Verify(context.Background(), root, "u1"); err != nil {
		t.Fatalf("Verify of the hot backup: %v", err)
	}

	b, err := Finish(context.Background(), src, root, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, filepath.Join(b.Data, "big.bin")); got != string(newContent) {
		t.Errorf("after the cold pass big.bin is still torn")
	}
	if b.Copied != 1 {
		t.Errorf("Copied = %d, want only big.bin", b.Copied)
	}
	checkCopies(t, b)
	if err := Verify(context.Background(), root, "u1"); err != nil {
		t.Errorf("Verify: %v", err)
	}
}

// When one of several big files copied on workers of their own fails,
// the error names that file, not another, and no partial backup stays.
func TestParallelCopyErrorNamesTheFile(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	for _, name := range []string{"b1.bin", "b2.bin", "b3.bin"} {
		mustWrite(t, filepath.Join(src, name), strings.Repeat(name, directMin/6+1000), 0o644)
	}
	setWriterHook(t, func(rel string, w io.Writer) io.Writer {
		if rel == "b2.bin" {
			return &failingWriter{w: w, limit: 1 << 20}
		}
		return w
	})
	_, err := Create(context.Background(), src, root, "u1")
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", err)
	}
	if msg := err.Error(); !strings.Contains(msg, filepath.Join(src, "b2.bin")) || strings.Contains(msg, "b1.bin") || strings.Contains(msg, "b3.bin") {
		t.Errorf("error %q does not name b2.bin alone", msg)
	}
	if got := dirNames(t, root); len(got) != 0 {
		t.Errorf("root holds %v after a failed backup, want nothing", got)
	}
}

type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
