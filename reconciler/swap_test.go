package reconciler

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLinkReplace: dst becomes another name of src's file, whether dst is
// missing, another file, or already a name of src's file (rename(2)
// between two names of one file does nothing), and no temporary file stays.
func TestLinkReplace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, src, dst string)
	}{
		{"dst missing", func(*testing.T, string, string) {}},
		{"dst another file", func(t *testing.T, _, dst string) { writeTestFile(t, dst, "old") }},
		{"dst already src's file", func(t *testing.T, src, dst string) {
			if err := os.Link(src, dst); err != nil {
				t.Fatal(err)
			}
		}},
		{"stale tmp", func(t *testing.T, _, dst string) { writeTestFile(t, dst+".tmp", "half") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "server"), filepath.Join(dir, "server.bak")
			writeTestFile(t, src, "new")
			tc.setup(t, src, dst)
			if err := linkReplace(src, dst); err != nil {
				t.Fatal(err)
			}
			si, _ := os.Stat(src)
			if di, err := os.Stat(dst); err != nil || !os.SameFile(si, di) {
				t.Errorf("dst is not src's file: %v", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 2 {
				t.Errorf("folder holds %d entries, want server and server.bak: %v", len(entries), entries)
			}
		})
	}
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestCopyTreeKeepsTheDigest: a copy of a folder has its digest (modes,
// symlinks and read-only folders included), and any change to it changes
// the digest.
func TestCopyTreeKeepsTheDigest(t *testing.T) {
	src := filepath.Join(t.TempDir(), "dist")
	writeTestFile(t, filepath.Join(src, "assets", "app.js"), "x")
	writeTestFile(t, filepath.Join(src, "index.html"), "<html>")
	if err := os.Symlink("assets/app.js", filepath.Join(src, "app.js")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "assets"), 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(src, "assets"), 0o755) })
	want, err := treeSHA256(src)
	if err != nil || want == "" {
		t.Fatalf("treeSHA256 = %q, %v", want, err)
	}
	dst := filepath.Join(t.TempDir(), "dist.bak")
	if err := copyTree(src, dst); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(dst, "assets"), 0o755) })
	if got, err := treeSHA256(dst); err != nil || got != want {
		t.Errorf("copy has digest %q (%v), want %q", got, err, want)
	}
	if got, err := treeSHA256(filepath.Join(dst, "missing")); err != nil || got != "" {
		t.Errorf("a missing folder has digest %q (%v), want none", got, err)
	}
	for name, change := range map[string]func(dir string) error{
		"content": func(dir string) error {
			return os.WriteFile(filepath.Join(dir, "index.html"), []byte("<html>!"), 0o755)
		},
		"mode":  func(dir string) error { return os.Chmod(filepath.Join(dir, "index.html"), 0o644) },
		"added": func(dir string) error { return os.WriteFile(filepath.Join(dir, "new.txt"), nil, 0o644) },
	} {
		dir := filepath.Join(t.TempDir(), "dist")
		if err := copyTree(src, dir); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(filepath.Join(dir, "assets"), 0o755) })
		if err := change(dir); err != nil {
			t.Fatal(err)
		}
		if got, _ := treeSHA256(dir); got == want {
			t.Errorf("%s: a changed folder has the same digest", name)
		}
	}
}
