package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The hand-written encoder escapes exactly like encoding/json.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", "a/b/c.txt", "line\nbreak", "tab\tcr\r", "quote\"back\\slash",
		"<script>&amp;", "\x00\x01\x1f\x7f", "ünïcödé 日本", "\u2028\u2029", "emoji 🎉",
	} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
		// The fast decoder reads back what encoding/json would.
		p := &entryParser{b: want}
		if got, err := p.str(); err != nil || got != s || p.i != len(want) {
			t.Errorf("entryParser.str(%s) = %q, %v", want, got, err)
		}
	}
	// Escapes encoding/json accepts though we never write them.
	for in, want := range map[string]string{`"\/\b\f\u00e9\ud83c\udf89"`: "/\b\fé🎉"} {
		p := &entryParser{b: []byte(in)}
		if got, err := p.str(); err != nil || got != want {
			t.Errorf("entryParser.str(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Names that are not UTF-8 go through the manifest byte for byte: plain
// JSON strings cannot carry them (encoding/json would write U+FFFD).
func TestManifestKeepsNamesLosslessly(t *testing.T) {
	mtime := time.Date(2023, 1, 2, 3, 4, 5, 600_700_800, time.UTC)
	ctime := mtime.UnixNano() + 1
	m := Manifest{
		Kind: ManifestKind, Version: ManifestVersion, ID: "u1", Source: "/srv/app/data", Owners: true,
		CreatedAt: mtime, FinishedAt: &mtime, Base: "u0",
		Entries: []Entry{
			{Path: ".", Type: TypeDir, Mode: "0755", ModTime: mtime},
			{Path: nameNewline, Type: TypeFile, Size: 3, Mode: "0644", ModTime: mtime, UID: 1, GID: 2, SHA256: "ab", SrcIno: 7, SrcCtime: ctime},
			{Path: nameBinary, Type: TypeFile, Mode: "4755", ModTime: mtime},
			{Path: nameJSON, Type: TypeSymlink, Mode: "0777", ModTime: mtime, Target: "\xfe\xff\nx"},
			{Path: "dev", Type: TypeCharDevice, Mode: "0620", ModTime: mtime, Rdev: 259},
		},
		Skipped: []Skipped{{Path: "gone-\xff", Reason: reasonVanished}},
		Pass:    PassStats{Copied: 1, Linked: 2, Hashed: 3, Removed: 4},
	}
	m.computeTotals()
	data := m.encode()
	if !json.Valid(data) {
		t.Fatalf("manifest is not valid JSON:\n%s", data)
	}
	if !bytes.Contains(data, []byte(`"pathBase64"`)) || !bytes.Contains(data, []byte(`"targetBase64"`)) {
		t.Errorf("names that are not UTF-8 are not base64-encoded:\n%s", data)
	}
	if !bytes.Contains(data, []byte(`"path": "line\nbreak.txt"`)) && !bytes.Contains(data, []byte(`"path":"line\nbreak.txt"`)) {
		t.Errorf("a UTF-8 name with a newline should stay readable:\n%s", data)
	}
	// Both decoders: the fast one must not have fallen back.
	off := bytes.Index(data, []byte(`"entries"`)) + len(`"entries"`)
	if _, _, err := parseEntries(data[off:]); err != nil {
		t.Errorf("the fast entry parser rejects our own output: %v", err)
	}
	fast, err := decodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	var back Manifest
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fast, back) {
		t.Errorf("fast decoder:\n got %+v\nwant %+v", fast, back)
	}
	for i := range back.Entries { // time.Time compares by instant, not by location
		if !back.Entries[i].ModTime.Equal(m.Entries[i].ModTime) {
			t.Errorf("entry %d mtime %v, want %v", i, back.Entries[i].ModTime, m.Entries[i].ModTime)
		}
		back.Entries[i].ModTime = m.Entries[i].ModTime
	}
	back.CreatedAt, back.FinishedAt = m.CreatedAt, m.FinishedAt
	if !reflect.DeepEqual(back, m) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, m)
	}

	// On disk, through a real backup, and with the header-only reader.
	dir := tempDir(t)
	if err := m.write(dir); err != nil {
		t.Fatal(err)
	}
	h, err := readHeader(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != "u1" || h.Base != "u0" || h.Totals != m.Totals || h.Pass != m.Pass || h.Entries != nil || !h.Owners {
		t.Errorf("header = %+v", h)
	}
}

// Manifests written before version 2 (encoding/json, entries before
// totals, no identities) still list, verify and serve as a base.
func TestVersion1ManifestStillWorks(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	writeFiles(t, src, 3)
	b, err := Create(context.Background(), src, root, "old")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(b.Path)
	if err != nil {
		t.Fatal(err)
	}
	type v1Entry struct {
		Path    string    `json:"path"`
		Type    string    `json:"type"`
		Size    int64     `json:"size,omitempty"`
		Mode    string    `json:"mode"`
		ModTime time.Time `json:"mtime"`
		UID     int       `json:"uid"`
		GID     int       `json:"gid"`
		SHA256  string    `json:"sha256,omitempty"`
	}
	v1 := struct {
		Kind      string    `json:"kind"`
		Version   int       `json:"version"`
		ID        string    `json:"id"`
		Source    string    `json:"source"`
		CreatedAt time.Time `json:"createdAt"`
		Entries   []v1Entry `json:"entries"`
		Totals    Totals    `json:"totals"`
	}{ManifestKind, 1, "old", src, m.CreatedAt, nil, m.Totals}
	for _, e := range m.Entries {
		v1.Entries = append(v1.Entries, v1Entry{e.Path, e.Type, e.Size, e.Mode, e.ModTime, e.UID, e.GID, e.SHA256})
	}
	data, err := json.MarshalIndent(v1, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Path, ManifestName), append(data, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}

	list, err := List(root)
	if err != nil || len(list) != 1 || list[0].Files != 3 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if err := Verify(context.Background(), root, "old"); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	b2, err := Create(context.Background(), src, root, "new")
	if err != nil {
		t.Fatal(err)
	}
	if b2.Base != "old" || b2.Hashed != 3 || b2.Linked != 3 || b2.Copied != 0 {
		t.Errorf("incremental on a v1 base: %+v, want 3 files hashed and linked", b2)
	}
}

func TestReadManifestRejectsOtherKinds(t *testing.T) {
	dir := tempDir(t)
	for _, content := range []string{`{"kind":"Other","version":2}` + "\n", `{"kind":"BackupManifest","version":99}` + "\n"} {
		mustWrite(t, filepath.Join(dir, ManifestName), content, 0o600)
		if _, err := ReadManifest(dir); err == nil || !strings.Contains(err.Error(), "cannot use manifest") {
			t.Errorf("ReadManifest(%s) = %v", content, err)
		}
		if _, err := readHeader(filepath.Join(dir, ManifestName)); err == nil {
			t.Errorf("readHeader(%s) accepted it", content)
		}
	}
}
