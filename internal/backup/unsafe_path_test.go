package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// escapeLayout lays out an install the way an attacker who can write the
// backup folder (but not the install) meets it:
//
//	<base>/top/mid/install/data              the app's data folder
//	<base>/top/mid/install/backups/u1        the backup
//	<base>/top/mid/install/.data.restoring   where Restore copies it
//
// so that "../../../../X" lands in <base>/top/mid/X when read from the
// backup's data folder and in <base>/X when written from the restore
// folder: every escape stays inside the test's temporary folder.
type escapeLayout struct {
	base, data, root string
	b                Backup
}

func newEscapeLayout(t *testing.T) *escapeLayout {
	t.Helper()
	base := tempDir(t)
	install := filepath.Join(base, "top", "mid", "install")
	l := &escapeLayout{base: base, data: filepath.Join(install, "data"), root: filepath.Join(install, "backups")}
	writeFiles(t, l.data, 2)
	var err error
	if l.b, err = Create(context.Background(), l.data, l.root, "u1"); err != nil {
		t.Fatal(err)
	}
	return l
}

// entryAt describes what is at p (not following a final symlink) as the
// manifest entry rel, content hash included, so a tampered manifest
// matches the disk and Verify has nothing else to complain about.
func entryAt(t *testing.T, rel, p string) manifest.Entry {
	t.Helper()
	st, err := lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	e := entryFor(rel, &st)
	switch e.Type {
	case manifest.TypeFile:
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		e.Size, e.SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
	case manifest.TypeSymlink:
		if e.Target, err = os.Readlink(p); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// tamper rewrites the manifest of the backup as an attacker would: it
// appends entries and records the data folder's current mtime (planting
// files there changed it). With b64 the paths are written as pathBase64,
// as for a name that is not UTF-8.
func (l *escapeLayout) tamper(t *testing.T, b64 bool, add ...manifest.Entry) {
	t.Helper()
	m, err := manifest.Read(l.b.Path)
	if err != nil {
		t.Fatal(err)
	}
	m.Entries[0] = entryAt(t, ".", l.b.Data)
	m.Entries = append(m.Entries, add...)
	m.ComputeTotals()
	data := m.Encode()
	if b64 {
		for _, e := range add {
			quoted, err := json.Marshal(e.Path) // as the manifest's encoder writes it
			if err != nil {
				t.Fatal(err)
			}
			plain := append([]byte(`"path":`), quoted...)
			coded := []byte(`"pathBase64":"` + base64.StdEncoding.EncodeToString([]byte(e.Path)) + `"`)
			if !bytes.Contains(data, plain) {
				t.Fatalf("no %s in the manifest", plain)
			}
			data = bytes.Replace(data, plain, coded, 1)
		}
	}
	if err := os.WriteFile(filepath.Join(l.b.Path, ManifestName), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// plant writes a file an attacker controls at p.
func plant(t *testing.T, p, content string) {
	t.Helper()
	mustMkdir(t, filepath.Dir(p))
	mustWrite(t, p, content, 0o644)
}

// hostileManifests are the manifests of issue 8: each one passed
// `backups verify`, and `backups restore` wrote outside the data folder
// (at lands, relative to the layout's base) or failed only by chance.
var hostileManifests = []struct {
	name string
	// path is the offending entry, why a word of the expected reason.
	path, why string
	// lands is where the unfixed Restore wrote, "" when it did not.
	lands string
	b64   bool
	setup func(t *testing.T, l *escapeLayout) []manifest.Entry
}{
	{name: "dot-dot", path: "../../../../X", why: `".."`, lands: "X", setup: func(t *testing.T, l *escapeLayout) []manifest.Entry {
		src := filepath.Join(l.b.Data, "../../../../X") // <base>/top/mid/X
		plant(t, src, "written by whoever can write the backup\n")
		return []manifest.Entry{entryAt(t, "../../../../X", src)}
	}},
	{name: "dot-dot as pathBase64", path: "../../../../X", why: `".."`, lands: "X", b64: true, setup: func(t *testing.T, l *escapeLayout) []manifest.Entry {
		src := filepath.Join(l.b.Data, "../../../../X")
		plant(t, src, "written by whoever can write the backup\n")
		return []manifest.Entry{entryAt(t, "../../../../X", src)}
	}},
	{name: "dot-dot inside a name", path: "f00/../../../../../X", why: `".."`, setup: func(t *testing.T, l *escapeLayout) []manifest.Entry {
		return []manifest.Entry{{Path: "f00/../../../../../X", Type: manifest.TypeDir, Mode: "0755"}}
	}},
	{name: "absolute", path: "/etc/passwd-from-backup", why: "absolute", setup: func(t *testing.T, l *escapeLayout) []manifest.Entry {
		return []manifest.Entry{{Path: "/etc/passwd-from-backup", Type: manifest.TypeFile, Mode: "0644"}}
	}},
	{name: "file below a symlink", path: "lnk/X", why: "symlink", lands: "top/X", setup: func(t *testing.T, l *escapeLayout) []manifest.Entry {
		// A relative target: from the backup's data folder it reaches
		// install/, from the restore folder top/.
		link := filepath.Join(l.b.Data, "lnk")
		mustSymlink(t, "../../..", link)
		plant(t, filepath.Join(l.base, "top", "mid", "install", "X"), "read through the symlink\n")
		return []manifest.Entry{entryAt(t, "lnk", link), entryAt(t, "lnk/X", filepath.Join(link, "X"))}
	}},
}

// checkUnsafePathError checks that err refuses the manifest of backup u1
// for entry path, and says why and what to do.
func checkUnsafePathError(t *testing.T, what string, err error, path, why string) {
	t.Helper()
	if !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("%s = %v, want an error wrapping ErrUnsafePath", what, err)
	}
	msg := err.Error()
	for _, want := range []string{"backup u1", fmt.Sprintf("%q", path), why, "restore from another backup"} {
		if !strings.Contains(msg, want) {
			t.Errorf("%s error %q does not contain %q", what, msg, want)
		}
	}
}

func TestVerifyRefusesManifestPathsOutsideTheBackup(t *testing.T) {
	for _, tt := range hostileManifests {
		t.Run(tt.name, func(t *testing.T) {
			l := newEscapeLayout(t)
			l.tamper(t, tt.b64, tt.setup(t, l)...)
			before := snapshot(t, l.base)
			err := Verify(context.Background(), l.root, "u1")
			checkUnsafePathError(t, "Verify", err, tt.path, tt.why)
			assertSameTree(t, "Verify changed the install", before, snapshot(t, l.base))
		})
	}
}

func TestRestoreRefusesManifestPathsOutsideTheBackup(t *testing.T) {
	for _, tt := range hostileManifests {
		t.Run(tt.name, func(t *testing.T) {
			l := newEscapeLayout(t)
			l.tamper(t, tt.b64, tt.setup(t, l)...)
			before := snapshot(t, l.base)
			replaced, err := Restore(context.Background(), l.root, "u1", l.data)
			if tt.lands != "" {
				if _, lerr := os.Lstat(filepath.Join(l.base, tt.lands)); lerr == nil {
					t.Errorf("Restore wrote %s, outside the data folder", filepath.Join(l.base, tt.lands))
				}
			}
			if replaced != "" {
				t.Errorf("Restore moved the data aside to %s", replaced)
			}
			checkUnsafePathError(t, "Restore", err, tt.path, tt.why)
			assertSameTree(t, "a refused Restore changed the install", before, snapshot(t, l.base))
		})
	}
}

// Finish removes what left the source: a manifest entry outside the
// backup must never make it delete anything there.
func TestFinishRefusesManifestPathsOutsideTheBackup(t *testing.T) {
	l := newEscapeLayout(t)
	victim := filepath.Join(l.b.Data, "../../../../victim") // <base>/top/mid/victim
	plant(t, victim, "the app's own file, next to the install\n")
	l.tamper(t, false, entryAt(t, "../../../../victim", victim))
	before := snapshot(t, l.base)
	_, err := Finish(context.Background(), l.data, l.root, "u1")
	if _, lerr := os.Lstat(victim); lerr != nil {
		t.Errorf("Finish removed %s, outside the backup: %v", victim, lerr)
	}
	checkUnsafePathError(t, "Finish", err, "../../../../victim", `".."`)
	assertSameTree(t, "a refused Finish changed the install", before, snapshot(t, l.base))
}

// Restore resolves every path it writes below a descriptor of the
// restore folder and never through a symlink, so neither a manifest that
// got past the checks nor a folder swapped for a symlink while it runs
// can make it write elsewhere. Both ways of resolving are tested: openat2
// and the walk used without it (old kernels, other systems).
func TestRestoreNeverFollowsASymlinkOut(t *testing.T) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) {
			beneathWalkOnly = walk
			t.Cleanup(func() { beneathWalkOnly = false })
			testRestoreNeverFollowsASymlinkOut(t)
		})
	}
}

