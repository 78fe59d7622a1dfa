package manifest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

const (
	// Kind is the kind written into every manifest.
	Kind = "BackupManifest"
	// Version is the manifest format this package writes. Version 2
	// added source identities (for incremental backups), special files,
	// lossless names and the cold pass; version 1 manifests are still read.
	Version = 2
)

// Entry types recorded in a manifest.
const (
	TypeFile    = "file"
	TypeDir     = "dir"
	TypeSymlink = "symlink"
	// TypeFIFO is a named pipe, recreated empty by a restore.
	TypeFIFO = "fifo"
	// TypeCharDevice and TypeBlockDevice are device nodes, recreated with
	// their device number (Rdev); copying them needs root.
	TypeCharDevice  = "chardev"
	TypeBlockDevice = "blockdev"
)

// Manifest is the content of <root>/<id>/MANIFEST.json. It lists what the
// backup holds so a later step can verify or restore it without trusting
// the folder alone.
type Manifest struct {
	Kind    string `json:"kind"`
	Version int    `json:"version"`
	// ID is the backup ID; it matches the folder name.
	ID string `json:"id"`
	// Source is the folder that was copied, as given to backup.Create.
	Source string `json:"source"`
	// SourceMissing is true when the source folder did not exist, so a
	// restore should not create it.
	SourceMissing bool `json:"sourceMissing,omitempty"`
	// Owners is true when file owners were copied (the backup ran as
	// root); backup.Verify checks owners only then.
	Owners bool `json:"owners,omitempty"`
	// CreatedAt is when the hot pass (backup.Create) started.
	CreatedAt time.Time `json:"createdAt"`
	// FinishedAt is when the last cold pass (backup.Finish) started, nil
	// when the backup never had one. The data reflects the source at that moment.
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// Base is the ID of the earlier backup whose unchanged files the hot
	// pass hard-linked, empty for a full copy.
	Base string `json:"base,omitempty"`
	// DataOf is the version whose data the backup holds: the one that ran
	// (and wrote data/) when it was taken. TakenBefore is the version the
	// update that took it was about to install. Both are labels for
	// humans, given to backup.Create (see backup.DataOf and
	// backup.TakenBefore); empty when unknown, and absent from manifests
	// written before they existed.
	DataOf      string `json:"dataOf,omitempty"`
	TakenBefore string `json:"takenBefore,omitempty"`
	// ReadOnly is true when every copy in data/ was written without
	// write bits: its mode is the recorded Mode minus 0222, so
	// backup.Verify accepts nothing else. Manifests written before
	// backups were read-only lack it; their copies may have the recorded
	// mode, or the read-only one once a later backup linked to them.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Parts lists the extra paths backed up with the data folder (see
	// backup.Paths), relative to the install folder and slash-separated,
	// in the order given. Each has a folder of its own, parts/<name>/
	// (see PartName), holding its manifest and data/ as a backup folder
	// holds them. Absent from backups without extra paths, and from all
	// made before extra paths existed.
	Parts []string `json:"parts,omitempty"`
	// Part is set in the manifest of an extra path's folder only: the
	// extra path it holds. Its entries are then those of the folder that
	// holds the path ("." ) narrowed to the path's name: "." and the name,
	// with what is below it; Source is the path itself.
	Part string `json:"part,omitempty"`
	// Entries lists the data/ folder itself (path ".") and everything
	// copied under it, parents before children; the entries of one
	// folder are together, in byte order of their names.
	Entries []Entry `json:"entries"`
	// Skipped lists what was not copied, and why.
	Skipped []Skipped `json:"skipped,omitempty"`
	Totals  Totals    `json:"totals"`
	// Pass counts what the pass that wrote this manifest did.
	Pass PassStats `json:"pass"`
}

// Entry is one copied file, folder, symlink or special file.
//
// Path and Target hold the raw bytes of the name, which need not be UTF-8.
// In JSON they are written as "path"/"target" when they are valid UTF-8
// and as "pathBase64"/"targetBase64" (standard base64 of the raw bytes)
// otherwise, because a JSON string cannot carry arbitrary bytes: the
// standard encoder would silently replace them with U+FFFD.
type Entry struct {
	// Path is slash-separated and relative to the data/ folder.
	Path string
	// Type is one of the Type constants.
	Type string
	// Size is the number of bytes copied (files only).
	Size int64
	// Mode is the permission bits in octal, including setuid, setgid and
	// sticky as the leading digit ("0644", "4755").
	Mode    string
	ModTime time.Time
	UID     int
	GID     int
	// SHA256 is the hex digest of the content copied (files only).
	SHA256 string
	// Target is the link target, never resolved (symlinks only).
	Target string
	// Rdev is the device number (device nodes only).
	Rdev uint64
	// SrcIno and SrcCtime identify the source file as it was when its
	// content was read: inode number and status change time (ns since
	// the epoch). The next pass trusts that a source file with the same
	// size, mtime, inode and ctime is unchanged and does not read it.
	// Both are zero when the file changed too recently for its ctime to
	// be trusted ("racy"): the next pass then compares content hashes.
	SrcIno   uint64
	SrcCtime int64
}

