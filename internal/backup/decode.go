package backup

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeManifest parses a manifest and checks its paths (checkPaths): an
// error wrapping ErrUnsafePath means one of them leads outside the backup
// or could not be created in order. Every reader of whole manifests goes
// through it, so no path it has not checked reaches the filesystem.
func decodeManifest(data []byte) (Manifest, error) {
	m, err := parseManifest(data)
	if err != nil {
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

// parseManifest parses a manifest. encoding/json needs about 400 ms for
// the 50,000 entries of a large data folder, and a cold pass that runs in
// a fresh process (after a crash, from the CLI) reads one while the
// service is down; so the header goes through encoding/json and the
// entries, which this package writes one flat object per line, through a
// small parser of that subset of JSON. Anything it does not expect (a
// version 1 manifest, a hand-edited one) goes through encoding/json.
func parseManifest(data []byte) (Manifest, error) {
	hdr, off, err := decodeHeader(bytes.NewReader(data))
	if err == nil && off >= 0 {
		entries, n, perr := parseEntries(data[off:])
		if perr == nil && len(bytes.TrimSpace(data[off+int64(n):])) == 1 && bytes.TrimSpace(data[off+int64(n):])[0] == '}' {
			hdr.Entries = entries
			return *hdr, nil
		}
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

// decodeHeader reads a manifest's fields up to "entries". For a version 2
// manifest, where entries come last, it returns the offset in r just after
// the "entries" key; otherwise it skips the entries and returns -1.
func decodeHeader(r io.Reader) (*Manifest, int64, error) {
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, -1, errors.New("it is not a JSON object")
	}
	fields := map[string]json.RawMessage{}
	var version int
	off := int64(-1)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, -1, err
		}
		key, _ := tok.(string)
		if key == "entries" && version >= 2 {
			off = dec.InputOffset()
			break // the rest is entries
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, -1, err
		}
		switch key {
		case "entries":
			continue
		case "version":
			_ = json.Unmarshal(raw, &version)
		}
		fields[key] = raw
	}
	obj, err := json.Marshal(fields)
	if err != nil {
		return nil, -1, err
	}
	var m Manifest
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, -1, err
	}
	return &m, off, nil
}

// entryParser parses `: [ {...}, ... ]` as Entry.appendJSON writes it.
type entryParser struct {
	b []byte
	i int
}

var errSyntax = errors.New("unexpected manifest syntax")

func parseEntries(b []byte) ([]Entry, int, error) {
	p := &entryParser{b: b}
	if !p.consume(':') || !p.consume('[') {
		return nil, 0, errSyntax
	}
	entries := make([]Entry, 0, bytes.Count(b, []byte("\n    {")))
	if p.consume(']') {
		return entries, p.i, nil
	}
	for {
		var e Entry
		if err := p.entry(&e); err != nil {
			return nil, 0, err
		}
		entries = append(entries, e)
		if p.consume(']') {
			return entries, p.i, nil
		}
		if !p.consume(',') {
			return nil, 0, errSyntax
		}
	}
}

