package gitrepo

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// The index a checkout writes is git's version 2 format
// (Documentation/gitformat-index.txt): a 12-byte header ("DIRC", the
// version, the entry count), the entries sorted by name, each a 62-byte
// fixed part, its name and 1 to 8 NUL bytes that pad it to a multiple of
// 8, then the SHA-1 of everything before it. go-git's encoder writes the
// same bytes (TestEncodeIndexMatchesGoGit) through a reflection-based
// writer, which took ~45 ms of a 20,000-file checkout; this one appends to
// one buffer.

const (
	indexEntryFixedLen = 62    // stat data, hash and flags of an entry
	indexNameMask      = 0xfff // a longer name stores 0xfff in the flags
)

// errIndexExtendedFlags is returned for an entry marked intent-to-add or
// skip-worktree: those flags need version 3, which a checkout never writes
// (encodeIndex rebuilds such entries from the work tree).
var errIndexExtendedFlags = errors.New("extended flags (intent-to-add, skip-worktree) need index version 3")

// encodeIndexV2 encodes entries, in any order, as a version 2 index. The
// entries are sorted in place by name; they must be of distinct names
// (stage 0 only), with no extended flags and no timestamp before 1970.
func encodeIndexV2(entries []*index.Entry) ([]byte, error) {
	slices.SortFunc(entries, func(a, b *index.Entry) int { return strings.Compare(a.Name, b.Name) })
	size := 12 + sha1.Size
	for _, e := range entries {
		size += paddedEntryLen(len(e.Name))
	}
	buf := make([]byte, 0, size)
	buf = append(buf, "DIRC"...)
	buf = binary.BigEndian.AppendUint32(buf, 2)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(entries)))
	for _, e := range entries {
		if e.IntentToAdd || e.SkipWorktree {
			return nil, fmt.Errorf("index entry %s: %w", e.Name, errIndexExtendedFlags)
		}
		if e.Stage != stageMerged {
			return nil, fmt.Errorf("index entry %s is at stage %d: a checkout writes merged entries only", e.Name, e.Stage)
		}
		var err error
		if buf, err = appendIndexTime(buf, e.CreatedAt); err != nil {
			return nil, fmt.Errorf("index entry %s: %w", e.Name, err)
		}
		if buf, err = appendIndexTime(buf, e.ModifiedAt); err != nil {
			return nil, fmt.Errorf("index entry %s: %w", e.Name, err)
		}
		for _, v := range [...]uint32{e.Dev, e.Inode, uint32(e.Mode), e.UID, e.GID, e.Size} {
			buf = binary.BigEndian.AppendUint32(buf, v)
		}
		buf = append(buf, e.Hash[:]...)
		buf = binary.BigEndian.AppendUint16(buf, uint16(min(len(e.Name), indexNameMask)))
		buf = append(buf, e.Name...)
		pad := paddedEntryLen(len(e.Name)) - indexEntryFixedLen - len(e.Name)
		buf = append(buf, make([]byte, pad)...)
	}
	sum := sha1.Sum(buf)
	return append(buf, sum[:]...), nil
}

// paddedEntryLen is the length of an entry whose name is n bytes long:
// the fixed part and the name, then at least one NUL, to a multiple of 8.
func paddedEntryLen(n int) int { return (indexEntryFixedLen + n + 8) &^ 7 }

// appendIndexTime appends t as the index stores it: seconds and
// nanoseconds, 32 bits each; the zero time is 0, 0.
func appendIndexTime(buf []byte, t time.Time) ([]byte, error) {
	if t.IsZero() {
		return append(buf, 0, 0, 0, 0, 0, 0, 0, 0), nil
	}
	if t.Unix() < 0 {
		return nil, fmt.Errorf("timestamp %s is before 1970", t)
	}
	buf = binary.BigEndian.AppendUint32(buf, uint32(t.Unix()))
	return binary.BigEndian.AppendUint32(buf, uint32(t.Nanosecond())), nil
}