type entryJSON struct {
	Path         string    `json:"path,omitempty"`
	PathBase64   string    `json:"pathBase64,omitempty"`
	Type         string    `json:"type"`
	Size         int64     `json:"size,omitempty"`
	Mode         string    `json:"mode"`
	ModTime      time.Time `json:"mtime"`
	UID          int       `json:"uid"`
	GID          int       `json:"gid"`
	SHA256       string    `json:"sha256,omitempty"`
	Target       string    `json:"target,omitempty"`
	TargetBase64 string    `json:"targetBase64,omitempty"`
	Rdev         uint64    `json:"rdev,omitempty"`
	SrcIno       uint64    `json:"srcIno,omitempty"`
	SrcCtime     int64     `json:"srcCtimeNs,omitempty"`
}

// MarshalJSON writes e with names encoded losslessly. It is hand-written
// because a manifest of 50,000 files is on the update's critical path and
// the reflective encoder was the slowest part of an incremental backup.
func (e Entry) MarshalJSON() ([]byte, error) {
	return e.appendJSON(nil), nil
}

func (e *Entry) appendJSON(b []byte) []byte {
	b = append(b, '{')
	b = appendName(b, "path", e.Path)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	if e.Size != 0 {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, e.Size, 10)
	}
	b = append(b, `,"mode":`...)
	b = appendString(b, e.Mode)
	b = append(b, `,"mtime":"`...)
	b = e.ModTime.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","uid":`...)
	b = strconv.AppendInt(b, int64(e.UID), 10)
	b = append(b, `,"gid":`...)
	b = strconv.AppendInt(b, int64(e.GID), 10)
	if e.SHA256 != "" {
		b = append(b, `,"sha256":`...)
		b = appendString(b, e.SHA256)
	}
	if e.Target != "" {
		b = append(b, ',')
		b = appendName(b, "target", e.Target)
	}
	if e.Rdev != 0 {
		b = append(b, `,"rdev":`...)
		b = strconv.AppendUint(b, e.Rdev, 10)
	}
	if e.SrcIno != 0 {
		b = append(b, `,"srcIno":`...)
		b = strconv.AppendUint(b, e.SrcIno, 10)
	}
	if e.SrcCtime != 0 {
		b = append(b, `,"srcCtimeNs":`...)
		b = strconv.AppendInt(b, e.SrcCtime, 10)
	}
	return append(b, '}')
}

// UnmarshalJSON reads what MarshalJSON writes.
func (e *Entry) UnmarshalJSON(data []byte) error {
	var w entryJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	path, err := decodeName(w.Path, w.PathBase64)
	if err != nil {
		return fmt.Errorf("cannot decode pathBase64: %w", err)
	}
	target, err := decodeName(w.Target, w.TargetBase64)
	if err != nil {
		return fmt.Errorf("cannot decode targetBase64: %w", err)
	}
	*e = Entry{
		Path: path, Type: w.Type, Size: w.Size, Mode: w.Mode, ModTime: w.ModTime,
		UID: w.UID, GID: w.GID, SHA256: w.SHA256, Target: target, Rdev: w.Rdev,
		SrcIno: w.SrcIno, SrcCtime: w.SrcCtime,
	}
	return nil
}

// Skipped is a source entry that is not in the backup. Path is encoded in
// JSON like Entry.Path.
type Skipped struct {
	Path   string
	Reason string
}

type skippedJSON struct {
	Path       string `json:"path,omitempty"`
	PathBase64 string `json:"pathBase64,omitempty"`
	Reason     string `json:"reason"`
}

// MarshalJSON writes s with its path encoded losslessly.
func (s Skipped) MarshalJSON() ([]byte, error) {
	b := append([]byte{'{'}, appendName(nil, "path", s.Path)...)
	b = append(b, `,"reason":`...)
	b = appendString(b, s.Reason)
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Skipped) UnmarshalJSON(data []byte) error {
	var w skippedJSON
	if err := json.Unmarshal(data, &w); err != nil {
		return err
	}
	path, err := decodeName(w.Path, w.PathBase64)
	if err != nil {
		return fmt.Errorf("cannot decode pathBase64: %w", err)
	}
	*s = Skipped{Path: path, Reason: w.Reason}
	return nil
}

// Totals summarises the entries of a manifest.
type Totals struct {
	Files    int   `json:"files"`
	Dirs     int   `json:"dirs"`
	Symlinks int   `json:"symlinks"`
	Specials int   `json:"specials,omitempty"`
	Skipped  int   `json:"skipped"`
	Bytes    int64 `json:"bytes"`
}