func testRestoreNeverFollowsASymlinkOut(t *testing.T) {
	t.Run("symlink where the manifest had a folder", func(t *testing.T) {
		base, root := tempDir(t), tempDir(t)
		data, outside := filepath.Join(base, "data"), filepath.Join(base, "outside")
		writeFiles(t, filepath.Join(data, "d"), 1)
		mustMkdir(t, outside)
		b, err := Create(context.Background(), data, root, "u1")
		if err != nil {
			t.Fatal(err)
		}
		m, err := manifest.Read(b.Path)
		if err != nil {
			t.Fatal(err)
		}
		// The manifest as decoded, but with "d" turned into a symlink
		// out: what restoreInto would get if a check had a gap.
		for i := range m.Entries {
			if m.Entries[i].Path == "d" {
				m.Entries[i].Type, m.Entries[i].Target, m.Entries[i].Mode = manifest.TypeSymlink, outside, "0777"
			}
		}
		before := snapshot(t, outside)
		staging := filepath.Join(base, ".data"+restoringSuffix)
		err = restoreInto(context.Background(), b.Data, staging, &m)
		assertSameTree(t, "restoreInto wrote through a symlink", before, snapshot(t, outside))
		if !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
			t.Fatalf("restoreInto = %v, want ELOOP or ENOTDIR: d/f00 lies below a symlink", err)
		}
		t.Logf("refused: %v", err)
	})
	t.Run("folder swapped for a symlink during the restore", func(t *testing.T) {
		base, root := tempDir(t), tempDir(t)
		data, outside := filepath.Join(base, "data"), filepath.Join(base, "outside")
		writeFiles(t, filepath.Join(data, "d", "sub"), 1)
		mustMkdir(t, filepath.Join(outside, "sub"))
		if _, err := Create(context.Background(), data, root, "u1"); err != nil {
			t.Fatal(err)
		}
		staging := filepath.Join(base, ".data"+restoringSuffix)
		setRestoreHook(t, func(rel string) {
			if rel != "d/sub/f00" {
				return
			}
			d := filepath.Join(staging, "d")
			if err := os.Rename(d, d+".moved"); err != nil {
				t.Error(err)
			}
			if err := os.Symlink(outside, d); err != nil {
				t.Error(err)
			}
		})
		before := snapshot(t, outside)
		current := snapshot(t, data)
		replaced, err := Restore(context.Background(), root, "u1", data)
		assertSameTree(t, "Restore wrote through a symlink", before, snapshot(t, outside))
		if !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) || replaced != "" {
			t.Fatalf("Restore = %q, %v; want ELOOP or ENOTDIR: a folder of the restore became a symlink", replaced, err)
		}
		t.Logf("refused: %v", err)
		assertSameTree(t, "a failed Restore changed the data", current, snapshot(t, data))
		if got := dirNames(t, base); len(got) != 2 { // data, outside
			t.Errorf("%s holds %v, want the restore folder removed", base, got)
		}
	})
}

