package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// Verify re-reads everything: a single flipped byte, and every other kind
// of damage, is found and named.
func TestVerifyDetectsDamage(t *testing.T) {
	tests := []struct {
		name    string
		path    string // expected in the error
		damage  func(t *testing.T, data string)
		problem string
	}{
		{"flipped byte", "a/top.db", func(t *testing.T, data string) {
			p := filepath.Join(data, "a", "top.db")
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1)
			if _, err := f.ReadAt(b, 123_456); err != nil {
				t.Fatal(err)
			}
			b[0] ^= 0x01
			if _, err := f.WriteAt(b, 123_456); err != nil {
				t.Fatal(err)
			}
			f.Close()
			restoreMeta(t, p, "a/top.db", data)
		}, "sha256"},
		{"truncated", "secret.env", func(t *testing.T, data string) {
			if err := os.Truncate(filepath.Join(data, "secret.env"), 3); err != nil {
				t.Fatal(err)
			}
		}, "size 3"},
		{"missing file", nameNewline, func(t *testing.T, data string) {
			if err := os.Remove(filepath.Join(data, nameNewline)); err != nil {
				t.Fatal(err)
			}
			restoreMeta(t, data, ".", data)
		}, "cannot inspect"},
		{"mode changed", "run.sh", func(t *testing.T, data string) {
			if err := os.Chmod(filepath.Join(data, "run.sh"), 0o777); err != nil {
				t.Fatal(err)
			}
		}, "mode 0777, want 0555"},
		{"symlink retargeted", "rel-link", func(t *testing.T, data string) {
			p := filepath.Join(data, "rel-link")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			mustSymlink(t, "elsewhere", p)
			restoreMeta(t, p, "rel-link", data)
			restoreMeta(t, data, ".", data)
		}, "symlink target"},
		{"extra file", "intruder", func(t *testing.T, data string) {
			mustWrite(t, filepath.Join(data, "intruder"), "x", 0o644)
			restoreMeta(t, data, ".", data)
		}, "not in the manifest"},
		{"file replaced by folder", "empty.txt", func(t *testing.T, data string) {
			if err := os.Remove(filepath.Join(data, "empty.txt")); err != nil {
				t.Fatal(err)
			}
			mustMkdir(t, filepath.Join(data, "empty.txt"))
			restoreMeta(t, data, ".", data)
		}, "it is a dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, root := tempDir(t), tempDir(t)
			buildTree(t, src)
			b, err := Create(context.Background(), src, root, "u1")
			if err != nil {
				t.Fatal(err)
			}
			if err := Verify(context.Background(), root, "u1"); err != nil {
				t.Fatalf("Verify before damage: %v", err)
			}
			tt.damage(t, b.Data)
			err = Verify(context.Background(), root, "u1")
			var ce *CorruptError
			if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
				t.Fatalf("Verify = %v, want a CorruptError", err)
			}
			if ce.Backup != "u1" || ce.Path != tt.path || !strings.Contains(ce.Problem, tt.problem) {
				t.Errorf("CorruptError = %+v, want path %q and a problem with %q", ce, tt.path, tt.problem)
			}
		})
	}
}

// restoreMeta puts back the recorded owner, (read-only) mode and mtime of
// rel so a test damages only what it means to.
func restoreMeta(t *testing.T, p, rel, data string) {
	t.Helper()
	m, err := manifest.Read(filepath.Dir(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range m.Entries {
		if e.Path == rel {
			if err := setPathMeta(p, &e, m.Owners, readOnly); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no entry %q", rel)
}

func TestVerifyStopsWhenCancelled(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	for d := range 4 {
		writeFiles(t, filepath.Join(src, fmt.Sprint("d", d)), 50)
	}
	if _, err := Create(context.Background(), src, root, "u1"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := Verify(ctx, root, "u1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Verify = %v, want the context's error", err)
	}
}