// PassStats counts the work of one pass over the source.
type PassStats struct {
	// Copied is the number of files whose content was copied.
	Copied int `json:"copied"`
	// Linked is the number of files hard-linked to the previous backup's
	// copy (hot pass) or kept as they were (cold pass).
	Linked int `json:"linked"`
	// Hashed is the number of unchanged-looking files read to compare
	// their hash because their inode or ctime could not be trusted.
	Hashed int `json:"hashed"`
	// Removed is the number of entries the cold pass dropped because they
	// had left the source.
	Removed int `json:"removed,omitempty"`
}

// Encode returns the manifest as JSON, as Write stores it: one entry per
// line so a human can read and diff it, header fields before the entries
// (ReadHeader stops at them), built by hand for speed (see
// Entry.MarshalJSON). The bytes are the on-disk format: they must not
// change for a given manifest, which the golden and round-trip tests hold.
func (m *Manifest) Encode() []byte {
	b := make([]byte, 0, 512+len(m.Entries)*256)
	b = append(b, "{\n  \"kind\": "...)
	b = appendString(b, m.Kind)
	b = append(b, ",\n  \"version\": "...)
	b = strconv.AppendInt(b, int64(m.Version), 10)
	b = append(b, ",\n  \"id\": "...)
	b = appendString(b, m.ID)
	b = append(b, ",\n  \"source\": "...)
	b = appendString(b, m.Source)
	if m.SourceMissing {
		b = append(b, ",\n  \"sourceMissing\": true"...)
	}
	if m.Owners {
		b = append(b, ",\n  \"owners\": true"...)
	}
	b = append(b, ",\n  \"createdAt\": \""...)
	b = m.CreatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if m.FinishedAt != nil {
		b = append(b, ",\n  \"finishedAt\": \""...)
		b = m.FinishedAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	if m.Base != "" {
		b = append(b, ",\n  \"base\": "...)
		b = appendString(b, m.Base)
	}
	if m.DataOf != "" {
		b = append(b, ",\n  \"dataOf\": "...)
		b = appendString(b, m.DataOf)
	}
	if m.TakenBefore != "" {
		b = append(b, ",\n  \"takenBefore\": "...)
		b = appendString(b, m.TakenBefore)
	}
	if m.ReadOnly {
		b = append(b, ",\n  \"readOnly\": true"...)
	}
	if len(m.Parts) > 0 {
		parts, _ := json.Marshal(m.Parts)
		b = append(b, ",\n  \"parts\": "...)
		b = append(b, parts...)
	}
	if m.Part != "" {
		b = append(b, ",\n  \"part\": "...)
		b = appendString(b, m.Part)
	}
	totals, _ := json.Marshal(m.Totals)
	pass, _ := json.Marshal(m.Pass)
	b = append(b, ",\n  \"totals\": "...)
	b = append(b, totals...)
	b = append(b, ",\n  \"pass\": "...)
	b = append(b, pass...)
	if len(m.Skipped) > 0 {
		b = append(b, ",\n  \"skipped\": ["...)
		for i, s := range m.Skipped {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, "\n    "...)
			sj, _ := s.MarshalJSON()
			b = append(b, sj...)
		}
		b = append(b, "\n  ]"...)
	}
	// Entries come last: ReadHeader stops at them.
	b = append(b, ",\n  \"entries\": ["...)
	for i := range m.Entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		b = m.Entries[i].appendJSON(b)
	}
	b = append(b, "\n  ]"...)
	return append(b, "\n}\n"...)
}

// ComputeTotals recounts Totals from the entries and skipped lists. A
// writer calls it once the lists are final, before Write.
func (m *Manifest) ComputeTotals() {
	t := Totals{Skipped: len(m.Skipped)}
	for i := range m.Entries {
		switch e := &m.Entries[i]; e.Type {
		case TypeFile:
			t.Files++
			t.Bytes += e.Size
		case TypeDir:
			t.Dirs++
		case TypeSymlink:
			t.Symlinks++
		default:
			t.Specials++
		}
	}
	m.Totals = t
}

func appendName(b []byte, key, name string) []byte {
	if utf8.ValidString(name) {
		b = append(b, '"')
		b = append(b, key...)
		b = append(b, `":`...)
		return appendString(b, name)
	}
	b = append(b, '"')
	b = append(b, key...)
	b = append(b, `Base64":"`...)
	b = base64.StdEncoding.AppendEncode(b, []byte(name))
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

// appendString appends s, valid UTF-8, as a JSON string. It escapes what
// JSON requires plus <, > and & like encoding/json, so the output is the
// same as the standard encoder's.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '\u2028' || r == '\u2029' {
				b = append(b, s[start:i]...)
				b = append(b, `\u202`...)
				b = append(b, hexDigits[r&0xf])
				i += size
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
