package manifest

import (
	"bytes"
	"encoding/json"
	"flag"
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
		Kind: Kind, Version: Version, ID: "u1", Source: "/srv/app/data", Owners: true,
		CreatedAt: mtime, FinishedAt: &mtime, Base: "u0",
		Entries: []Entry{
			{Path: ".", Type: TypeDir, Mode: "0755", ModTime: mtime},
			{Path: nameNewline, Type: TypeFile, Size: 3, Mode: "0644", ModTime: mtime, UID: 1, GID: 2, SHA256: "ab", SrcIno: 7, SrcCtime: ctime},
			{Path: nameBinary, Type: TypeFile, Mode: "4755", ModTime: mtime},
			{Path: nameJSON, Type: TypeSymlink, Mode: "0777", ModTime: mtime, Target: "\xfe\xff\nx"},
			{Path: "dev", Type: TypeCharDevice, Mode: "0620", ModTime: mtime, Rdev: 259},
		},
		Skipped: []Skipped{{Path: "gone-\xff", Reason: "vanished during backup"}},
		Pass:    PassStats{Copied: 1, Linked: 2, Hashed: 3, Removed: 4},
	}
	m.ComputeTotals()
	data := m.Encode()
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
	fast, err := Decode(data)
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
	dir := t.TempDir()
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeader(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != "u1" || h.Base != "u0" || h.Totals != m.Totals || h.Pass != m.Pass || h.Entries != nil || !h.Owners {
		t.Errorf("header = %+v", h)
	}
}

func TestReadManifestRejectsOtherKinds(t *testing.T) {
	dir := t.TempDir()
	for _, content := range []string{`{"kind":"Other","version":2}` + "\n", `{"kind":"BackupManifest","version":99}` + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, FileName), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "cannot use manifest") {
			t.Errorf("Read(%s) = %v", content, err)
		}
		if _, err := ReadHeader(filepath.Join(dir, FileName)); err == nil {
			t.Errorf("ReadHeader(%s) accepted it", content)
		}
	}
}

// Names a manifest must keep byte for byte: a newline, bytes that are not
// UTF-8, JSON's special characters and a Unicode line separator.
const (
	nameNewline = "line\nbreak.txt"
	nameBinary  = "bad-\xff\xfe\x80.bin"
	nameJSON    = "quote\"back\\slash<&>\u2028.txt"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Encode's bytes are the on-disk format: the fixtures encode to the
// golden files byte for byte (go test -run TestEncodeGolden -update
// rewrites them, for a deliberate change of format).
func TestEncodeGolden(t *testing.T) {
	for i, name := range []string{"data", "part-folder", "part-file", "source-missing"} {
		m := fixtureManifests()[i]
		got := m.Encode()
		golden := filepath.Join("testdata", name+".golden.json")
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: Encode differs from %s:\n%s", name, golden, got)
		}
		back, err := Decode(want)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if again := back.Encode(); !bytes.Equal(again, want) {
			t.Errorf("%s: Encode(Decode(golden)) differs from the golden file:\n%s", name, again)
		}
	}
}
