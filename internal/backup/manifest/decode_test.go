package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pathManifest is a small valid manifest: the root, a folder "a" with a
// file, a symlink and an empty folder, and a file at the top.
func pathManifest() Manifest {
	mtime := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	m := Manifest{Kind: Kind, Version: Version, ID: "u1", Source: "/srv/app/data", CreatedAt: mtime}
	m.Entries = []Entry{
		{Path: ".", Type: TypeDir, Mode: "0755", ModTime: mtime},
		{Path: "a", Type: TypeDir, Mode: "0755", ModTime: mtime},
		{Path: "top.txt", Type: TypeFile, Size: 1, Mode: "0644", ModTime: mtime, SHA256: "00"},
		{Path: "a/empty", Type: TypeDir, Mode: "0700", ModTime: mtime},
		{Path: "a/f", Type: TypeFile, Size: 1, Mode: "0644", ModTime: mtime, SHA256: "00"},
		{Path: "a/lnk", Type: TypeSymlink, Mode: "0777", ModTime: mtime, Target: "/etc"},
	}
	m.ComputeTotals()
	return m
}

// encodings returns m as this package writes it (decoded by the fast
// parser) and as version 1 wrote it (decoded by encoding/json), so both
// decoders are held to the same checks.
func encodings(t testing.TB, m Manifest) map[string][]byte {
	t.Helper()
	v1 := m
	v1.Version = 1
	slow, err := json.Marshal(v1)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"fast": m.Encode(), "encoding/json": slow}
}

// unsafeManifests change pathManifest in one way each; Decode
// must refuse every one, naming path and a word of the reason.
var unsafeManifests = []struct {
	name, path, why string
	edit            func(m *Manifest)
}{
	{"dot-dot", "../../../../X", `".."`, add(Entry{Path: "../../../../X", Type: TypeFile})},
	{"dot-dot alone", "..", `".."`, add(Entry{Path: "..", Type: TypeDir})},
	{"dot-dot in the middle", "a/../../b", `".."`, add(Entry{Path: "a/../../b", Type: TypeFile})},
	{"dot-dot at the end", "a/..", `".."`, add(Entry{Path: "a/..", Type: TypeDir})},
	{"absolute", "/etc/passwd", "absolute", add(Entry{Path: "/etc/passwd", Type: TypeFile})},
	{"empty", "", "empty", add(Entry{Path: "", Type: TypeFile})},
	{"NUL byte", "a\x00b", "NUL", add(Entry{Path: "a\x00b", Type: TypeFile})},
	{"dot component", "a/./f2", `"."`, add(Entry{Path: "a/./f2", Type: TypeFile})},
	{"leading dot component", "./f2", `"."`, add(Entry{Path: "./f2", Type: TypeFile})},
	{"repeated slash", "a//f2", "empty component", add(Entry{Path: "a//f2", Type: TypeFile})},
	{"trailing slash", "a/f2/", "slash", add(Entry{Path: "a/f2/", Type: TypeFile})},
	{"parent is a symlink", "a/lnk/passwd", "symlink", add(Entry{Path: "a/lnk/passwd", Type: TypeFile})},
	{"parent is a file", "top.txt/x", "file", add(Entry{Path: "top.txt/x", Type: TypeFile})},
	{"parent not listed", "b/x", "not listed", add(Entry{Path: "b/x", Type: TypeFile})},
	{"parent listed after", "a/empty", "not listed", func(m *Manifest) {
		// "a" moved after its children.
		a := m.Entries[1]
		m.Entries = append(append(m.Entries[:1:1], m.Entries[2:]...), a)
	}},
	{"duplicate", "a/f", "twice", add(Entry{Path: "a/f", Type: TypeFile})},
	{"duplicate folder", "a", "twice", add(Entry{Path: "a", Type: TypeDir})},
	{"root not first", ".", "root", add(Entry{Path: ".", Type: TypeDir})},
	{"root not a folder", ".", "root", func(m *Manifest) { m.Entries[0].Type = TypeSymlink }},
}