// openBeneath opens what lies below its folder and nothing else, with
// openat2 and with the walk.
func TestOpenBeneath(t *testing.T) {
	dir := t.TempDir()
	mustMkdir(t, filepath.Join(dir, "a", "b"))
	mustWrite(t, filepath.Join(dir, "a", "b", "f"), "x", 0o644)
	mustWrite(t, filepath.Join(dir, "outside"), "x", 0o644)
	mustMkdir(t, filepath.Join(dir, "root"))
	mustSymlink(t, "../a", filepath.Join(dir, "root", "up"))
	if err := os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "root", "a")); err != nil {
		t.Fatal(err)
	}
	mustSymlink(t, "b", filepath.Join(dir, "root", "a", "same"))
	mustSymlink(t, "/etc", filepath.Join(dir, "root", "a", "abs"))
	rootFD, err := unix.Open(filepath.Join(dir, "root"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(rootFD)
	tests := []struct {
		rel   string
		flags int
		ok    bool
	}{
		{".", dirHandleFlags, true},
		{"a", dirHandleFlags, true},
		{"a/b", unix.O_RDONLY | unix.O_DIRECTORY, true},
		{"a/b/f", unix.O_RDONLY, true},
		{"a/same", dirHandleFlags, false},    // a symlink, even to a folder inside
		{"a/same/f", unix.O_RDONLY, false},   // below a symlink
		{"a/abs", dirHandleFlags, false},     // a symlink out
		{"up/b/f", unix.O_RDONLY, false},     // below a symlink out
		{"../outside", unix.O_RDONLY, false}, // above the folder
		{"a/../../outside", unix.O_RDONLY, false},
		{filepath.Join(dir, "outside"), unix.O_RDONLY, false}, // absolute
	}
	for _, walk := range []bool{false, true} {
		beneathWalkOnly = walk
		for _, tt := range tests {
			fd, err := openBeneath(rootFD, tt.rel, tt.flags)
			if err == nil {
				unix.Close(fd)
			}
			if (err == nil) != tt.ok {
				t.Errorf("walk=%v: openBeneath(%q) = %v, want ok=%v", walk, tt.rel, err, tt.ok)
			}
		}
	}
	beneathWalkOnly = false
}

func setRestoreHook(t *testing.T, hook func(rel string)) {
	t.Helper()
	testHookRestore = hook
	t.Cleanup(func() { testHookRestore = nil })
}

// An incremental Create never builds on a backup whose manifest lists a
// path outside it: it takes a full copy instead, and writes nothing
// outside its own backup folder.
func TestCreateDoesNotBuildOnAManifestWithUnsafePaths(t *testing.T) {
	l := newEscapeLayout(t)
	src := filepath.Join(l.b.Data, "../../../../X")
	plant(t, src, "written by whoever can write the backup\n")
	l.tamper(t, false, entryAt(t, "../../../../X", src))
	before := snapshot(t, l.base)
	b, err := Create(context.Background(), l.data, l.root, "u2")
	if err != nil {
		t.Fatal(err)
	}
	if b.Base != "" || b.Linked != 0 {
		t.Errorf("Create built on the tampered backup: base %q, %d files linked", b.Base, b.Linked)
	}
	after := snapshot(t, l.base)
	for p := range after {
		if strings.HasPrefix(p, "top/mid/install/backups/u2") || p == "top/mid/install/backups" {
			delete(after, p)
		}
	}
	delete(before, "top/mid/install/backups")
	assertSameTree(t, "Create changed something outside its backup", before, after)
}
