package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

type tarEntry struct {
	name  string
	typ   byte
	mode  int64
	data  string
	mtime time.Time
	owner string
	ids   [2]int
}

func readTarGz(t *testing.T, b []byte) ([]tarEntry, *gzip.Reader) {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var out []tarEntry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{h.Name, h.Typeflag, h.Mode, string(data), h.ModTime, h.Uname + ":" + h.Gname, [2]int{h.Uid, h.Gid}})
	}
	return out, zr
}

func TestNames(t *testing.T) {
	tg := Target{"linux", "amd64"}
	if got := ArchiveStem(Name, "v1.2.3", tg); got != "better-paas-updater_v1.2.3_linux_amd64" {
		t.Errorf("ArchiveStem = %q", got)
	}
	if got := ArchiveName(Name, "v1.2.3", tg); got != "better-paas-updater_v1.2.3_linux_amd64.tar.gz" {
		t.Errorf("ArchiveName = %q", got)
	}
	if got := BinaryPath("v1.2.3", Target{"darwin", "arm64"}); got != "better-paas-updater_v1.2.3_darwin_arm64/better-paas-updater" {
		t.Errorf("BinaryPath = %q", got)
	}
	for v, want := range map[string]bool{"v1.2.3": true, "v1.3.0-rc.1": true, "v0.0.1": true,
		"1.2.3": false, "v1.2": false, "v1": false, "v1.2.3+build": false, "v01.2.3": false, "": false, "latest": false} {
		if ValidVersion(v) != want {
			t.Errorf("ValidVersion(%q) = %v", v, !want)
		}
	}
}

func TestWriteArchive(t *testing.T) {
	when := time.Date(2026, 11, 30, 12, 0, 0, 999, time.FixedZone("x", 7200))
	files := []File{
		{Name: "README.md", Data: []byte("readme"), Mode: 0o600},
		{Name: "better-paas-updater", Data: []byte("\x7fELF"), Mode: 0o700},
		{Name: "assets/js/app.js", Data: []byte("js"), Mode: 0o644},
		{Name: "LICENSE", Data: []byte("license")},
		{Name: "empty", Mode: fs.ModeDir | 0o700},
	}
	var a, b bytes.Buffer
	if err := WriteArchive(&a, "stem", files, when); err != nil {
		t.Fatal(err)
	}
	reversed := []File{files[4], files[3], files[2], files[1], files[0]}
	if err := WriteArchive(&b, "stem", reversed, when.Add(-999)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("same files in another order (and the same second) gave other bytes")
	}
	var c bytes.Buffer
	if err := WriteArchive(&c, "stem", files, when.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Error("another modTime gave the same bytes")
	}

	entries, zr := readTarGz(t, a.Bytes())
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.Comment != "" {
		t.Errorf("gzip header carries name %q, time %v, comment %q", zr.Name, zr.ModTime, zr.Comment)
	}
	want := []struct {
		name string
		typ  byte
		mode int64
		data string
	}{
		{"stem/", tar.TypeDir, 0o755, ""},
		{"stem/LICENSE", tar.TypeReg, 0o644, "license"},
		{"stem/README.md", tar.TypeReg, 0o644, "readme"},
		{"stem/assets/", tar.TypeDir, 0o755, ""},
		{"stem/assets/js/", tar.TypeDir, 0o755, ""},
		{"stem/assets/js/app.js", tar.TypeReg, 0o644, "js"},
		{"stem/better-paas-updater", tar.TypeReg, 0o755, "\x7fELF"},
		{"stem/empty/", tar.TypeDir, 0o755, ""},
	}
	if len(entries) != len(want) {
		t.Fatalf("entries %+v, want %d", entries, len(want))
	}
	for i, w := range want {
		e := entries[i]
		if e.name != w.name || e.typ != w.typ || e.mode != w.mode || e.data != w.data {
			t.Errorf("entry %d = %q type %c mode %o %q, want %q type %c mode %o %q", i, e.name, e.typ, e.mode, e.data, w.name, w.typ, w.mode, w.data)
		}
		if !e.mtime.Equal(time.Unix(when.Unix(), 0)) || e.owner != "root:root" || e.ids != [2]int{0, 0} {
			t.Errorf("entry %s: mtime %v owner %s ids %v", e.name, e.mtime, e.owner, e.ids)
		}
	}
}

// With no stem the files are at the archive's root, with no folder entry.
func TestWriteArchiveAtRoot(t *testing.T) {
	var b bytes.Buffer
	files := []File{{Name: "index.html", Data: []byte("<p>")}, {Name: "assets/app.js", Data: []byte("js")}}
	if err := WriteArchive(&b, "", files, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	entries, _ := readTarGz(t, b.Bytes())
	var got []string
	for _, e := range entries {
		got = append(got, e.name)
	}
	if want := "assets/ assets/app.js index.html"; strings.Join(got, " ") != want {
		t.Errorf("entries %q, want %s", got, want)
	}
}

func TestWriteArchiveRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stem  string
		files []File
		want  string
	}{
		{"stem with slash", "a/b", nil, "folder name"},
		{"dotdot stem", "..", nil, "folder name"},
		{"absolute", "s", []File{{Name: "/etc/passwd"}}, `"/etc/passwd"`},
		{"dotdot", "s", []File{{Name: "../x"}}, `"../x"`},
		{"inner dotdot", "s", []File{{Name: "a/../../x"}}, `"a/../../x"`},
		{"dot", "s", []File{{Name: "./x"}}, `"./x"`},
		{"empty", "s", []File{{Name: ""}}, `""`},
		{"double slash", "s", []File{{Name: "a//b"}}, `"a//b"`},
		{"backslash", "s", []File{{Name: `a\b`}}, `"a\\b"`},
		{"twice", "s", []File{{Name: "a"}, {Name: "a"}}, "given twice"},
		{"file then folder", "s", []File{{Name: "a"}, {Name: "a/b"}}, "both a file and a folder"},
		{"folder then file", "s", []File{{Name: "a/b"}, {Name: "a"}}, "both a file and a folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteArchive(io.Discard, tc.stem, tc.files, time.Unix(0, 0))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %s", err, tc.want)
			}
		})
	}
}