// decodeIndex decodes an index file of version 2, 3 or 4 (path prefix
// compression), the versions git writes, into entries go-git's decoder
// would return for the same bytes (TestDecodeIndexMatchesGoGit). It reads
// from one buffer, where go-git's reflection-based reader took ~19 ms of a
// 20,000-file checkout, and it keeps no extension: a checkout needs the
// entries only. It refuses, as git does, an index whose trailing SHA-1
// does not match (all zero is accepted: index.skipHash), and an extension
// git marks as needed to read the entries (a lowercase signature: split
// index "link", sparse index "sdir"), which it does not implement.
func decodeIndex(data []byte) (*index.Index, error) {
	const header, trailer = 12, sha1.Size
	if len(data) < header+trailer || string(data[:4]) != "DIRC" {
		return nil, errors.New("not a git index (no DIRC header)")
	}
	body, sum := data[:len(data)-trailer], data[len(data)-trailer:]
	if !allZero(sum) {
		if got := sha1.Sum(body); string(got[:]) != string(sum) {
			return nil, errors.New("the index's checksum does not match its content: the file is damaged; run git reset to rebuild it")
		}
	}
	idx := &index.Index{Version: binary.BigEndian.Uint32(data[4:])}
	if idx.Version < 2 || idx.Version > 4 {
		return nil, fmt.Errorf("index version %d is not supported (2, 3 and 4 are)", idx.Version)
	}
	count := int(binary.BigEndian.Uint32(data[8:]))
	if count > len(body)/indexEntryFixedLen {
		return nil, fmt.Errorf("the index claims %d entries in %d bytes", count, len(body))
	}
	// Names of version 2 and 3 are substrings of one copy of the body.
	text := string(body)
	entries := make([]index.Entry, count)
	idx.Entries = make([]*index.Entry, count)
	off := header
	prev := ""
	for i := range entries {
		e := &entries[i]
		start := off
		if off+indexEntryFixedLen > len(body) {
			return nil, fmt.Errorf("index entry %d of %d is cut short", i+1, count)
		}
		f := body[off:]
		u32 := func(k int) uint32 { return binary.BigEndian.Uint32(f[4*k:]) }
		e.CreatedAt = indexTime(u32(0), u32(1))
		e.ModifiedAt = indexTime(u32(2), u32(3))
		e.Dev, e.Inode, e.Mode, e.UID, e.GID, e.Size = u32(4), u32(5), filemode.FileMode(u32(6)), u32(7), u32(8), u32(9)
		copy(e.Hash[:], f[40:60])
		flags := binary.BigEndian.Uint16(f[60:])
		e.Stage = index.Stage(flags>>12) & 3
		off += indexEntryFixedLen
		if flags&indexExtendedFlag != 0 {
			if idx.Version < 3 || off+2 > len(body) {
				return nil, fmt.Errorf("index entry %d of %d: extended flags in a version %d index", i+1, count, idx.Version)
			}
			ext := binary.BigEndian.Uint16(body[off:])
			e.IntentToAdd = ext&indexIntentToAdd != 0
			e.SkipWorktree = ext&indexSkipWorktree != 0
			off += 2
		}
		if idx.Version == 4 {
			strip, n := indexVarint(body[off:])
			nul := bytes.IndexByte(body[off+max(n, 0):], 0)
			if n <= 0 || strip > uint64(len(prev)) || nul < 0 {
				return nil, fmt.Errorf("index entry %d of %d: malformed compressed name", i+1, count)
			}
			off += n
			e.Name = prev[:len(prev)-int(strip)] + text[off:off+nul]
			off += nul + 1
		} else {
			n := int(flags & indexNameMask)
			if n == indexNameMask { // a longer name: up to its NUL
				n = bytes.IndexByte(body[off:], 0)
			}
			if n < 0 || off+n >= len(body) || body[off+n] != 0 {
				return nil, fmt.Errorf("index entry %d of %d: name not terminated", i+1, count)
			}
			e.Name = text[off : off+n]
			off = start + (off-start+n+8)&^7 // 1 to 8 NULs, to a multiple of 8
			if off > len(body) {
				return nil, fmt.Errorf("index entry %d of %d is cut short", i+1, count)
			}
		}
		prev = e.Name
		idx.Entries[i] = e
	}
	for off < len(body) {
		if off+8 > len(body) {
			return nil, errors.New("the index ends inside an extension header")
		}
		sig := body[off : off+4]
		size := int(binary.BigEndian.Uint32(body[off+4:]))
		if size > len(body)-off-8 {
			return nil, fmt.Errorf("index extension %q is cut short", sig)
		}
		if sig[0] < 'A' || sig[0] > 'Z' {
			return nil, fmt.Errorf("index extension %q (split or sparse index) is not supported: turn it off with git update-index --no-split-index, or git sparse-checkout disable", sig)
		}
		off += 8 + size
	}
	return idx, nil
}

// Index entry flag bits (Documentation/gitformat-index.txt).
const (
	indexExtendedFlag = 0x4000 // in flags: a second flags word follows (version 3 and up)
	indexSkipWorktree = 0x4000 // in the second word
	indexIntentToAdd  = 0x2000 // in the second word
)

// indexTime is a stored time, the zero time for 0, 0 (as go-git reads it).
func indexTime(sec, nsec uint32) time.Time {
	if sec == 0 && nsec == 0 {
		return time.Time{}
	}
	return time.Unix(int64(sec), int64(nsec))
}

// indexVarint decodes git's offset varint (varint.c): seven bits a byte,
// high bit set while more follow, each continuation adding one before the
// shift. It returns the value and the bytes read, 0 when it is cut short
// or longer than 9 bytes.
func indexVarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 9; i++ {
		c := b[i]
		if i > 0 {
			v++
		}
		v = v<<7 | uint64(c&0x7f)
		if c&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