func add(e Entry) func(m *Manifest) {
	return func(m *Manifest) { m.Entries = append(m.Entries, e) }
}

func TestDecodeManifestRejectsUnsafePaths(t *testing.T) {
	for _, tt := range unsafeManifests {
		m := pathManifest()
		tt.edit(&m)
		for dec, data := range encodings(t, m) {
			t.Run(tt.name+"/"+dec, func(t *testing.T) {
				_, err := Decode(data)
				if !errors.Is(err, ErrUnsafePath) {
					t.Fatalf("Decode = %v, want ErrUnsafePath", err)
				}
				msg := err.Error()
				for _, want := range []string{"backup u1", fmt.Sprintf("%q", tt.path), tt.why, "restore from another backup"} {
					if !strings.Contains(msg, want) {
						t.Errorf("error %q does not contain %q", msg, want)
					}
				}
			})
		}
	}
}

// Names that look odd but are plain names inside the backup stay valid.
func TestDecodeManifestAcceptsOddNames(t *testing.T) {
	m := pathManifest()
	for _, name := range []string{"...", "..a", "a..", ".hidden", "..\\..", "back\\slash", nameNewline, nameBinary, nameJSON, " ", "a/.git"} {
		m.Entries = append(m.Entries, Entry{Path: name, Type: TypeFile, Mode: "0644"})
	}
	m.ComputeTotals()
	for dec, data := range encodings(t, m) {
		got, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: Decode = %v", dec, err)
		}
		if len(got.Entries) != len(m.Entries) {
			t.Errorf("%s: %d entries, want %d", dec, len(got.Entries), len(m.Entries))
		}
	}
	// A backup of a missing source lists nothing, not even the root.
	empty := Manifest{Kind: Kind, Version: Version, ID: "u1", SourceMissing: true}
	if _, err := Decode(empty.Encode()); err != nil {
		t.Errorf("manifest of a missing source: %v", err)
	}
}

// FuzzDecodeManifest feeds the manifest decoder hostile paths. Property:
// Decode either fails or returns a manifest whose every entry is
// the root or a clean, relative, slash-separated path inside the backup,
// below a folder listed before it, listed once; and that manifest
// re-encodes to bytes that decode to the same manifest.
//
//	go test -run '^$' -fuzz FuzzDecodeManifest -fuzztime 30s ./internal/backup/manifest/
func FuzzDecodeManifest(f *testing.F) {
	good := pathManifest()
	for _, data := range encodings(f, good) {
		f.Add(data)
	}
	f.Add(benchManifest(30, 3).Encode())
	lossless := pathManifest()
	lossless.Entries = append(lossless.Entries,
		Entry{Path: nameBinary, Type: TypeFile, Mode: "0644"},
		Entry{Path: "a/" + nameNewline, Type: TypeSymlink, Mode: "0777", Target: "\xff\xfe"})
	f.Add(lossless.Encode())
	for _, tt := range unsafeManifests {
		m := pathManifest()
		tt.edit(&m)
		for _, data := range encodings(f, m) {
			f.Add(data)
		}
	}
	// Hand-written entries, as an attacker would type them: names that
	// decode to "../x", "/etc/passwd", "a\x00b" only from base64 or
	// escapes.
	hdr := `{"kind":"BackupManifest","version":2,"id":"u1","source":"/d","createdAt":"2024-01-02T03:04:05Z","totals":{"files":0,"dirs":1,"symlinks":0,"skipped":0,"bytes":0},"pass":{"copied":0,"linked":0,"hashed":0},` +
		"\n  \"entries\": [\n    " + `{"path":".","type":"dir","mode":"0755","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`
	for _, e := range []string{
		`{"pathBase64":"Li4veA==","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`,         // ../x
		`{"pathBase64":"L2V0Yy9wYXNzd2Q=","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`, // /etc/passwd
		`{"pathBase64":"YQBi","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`,             // a\x00b
		`{"path":"a\u0000b","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`,
		`{"path":"\u002e\u002e/x","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`,
		`{"path":"..\/x","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`,
		`{"path":"ok","pathBase64":"Li4veA==","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`,
		`{"path":"l","type":"symlink","mode":"0777","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"target":"/etc"},` + "\n    " +
			`{"path":"l/passwd","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`,
		`{"path":"x","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`,
	} {
		f.Add([]byte(hdr + ",\n    " + e + "\n  ]\n}\n"))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		checkSafeEntries(t, m.Entries)
		again := m.Encode()
		back, err := Decode(again)
		if err != nil {
			t.Fatalf("the re-encoded manifest does not decode: %v\n%s", err, again)
		}
		if third := back.Encode(); !bytes.Equal(third, again) {
			t.Fatalf("decode(encode(m)) differs from m:\n%s\n%s", again, third)
		}
		if len(back.Entries) != len(m.Entries) {
			t.Fatalf("%d entries, re-decoded %d", len(m.Entries), len(back.Entries))
		}
		for i := range m.Entries {
			if back.Entries[i].Path != m.Entries[i].Path || back.Entries[i].Target != m.Entries[i].Target {
				t.Fatalf("entry %d: %q -> %q, re-decoded %q -> %q", i, m.Entries[i].Path, m.Entries[i].Target, back.Entries[i].Path, back.Entries[i].Target)
			}
		}
	})
}