func (p *entryParser) skipSpace() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\n' || p.b[p.i] == '\t' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *entryParser) consume(c byte) bool {
	p.skipSpace()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *entryParser) entry(e *Entry) error {
	if !p.consume('{') {
		return errSyntax
	}
	var pathB64, targetB64 string
	for first := true; ; first = false {
		if p.consume('}') {
			break
		}
		if !first && !p.consume(',') {
			return errSyntax
		}
		p.skipSpace()
		key, err := p.str()
		if err != nil || !p.consume(':') {
			return errSyntax
		}
		p.skipSpace()
		switch key {
		case "path":
			e.Path, err = p.str()
		case "pathBase64":
			pathB64, err = p.str()
		case "type":
			e.Type, err = p.intern()
		case "mode":
			e.Mode, err = p.intern()
		case "sha256":
			e.SHA256, err = p.str()
		case "target":
			e.Target, err = p.str()
		case "targetBase64":
			targetB64, err = p.str()
		case "mtime":
			var s string
			if s, err = p.str(); err == nil {
				e.ModTime, err = time.Parse(time.RFC3339Nano, s)
			}
		case "size":
			e.Size, err = p.int()
		case "uid":
			var v int64
			v, err = p.int()
			e.UID = int(v)
		case "gid":
			var v int64
			v, err = p.int()
			e.GID = int(v)
		case "rdev":
			var v int64
			v, err = p.int()
			e.Rdev = uint64(v)
		case "srcIno":
			var v int64
			v, err = p.int()
			e.SrcIno = uint64(v)
		case "srcCtimeNs":
			e.SrcCtime, err = p.int()
		default:
			return errSyntax // a field this parser does not know: let encoding/json decide
		}
		if err != nil {
			return err
		}
	}
	var err error
	if e.Path, err = decodeName(e.Path, pathB64); err != nil {
		return err
	}
	e.Target, err = decodeName(e.Target, targetB64)
	return err
}

// int parses an integer; Rdev and SrcIno fit in int64 on Linux.
func (p *entryParser) int() (int64, error) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if v, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64); err == nil {
		return v, nil
	}
	if v, err := strconv.ParseUint(string(p.b[start:p.i]), 10, 64); err == nil {
		return int64(v), nil
	}
	return 0, errSyntax
}

var interned = map[string]string{}

func init() {
	for _, s := range []string{TypeFile, TypeDir, TypeSymlink, TypeFIFO, TypeCharDevice, TypeBlockDevice,
		"0644", "0755", "0600", "0700", "0777", "0640", "0750", "0444", "0555", "0664", "0775", "0660", "0770"} {
		interned[s] = s
	}
}

// intern parses a string that is usually one of a few values without
// allocating for those.
func (p *entryParser) intern() (string, error) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '"' {
		end := bytes.IndexByte(p.b[p.i+1:], '"')
		if end >= 0 {
			if s, ok := interned[string(p.b[p.i+1:p.i+1+end])]; ok {
				p.i += end + 2
				return s, nil
			}
		}
	}
	p.i = start
	return p.str()
}

// str parses a JSON string.
func (p *entryParser) str() (string, error) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", errSyntax
	}
	p.i++
	start := p.i
	for p.i < len(p.b) {
		switch c := p.b[p.i]; {
		case c == '"':
			raw := p.b[start:p.i]
			if !utf8.Valid(raw) {
				return "", errSyntax // encoding/json would replace the bytes: let it
			}
			p.i++
			return string(raw), nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return "", errSyntax
		default:
			p.i++
		}
	}
	return "", errSyntax
}

// escaped finishes a string that has escapes, started at start.
func (p *entryParser) escaped(start int) (string, error) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			if !utf8.Valid(out) {
				return "", errSyntax
			}
			return string(out), nil
		case c < 0x20:
			return "", errSyntax
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return "", errSyntax
		}
		p.i += 2
		switch p.b[p.i-1] {
		case '"', '\\', '/':
			out = append(out, p.b[p.i-1])
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", errSyntax
			}
			if utf16.IsSurrogate(r) {
				if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
					p.i += 2
					r2, ok := p.hex4()
					if !ok {
						return "", errSyntax
					}
					r = utf16.DecodeRune(r, r2)
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", errSyntax
		}
	}
	return "", errSyntax
}

func (p *entryParser) hex4() (rune, bool) {
	if p.i+4 > len(p.b) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(p.b[p.i:p.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += 4
	return rune(v), true
}

// decodeName returns the raw bytes of a name stored as plain (UTF-8) or
// as base64.
func decodeName(plain, b64 string) (string, error) {
	if b64 == "" {
		return plain, nil
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return "", fmt.Errorf("cannot decode base64 name: %w", err)
	}
	return string(raw), nil
}
