package artifact

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

type entry struct {
	hdr  tar.Header
	body string
}

func file(name, body string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: modTime}, body: body}
}

func dirEntry(name string, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: modTime}}
}

func link(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, ModTime: modTime}}
}

func special(name string, typ byte) entry {
	return entry{hdr: tar.Header{Typeflag: typ, Name: name, Linkname: "target", Mode: 0o644, ModTime: modTime}}
}

func tgzBytes(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("WriteHeader %s: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeArchive(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "a.tar.gz")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tree lists dir as "path mode [-> target | size]" lines, sorted.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := filepath.ToSlash(rel) + " " + fi.Mode().String()
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			line += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestUnpack(t *testing.T) {
	archive := writeArchive(t, tgzBytes(t, []entry{
		{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "x"}}},
		dirEntry("./", 0o755),
		dirEntry("./app/", 0o700),
		file("./app/server", "#!bin", 0o700),
		file("app/README.md", "readme", 0o600),
		file("app/www/assets/index.js", "js", 0o444),
		dirEntry("app/www/", 0o777), // explicit entry after its implied creation
		link("app/www/current", "assets"),
		link("app/bin", "server"),
		link("app/www/up", "../README.md"),
		link("app/dangling", "not/there"),
	}))
	dir := filepath.Join(t.TempDir(), "out")
	if err := Unpack(context.Background(), archive, dir, Limits{}); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	want := []string{
		". drwxr-xr-x",
		"app drwxr-xr-x",
		"app/README.md -rw-r--r-- readme",
		"app/bin Lrwxrwxrwx -> server",
		"app/dangling Lrwxrwxrwx -> not/there",
		"app/server -rwxr-xr-x #!bin",
		"app/www drwxr-xr-x",
		"app/www/assets drwxr-xr-x",
		"app/www/assets/index.js -rw-r--r-- js",
		"app/www/current Lrwxrwxrwx -> assets",
		"app/www/up Lrwxrwxrwx -> ../README.md",
	}
	if got := tree(t, dir); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, p := range []string{"app/server", "app/www"} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil || !fi.ModTime().Equal(modTime) {
			t.Errorf("%s mtime = %v (%v), want %v", p, fi.ModTime(), err, modTime)
		}
	}
}

func TestUnpackRefusals(t *testing.T) {
	tests := []struct {
		name    string
		entries []entry
		raw     []byte
		lim     Limits
		want    string // in the message
	}{
		{name: "absolute path", entries: []entry{file("/etc/evil", "x", 0o644)}, want: "/etc/evil"},
		{name: "dot dot", entries: []entry{file("../evil", "x", 0o644)}, want: "../evil"},
		{name: "dot dot inside", entries: []entry{file("a/../../evil", "x", 0o644)}, want: "a/../../evil"},
		{name: "unclean path", entries: []entry{file("a//b", "x", 0o644)}, want: "a//b"},
		{name: "absolute symlink", entries: []entry{link("l", "/etc")}, want: `"l"`},
		{name: "symlink leaving", entries: []entry{link("l", "../outside")}, want: "leaves the folder"},
		{name: "nested symlink leaving", entries: []entry{link("a/b/l", "../../../x")}, want: "leaves the folder"},
		{name: "symlink leaving through another symlink", entries: []entry{link("x", "."), link("d/l", "../x/..")}, want: "leaves the folder"},
		{name: "symlink chain leaving", entries: []entry{link("d/up", ".."), link("d/l", "up/../etc")}, want: "leaves the folder"},
		{name: "symlink loop", entries: []entry{link("a", "b"), link("b", "a")}, want: "loop"},
		{name: "entry through symlink", entries: []entry{dirEntry("sub/", 0o755), link("l", "sub"), file("l/x", "x", 0o644)}, want: "passes through the symlink"},
		{name: "entry through symlink declared later", entries: []entry{file("l/x", "x", 0o644), link("l", "sub")}, want: "duplicate"},
		{name: "hard link", entries: []entry{file("a", "x", 0o644), special("b", tar.TypeLink)}, want: "hard link"},
		{name: "char device", entries: []entry{special("dev", tar.TypeChar)}, want: "device"},
		{name: "block device", entries: []entry{special("dev", tar.TypeBlock)}, want: "device"},
		{name: "fifo", entries: []entry{special("p", tar.TypeFifo)}, want: "fifo"},
		{name: "duplicate file", entries: []entry{file("a", "x", 0o644), file("a", "y", 0o644)}, want: "duplicate"},
		{name: "duplicate dir", entries: []entry{dirEntry("d/", 0o755), dirEntry("d/", 0o755)}, want: "duplicate"},
		{name: "file then dir", entries: []entry{file("a", "x", 0o644), dirEntry("a/", 0o755)}, want: "duplicate"},
		{name: "beneath a file", entries: []entry{file("a", "x", 0o644), file("a/b", "y", 0o644)}, want: "which is a file"},
		{name: "too many entries", entries: []entry{file("a", "", 0o644), file("b", "", 0o644), file("c", "", 0o644)}, lim: Limits{Files: 2}, want: "more than 2 entries"},
		{name: "too many bytes", entries: []entry{file("a", "12345", 0o644), file("b", "123456", 0o644)}, lim: Limits{Bytes: 10}, want: "larger than 10 bytes"},
		{name: "not gzip", raw: []byte("PK\x03\x04 a zip file"), want: "not a gzip file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.raw
			if data == nil {
				data = tgzBytes(t, tt.entries)
			}
			archive := writeArchive(t, data)
			parent := t.TempDir()
			dir := filepath.Join(parent, "out")
			err := Unpack(context.Background(), archive, dir, tt.lim)
			t.Logf("error: %v", err)
			wantClass(t, err, true, false)
			if err != nil && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
			wantAbsent(t, dir)
			if left, _ := os.ReadDir(parent); len(left) != 0 {
				t.Errorf("left in the parent folder: %v", left)
			}
		})
	}
}

func TestUnpackTruncatedArchive(t *testing.T) {
	data := tgzBytes(t, []entry{file("a", strings.Repeat("x", 100000), 0o644)})
	archive := writeArchive(t, data[:len(data)/2])
	dir := filepath.Join(t.TempDir(), "out")
	err := Unpack(context.Background(), archive, dir, Limits{})
	wantClass(t, err, true, false)
	wantAbsent(t, dir)
}

func TestUnpackDirMustNotExist(t *testing.T) {
	archive := writeArchive(t, tgzBytes(t, []entry{file("a", "x", 0o644)}))
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keep"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := Unpack(context.Background(), archive, dir, Limits{})
	if !errors.Is(err, os.ErrExist) {
		t.Fatalf("err = %v, want os.ErrExist", err)
	}
	wantClass(t, err, false, false)
	wantFile(t, filepath.Join(dir, "keep"), []byte("mine"))
}

func TestUnpackCancelled(t *testing.T) {
	archive := writeArchive(t, tgzBytes(t, []entry{file("a", "x", 0o644)}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := filepath.Join(t.TempDir(), "out")
	err := Unpack(ctx, archive, dir, Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	wantClass(t, err, false, false)
	wantAbsent(t, dir)
}

func TestIsArchive(t *testing.T) {
	for name, want := range map[string]bool{"a.tar.gz": true, "a.tgz": true, "a": false, "a.gz": false, "a.tar": false} {
		if got := IsArchive(name); got != want {
			t.Errorf("IsArchive(%q) = %t", name, got)
		}
	}
}
