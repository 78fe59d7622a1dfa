package manifest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// decodeStd is the reference decoder: encoding/json alone (through
// Entry.UnmarshalJSON and Skipped.UnmarshalJSON, which read names with
// encoding/json too), then the same path checks as Decode. The checks
// are not a difference between the decoders but a layer on top of both,
// so both sides get them.
func decodeStd(data []byte) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, err
	}
	if err := m.checkPaths(); err != nil {
		return Manifest{}, err
	}
	if err := m.checkParts(); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// FuzzDecoderAgreesWithEncodingJSON holds the hand-written decoder to
// encoding/json. Property: for any input, Decode and decodeStd either
// both refuse it, or both accept it and return manifests that are
// reflect.DeepEqual (every field, every entry, time zones included).
//
// There is no allowed difference, because the hand-written parser never
// decides alone: anything it does not expect sends the whole input to
// encoding/json. That covers what it might otherwise read differently:
//
//   - unknown fields, and keys that match a field only case-insensitively
//     ("PATH"), which encoding/json ignores or folds: the parser does
//     not know them, so encoding/json decodes the input;
//   - strings holding bytes that are not UTF-8, which encoding/json
//     replaces with U+FFFD: the parser refuses them, and encoding/json
//     decodes the input;
//   - numbers that are not plain integers (1.0, 1e3), nulls, nested
//     values: encoding/json decodes the input;
//   - a version 1 manifest, or one whose fields follow "entries", or
//     with "entries" twice: encoding/json decodes the input.
//
// What the parser does accept it must read as encoding/json would:
// duplicate keys (the last wins), escapes (a lone or mismatched UTF-16
// surrogate is U+FFFD and the escape after it is kept), integers (range
// and sign checked per field, no leading zeros), mtimes (parsed from the
// bytes between the quotes, escapes not undone, as time.Time's
// UnmarshalJSON does), and whitespace (JSON's four characters only). The
// inputs that once made them differ are seeds below (decoderBugs).
//
//	go test -run '^$' -fuzz FuzzDecoderAgreesWithEncodingJSON -fuzztime 60s ./internal/backup/manifest/
func FuzzDecoderAgreesWithEncodingJSON(f *testing.F) {
	for _, m := range fixtureManifests() {
		f.Add(m.Encode())
		v1 := m
		v1.Version = 1
		if data, err := json.Marshal(v1); err == nil {
			f.Add(data) // the slow path
		}
	}
	for _, data := range append(decoderBugs, edgeSeeds...) {
		f.Add([]byte(data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkAgreement(t, data)
	})
}

// checkAgreement is the property of FuzzDecoderAgreesWithEncodingJSON.
func checkAgreement(t *testing.T, data []byte) {
	t.Helper()
	fast, ferr := Decode(data)
	std, serr := decodeStd(data)
	switch {
	case ferr != nil && serr != nil:
	case ferr != nil:
		t.Fatalf("Decode refuses what encoding/json accepts: %v\ninput: %q", ferr, data)
	case serr != nil:
		t.Fatalf("Decode accepts what encoding/json refuses (%v)\ninput: %q", serr, data)
	case !reflect.DeepEqual(fast, std):
		t.Fatalf("the decoders disagree\ninput: %q\n Decode: %+v\nencoding/json: %+v", data, fast, std)
	}
}

// fixtureManifests are manifests as Create and Finish write them: a data
// folder's with every entry type, owners and source identities, names
// that are not UTF-8, skipped entries and extra paths; the manifests of
// those extra paths (a folder, a file); a backup of a missing source; and
// the shape of a large data folder.
func fixtureManifests() []Manifest {
	created := time.Date(2024, 3, 4, 5, 6, 7, 890_123_456, time.UTC)
	finished := created.Add(93 * time.Second)
	mtime := time.Date(2024, 3, 1, 12, 0, 0, 1, time.UTC)
	ctime := mtime.UnixNano() + 5
	top := Manifest{
		Kind: Kind, Version: Version, ID: "v1.4.0-20240304T050607Z", Source: "/srv/app/data",
		Owners: true, CreatedAt: created, FinishedAt: &finished, Base: "v1.3.9-20240201T000000Z",
		DataOf: "v1.3.9", TakenBefore: "v1.4.0", ReadOnly: true,
		Parts: []string{".env", "var/migrations"},
		Entries: []Entry{
			{Path: ".", Type: TypeDir, Mode: "0755", ModTime: mtime, UID: 1000, GID: 1000},
			{Path: nameBinary, Type: TypeFile, Size: 3, Mode: "0600", ModTime: mtime, UID: 1000, GID: 1000,
				SHA256: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", SrcIno: 12, SrcCtime: ctime},
			{Path: "current", Type: TypeSymlink, Mode: "0777", ModTime: mtime, UID: 1000, GID: 1000, Target: "db/app.sqlite"},
			{Path: "db", Type: TypeDir, Mode: "2770", ModTime: mtime, UID: 1000, GID: 33},
			{Path: "dev", Type: TypeDir, Mode: "0755", ModTime: mtime},
			{Path: "uploads", Type: TypeDir, Mode: "0750", ModTime: mtime, UID: 1000, GID: 1000},
			{Path: "db/app.sqlite", Type: TypeFile, Size: 1 << 33, Mode: "0640", ModTime: mtime, UID: 1000, GID: 33,
				SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", SrcIno: 1<<63 + 7, SrcCtime: ctime},
			{Path: "db/app.sqlite-wal", Type: TypeFile, Mode: "0640", ModTime: mtime, UID: 1000, GID: 33,
				SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}, // racy: no identity
			{Path: "db/pipe", Type: TypeFIFO, Mode: "0600", ModTime: mtime, UID: 1000, GID: 33},
			{Path: "dev/null", Type: TypeCharDevice, Mode: "0666", ModTime: mtime, Rdev: 0x103},
			{Path: "dev/sda", Type: TypeBlockDevice, Mode: "0660", ModTime: mtime, GID: 6, Rdev: 0x800},
			{Path: "uploads/" + nameNewline, Type: TypeSymlink, Mode: "0777", ModTime: mtime.Add(-time.Hour), UID: 1000, GID: 1000,
				Target: "../\xff\xfe/\u00e9t\u00e9 \U0001F389"},
			{Path: "uploads/old", Type: TypeFile, Mode: "0444", ModTime: time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), UID: -2, GID: 65534,
				SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
			{Path: "uploads/" + nameJSON, Type: TypeFile, Size: 1, Mode: "4755", ModTime: mtime, UID: 1000, GID: 1000,
				SHA256: "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb", SrcIno: 99, SrcCtime: -1},
		},
		Skipped: []Skipped{
			{Path: "app.sock", Reason: "socket"},
			{Path: "uploads/gone-\xff", Reason: "vanished during backup"},
		},
		Pass: PassStats{Copied: 3, Linked: 2, Hashed: 1, Removed: 4},
	}
	top.ComputeTotals()

	migrations := Manifest{
		Kind: Kind, Version: Version, ID: top.ID, Source: "/srv/app/var/migrations", Part: "var/migrations",
		Owners: true, CreatedAt: created, FinishedAt: &finished, ReadOnly: true,
		Entries: []Entry{
			{Path: ".", Type: TypeDir, Mode: "0755", ModTime: mtime},
			{Path: "migrations", Type: TypeDir, Mode: "0755", ModTime: mtime},
			{Path: "migrations/0001_init.sql", Type: TypeFile, Size: 42, Mode: "0644", ModTime: mtime,
				SHA256: "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae", SrcIno: 4, SrcCtime: ctime},
		},
		Pass: PassStats{Linked: 1},
	}
	migrations.ComputeTotals()

	env := Manifest{
		Kind: Kind, Version: Version, ID: top.ID, Source: "/srv/app/.env", Part: ".env",
		CreatedAt: created, ReadOnly: true,
		Entries: []Entry{
			{Path: ".", Type: TypeDir, Mode: "0755", ModTime: mtime},
			{Path: ".env", Type: TypeFile, Size: 12, Mode: "0600", ModTime: mtime,
				SHA256: "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9", SrcIno: 3, SrcCtime: ctime},
		},
		Pass: PassStats{Copied: 1},
	}
	env.ComputeTotals()

	missing := Manifest{Kind: Kind, Version: Version, ID: "u2", Source: "/srv/app/data", SourceMissing: true,
		CreatedAt: created, ReadOnly: true, Entries: []Entry{}}
	missing.ComputeTotals()

	return []Manifest{top, migrations, env, missing, pathManifest(), *benchManifest(20, 3)}
}

// withEntry is a version 2 manifest as Encode lays it out, listing the
// root and then entry, written by hand.
func withEntry(entry string) string {
	return seedHeader + seedRoot + ",\n    " + entry + "\n  ]\n}\n"
}

const (
	seedHeader = `{"kind":"BackupManifest","version":2,"id":"u1","source":"/d","createdAt":"2024-01-02T03:04:05Z",` +
		`"totals":{"files":0,"dirs":1,"symlinks":0,"skipped":0,"bytes":0},"pass":{"copied":0,"linked":0,"hashed":0},` +
		"\n  \"entries\": [\n    "
	seedRoot = `{"path":".","type":"dir","mode":"0755","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`
)

// decoderBugs are inputs on which the hand-written decoder disagreed
// with encoding/json, found by reading the two side by side while this
// fuzz test was written (a 60 s run from the fixtures alone did not reach
// them) and fixed in decode.go. They stay as seeds, so go test, which
// runs the seeds, keeps them fixed.
var decoderBugs = []string{
	// A high surrogate followed by an escape that does not complete it:
	// the parser swallowed the second escape ("a\uFFFD"), encoding/json
	// keeps it ("a\uFFFDA").
	withEntry(`{"path":"a\ud800\u0041","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`),
	withEntry(`{"path":"a\udc00\udc00","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`),
	// Integers: a leading zero is not JSON; a uid past int64, a size
	// past int64 or a negative rdev (even -0) does not fit its field.
	// The parser accepted all of them, wrapping the values around.
	withEntry(`{"path":"a","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":01,"gid":0}`),
	withEntry(`{"path":"a","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":18446744073709551615,"gid":0}`),
	withEntry(`{"path":"a","type":"file","size":18446744073709551615,"mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`),
	withEntry(`{"path":"a","type":"chardev","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"rdev":-1}`),
	withEntry(`{"path":"a","type":"chardev","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"srcIno":-0}`),
	// An escape in an mtime: time.Time's UnmarshalJSON does not undo
	// escapes, so encoding/json refuses what the parser read.
	withEntry(`{"path":"a","type":"file","mode":"0644","mtime":"\u0032024-01-02T03:04:05Z","uid":0,"gid":0}`),
	// White space that is not JSON's after the entries (bytes.TrimSpace).
	seedHeader + seedRoot + "\n  ]\v}\n",
	seedHeader + seedRoot + "\n  ]\n}\u00a0",
	// Two header keys for one field: the header went through a map, so
	// "kind" beat "Kind" whatever their order; the last must win.
	`{"kind":"Other","Kind":"BackupManifest","version":2,"id":"u1","entries": [` + seedRoot + `]}`,
	// "entries" twice: the first was skipped unread, so an error in it
	// (bad base64 here) went unnoticed; encoding/json reads both.
	`{"entries":[{"pathBase64":"!!"}],"version":2,"id":"u1","entries": [` + seedRoot + `]}`,
}

// edgeSeeds are inputs on which the decoders agree by design (see the
// list of would-be differences above); seeds so mutations start there.
var edgeSeeds = []string{
	withEntry(`{"path":"a","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05+01:00","uid":0,"gid":0}`),
	withEntry(`{"path":"a","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05,5Z","uid":0,"gid":0}`),
	withEntry(`{"path":"a","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0,"unknown":[1,{"x":null}]}`),
	withEntry(`{"PATH":"a","Type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`),
	withEntry(`{"path":"a\xff","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":0,"gid":0}`),
	withEntry(`{"path":"\u00e9\ud83c\udf89\/\b\f\n\r\t\"\\","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":-0,"gid":-1}`),
	withEntry(`{"path":"a","path":"b","pathBase64":"Yw==","type":"fifo","type":"file","mode":"0644","mtime":"2024-01-02T03:04:05Z","uid":1.0,"gid":0}`),
	withEntry(`{"path":"a","type":"file","mode":"0644","mtime":null,"uid":0,"gid":0,"size":1e3}`),
	seedHeader + seedRoot + "\n  ],\n  \"source\": \"/e\"\n}\n",
	seedHeader + seedRoot + "\n  ]\n}\n{}",
}
