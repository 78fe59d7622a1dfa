package manifest

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

// Decode parses a manifest, as Encode writes it or as encoding/json
// would read it, and checks its paths (see ErrUnsafePath): an error
// wrapping ErrUnsafePath means one of them leads outside the backup or
// could not be created in order; any other error means data is not a
// manifest. Every reader of whole manifests goes through it, so no path
// it has not checked reaches the filesystem. It does not check Kind and
// Version (ReadFile does).
func Decode(data []byte) (Manifest, error) {
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
//
// Whatever the small parser accepts, it reads as encoding/json would
// (FuzzDecoderAgreesWithEncodingJSON): it accepts only JSON, and what
// could be read two ways (a key encoding/json matches case-insensitively,
// bytes that are not UTF-8, a second "entries") it leaves to
// encoding/json.
func parseManifest(data []byte) (Manifest, error) {
	hdr, off, err := decodeHeader(bytes.NewReader(data))
	if err == nil && off >= 0 {
		entries, n, perr := parseEntries(data[off:])
		if rest := trimSpace(data[off+int64(n):]); perr == nil && len(rest) == 1 && rest[0] == '}' {
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
// the "entries" key; otherwise it skips the entries and returns -1, as it
// does when "entries" comes twice.
//
// The fields go to encoding/json as one object, in their order and
// duplicates included, so that it reads them as it would read the whole
// manifest: of two keys that match one field ("kind" and "Kind") the
// last wins.
func decodeHeader(r io.Reader) (*Manifest, int64, error) {
	dec := json.NewDecoder(r)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, -1, errors.New("it is not a JSON object")
	}
	obj := []byte{'{'}
	var version int
	off := int64(-1)
	skipped := false // an "entries" was skipped: only encoding/json knows how two combine
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, -1, err
		}
		key, _ := tok.(string)
		if key == "entries" && version >= 2 && !skipped {
			off = dec.InputOffset()
			break // the rest is entries
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, -1, err
		}
		switch key {
		case "entries":
			skipped = true
			continue
		case "version":
			_ = json.Unmarshal(raw, &version)
		}
		if len(obj) > 1 {
			obj = append(obj, ',')
		}
		obj = appendString(obj, key) // valid UTF-8: the decoder replaced bad bytes
		obj = append(obj, ':')
		obj = append(obj, raw...)
	}
	obj = append(obj, '}')
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

// isSpace reports whether c is white space in JSON: only these four
// (bytes.TrimSpace would also take \v, \f, U+0085 and U+00A0).
func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\t' || c == '\r'
}

// trimSpace returns b without the JSON white space around it.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func (p *entryParser) skipSpace() {
	for p.i < len(p.b) && isSpace(p.b[p.i]) {
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

// entry parses one entry object into e. It reads the object's structure
// and leaves each value to field; a key it does not know is errSyntax,
// which leaves the manifest to encoding/json.
func (p *entryParser) entry(e *Entry) error {
	if !p.consume('{') {
		return errSyntax
	}
	var b64 base64Names
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
		if err := p.field(e, &b64, key); err != nil {
			return err
		}
	}
	var err error
	if e.Path, err = decodeName(e.Path, b64.path); err != nil {
		return err
	}
	e.Target, err = decodeName(e.Target, b64.target)
	return err
}

// base64Names are an entry's pathBase64 and targetBase64, which replace
// path and target once the whole entry is read (see decodeName).
type base64Names struct{ path, target string }

// field parses the value of the entry field key into e, as encoding/json
// would parse it into entryJSON: the last of two equal keys wins, an
// integer that does not fit its field is an error. A value of another
// JSON type (null, a fraction, an object) is errSyntax.
func (p *entryParser) field(e *Entry, b64 *base64Names, key string) (err error) {
	switch key {
	case "path":
		e.Path, err = p.str()
	case "pathBase64":
		b64.path, err = p.str()
	case "type":
		e.Type, err = p.intern()
	case "mode":
		e.Mode, err = p.intern()
	case "sha256":
		e.SHA256, err = p.str()
	case "target":
		e.Target, err = p.str()
	case "targetBase64":
		b64.target, err = p.str()
	case "mtime":
		err = p.time(&e.ModTime)
	case "size":
		e.Size, err = p.int(64)
	case "uid":
		var v int64
		v, err = p.int(strconv.IntSize)
		e.UID = int(v)
	case "gid":
		var v int64
		v, err = p.int(strconv.IntSize)
		e.GID = int(v)
	case "rdev":
		e.Rdev, err = p.uint()
	case "srcIno":
		e.SrcIno, err = p.uint()
	case "srcCtimeNs":
		e.SrcCtime, err = p.int(64)
	default:
		return errSyntax // a field this parser does not know: let encoding/json decide
	}
	return err
}

// time parses a JSON string holding an RFC 3339 time into t. Like
// time.Time's UnmarshalJSON, which encoding/json calls, it parses the
// bytes between the quotes as they are, escapes not undone.
func (p *entryParser) time(t *time.Time) error {
	start := p.i
	if _, err := p.str(); err != nil {
		return err
	}
	return t.UnmarshalJSON(p.b[start:p.i])
}

// integer returns the next JSON integer as written: an optional minus
// and digits without a leading zero. A fraction or an exponent is left
// unread, so the caller finds no ',' or '}' after the number.
func (p *entryParser) integer() ([]byte, error) {
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	switch {
	case p.i < len(p.b) && p.b[p.i] == '0':
		p.i++
	case p.i < len(p.b) && p.b[p.i] >= '1' && p.b[p.i] <= '9':
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
	default:
		return nil, errSyntax
	}
	return p.b[start:p.i], nil
}

// int parses an integer for a signed field of bits bits: one that does
// not fit is an error, as in encoding/json.
func (p *entryParser) int(bits int) (int64, error) {
	s, err := p.integer()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(string(s), 10, bits)
	if err != nil {
		return 0, errSyntax
	}
	return v, nil
}

// uint parses an integer for a uint64 field: a negative one, "-0"
// included, is an error, as in encoding/json.
func (p *entryParser) uint() (uint64, error) {
	s, err := p.integer()
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(string(s), 10, 64)
	if err != nil {
		return 0, errSyntax
	}
	return v, nil
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

// escaped finishes a string that has escapes, started at start. It is
// one loop over the bytes with a case per escape, kept in one piece as
// the small state machine JSON's string grammar is (unicode reads \u).
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
			r, ok := p.unicode()
			if !ok {
				return "", errSyntax
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", errSyntax
		}
	}
	return "", errSyntax
}

// unicode parses the rest of a \u escape (p.i is just after the "u")
// as encoding/json does: a UTF-16 surrogate pair written as two escapes
// is one rune; a surrogate that is not half of a pair is U+FFFD, and
// the escape after it, if any, is read on its own.
func (p *entryParser) unicode() (rune, bool) {
	r, ok := p.hex4()
	if !ok || !utf16.IsSurrogate(r) {
		return r, ok
	}
	if p.i+1 < len(p.b) && p.b[p.i] == '\\' && p.b[p.i+1] == 'u' {
		save := p.i
		p.i += 2
		if r2, ok := p.hex4(); ok {
			if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
				return pair, true
			}
		}
		p.i = save
	}
	return utf8.RuneError, true
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