// checkSafeEntries is the fuzz property, written independently of the
// decoder's own check: lexical checks from the standard library and a map.
func checkSafeEntries(t *testing.T, entries []Entry) {
	t.Helper()
	kinds := map[string]string{".": TypeDir}
	for i, e := range entries {
		p := e.Path
		if p == "." {
			if i != 0 || e.Type != TypeDir {
				t.Fatalf("entry %d: root %q of type %s", i, p, e.Type)
			}
			continue
		}
		if !filepath.IsLocal(p) || path.Clean(p) != p || strings.ContainsRune(p, 0) || strings.HasPrefix(p, "./") {
			t.Fatalf("entry %d: unsafe path %q was accepted", i, p)
		}
		if _, dup := kinds[p]; dup {
			t.Fatalf("entry %d: duplicate path %q was accepted", i, p)
		}
		if parent := path.Dir(p); kinds[parent] != TypeDir {
			t.Fatalf("entry %d: %q below %q, which is %q", i, p, parent, kinds[parent])
		}
		kinds[p] = e.Type
	}
}

// The two ways checkPaths checks a manifest agree, and a manifest in the
// order Entries documents (the benchmark's, shaped like the hot pass's)
// takes the fast one. The backup package's tests check that Create and
// Finish write that order (TestPassesWriteEntriesInManifestOrder).
func TestCheckPathsOrderedAgreesWithAnyOrder(t *testing.T) {
	var manifests []Manifest
	for _, tt := range unsafeManifests {
		m := pathManifest()
		tt.edit(&m)
		manifests = append(manifests, m)
	}
	odd := pathManifest()
	odd.Entries = append(odd.Entries, Entry{Path: "...", Type: TypeFile}, Entry{Path: "a/.x", Type: TypeFile})
	manifests = append(manifests, pathManifest(), odd, *benchManifest(100, 7))
	for _, m := range manifests {
		i, why, ordered := m.checkPathsOrdered()
		j, why2 := m.checkPathsAnyOrder()
		if ordered && (i != j || why != why2) {
			t.Errorf("ordered check says %d %q, any-order check %d %q, for %+v", i, why, j, why2, m.Entries)
		}
	}

	if _, why, ordered := benchManifest(1000, 10).checkPathsOrdered(); !ordered || why != "" {
		t.Errorf("the benchmark's manifest: ordered=%v why=%q", ordered, why)
	}
	for i, m := range fixtureManifests() {
		if _, why, ordered := m.checkPathsOrdered(); !ordered || why != "" {
			t.Errorf("fixture %d: ordered=%v why=%q", i, ordered, why)
		}
	}
}
