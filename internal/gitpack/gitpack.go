// Package gitpack reads blobs out of the pack files of a git object store,
// for a checkout that writes thousands of them.
//
// go-git reads an object through a seek and buffered reads of its pack,
// hashes every object it decodes to key its cache (delta bases included),
// and is not safe for concurrent use: decoding the blobs of a release
// took 90 ms of a 20,000-file checkout on one goroutine. A Store reads
// the pack indexes once; each Reader, one per goroutine, reads objects
// with pread(2), inflates them with its own zlib state, applies delta
// chains with a cache of bases keyed by pack offset, and checks that the
// blob it returns hashes to the name it was asked for, so a damaged pack
// or a mistake here can fail a checkout but never write wrong content.
//
// Only version 2 pack indexes are read. Objects that are not in a pack it
// reads (loose objects, alternates, a version 1 index) are ErrNotFound: the
// caller reads them the slow way.
package gitpack

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrNotFound is returned for an object no pack of the store holds.
var ErrNotFound = errors.New("object not in a pack")

// Hash is an object name: the SHA-1 of its header and content.
type Hash = [20]byte

// Store is the pack files of one object store, opened. It is safe for
// concurrent use through Readers.
type Store struct {
	packs []*pack
}

// pack is one pack file and its index.
type pack struct {
	f      *os.File
	size   int64
	fanout [256]uint32
	names  []byte // count x 20, sorted
	offs   []byte // count x 4
	large  []byte // x 8, for offsets with the high bit set
}

// Open opens every pack of objectsDir (its pack folder's .idx files with
// their .pack) it can read. A store with no pack folder is empty, not an
// error.
func Open(objectsDir string) (*Store, error) {
	idxs, err := filepath.Glob(filepath.Join(objectsDir, "pack", "pack-*.idx"))
	if err != nil {
		return nil, err
	}
	s := &Store{}
	for _, idx := range idxs {
		// A pack this package cannot read (a version 1 index, a pack
		// being removed by a repack, a damaged index) is left out: its
		// objects are ErrNotFound, for the caller's other reader to find
		// or to report.
		if p, err := openPack(idx); err == nil {
			s.packs = append(s.packs, p)
		}
	}
	return s, nil
}

// Close closes the pack files.
func (s *Store) Close() error {
	var errs []error
	for _, p := range s.packs {
		errs = append(errs, p.f.Close())
	}
	return errors.Join(errs...)
}

var errUnsupportedIndex = errors.New("not a version 2 pack index")

func openPack(idxPath string) (*pack, error) {
	data, err := os.ReadFile(idxPath)
	if err != nil {
		return nil, err
	}
	if len(data) < 8+256*4+40 || string(data[:4]) != "\xfftOc" || binary.BigEndian.Uint32(data[4:]) != 2 {
		return nil, errUnsupportedIndex
	}
	p := &pack{}
	for i := range p.fanout {
		p.fanout[i] = binary.BigEndian.Uint32(data[8+4*i:])
	}
	n := int(p.fanout[255])
	rest := data[8+256*4:]
	if len(rest) < n*(20+4+4)+40 {
		return nil, fmt.Errorf("%s: cut short (%d objects in %d bytes)", idxPath, n, len(data))
	}
	p.names, rest = rest[:20*n], rest[20*n:]
	rest = rest[4*n:] // CRC-32s
	p.offs, rest = rest[:4*n], rest[4*n:]
	p.large = rest[:len(rest)-40]
	packPath := strings.TrimSuffix(idxPath, ".idx") + ".pack"
	if p.f, err = os.Open(packPath); err != nil {
		return nil, err
	}
	fi, err := p.f.Stat()
	if err != nil {
		p.f.Close()
		return nil, err
	}
	p.size = fi.Size()
	return p, nil
}

// find returns the offset of h in p, or -1.
func (p *pack) find(h Hash) int64 {
	lo := 0
	if h[0] > 0 {
		lo = int(p.fanout[h[0]-1])
	}
	hi := int(p.fanout[h[0]])
	for lo < hi {
		mid := (lo + hi) / 2
		switch c := bytes.Compare(p.names[20*mid:20*mid+20], h[:]); {
		case c == 0:
			off := binary.BigEndian.Uint32(p.offs[4*mid:])
			if off&0x80000000 == 0 {
				return int64(off)
			}
			k := int(off &^ 0x80000000)
			if 8*k+8 > len(p.large) {
				return -1
			}
			return int64(binary.BigEndian.Uint64(p.large[8*k:]))
		case c < 0:
			lo = mid + 1
		default:
			hi = mid
		}
	}
	return -1
}

// Object types in a pack.
const (
	typeBlob     = 3
	typeOFSDelta = 6
	typeREFDelta = 7
)

// maxChain bounds a delta chain (git's own deepest is 4095).
const maxChain = 10000

// Reader reads blobs of a Store. It is for one goroutine; use one Reader
// per goroutine.
type Reader struct {
	s     *Store
	br    *bufio.Reader
	zr    io.ReadCloser
	cache map[key]cached
	size  int // bytes the cache holds
}

type key struct {
	p   *pack
	off int64
}

type cached struct {
	typ  byte
	data []byte
}

// cacheBudget bounds the bytes of decoded objects a Reader keeps for delta
// chains; past it, the cache starts over.
const cacheBudget = 16 << 20

// readBuffer is how much of a pack one read takes: most objects of a
// source tree, compressed, are smaller.
const readBuffer = 4 << 10

// NewReader returns a Reader of s.
func (s *Store) NewReader() *Reader {
	return &Reader{s: s, br: bufio.NewReaderSize(nil, readBuffer), cache: map[key]cached{}}
}

// Blob returns the content of blob h, checked to hash to h. The slice may
// be kept by the Reader (as a delta base): do not change it. ErrNotFound
// when no pack has h; any other error means the pack is damaged or h is
// not a blob.
func (r *Reader) Blob(h Hash) ([]byte, error) {
	p, off := r.s.locate(h)
	if p == nil {
		return nil, ErrNotFound
	}
	typ, data, err := r.object(p, off)
	if err != nil {
		return nil, fmt.Errorf("cannot read object %x from %s: %w", h, p.f.Name(), err)
	}
	if typ != typeBlob {
		return nil, fmt.Errorf("object %x is of type %d, not a blob", h, typ)
	}
	sum := sha1.New()
	sum.Write(append(strconv.AppendInt([]byte("blob "), int64(len(data)), 10), 0))
	sum.Write(data)
	if !bytes.Equal(sum.Sum(nil), h[:]) {
		return nil, fmt.Errorf("object %x read from %s does not hash to its name: the pack is damaged", h, p.f.Name())
	}
	return data, nil
}

// locate finds h in the store's packs.
func (s *Store) locate(h Hash) (*pack, int64) {
	for _, p := range s.packs {
		if off := p.find(h); off >= 0 {
			return p, off
		}
	}
	return nil, -1
}

// object decodes the object at off in p, resolving its delta chain.
func (r *Reader) object(p *pack, off int64) (byte, []byte, error) {
	type link struct {
		p     *pack
		off   int64
		delta []byte
	}
	var chain []link
	var typ byte
	var data []byte
	for {
		if c, ok := r.cache[key{p, off}]; ok {
			typ, data = c.typ, c.data
			break
		}
		t, size, base, basePack, err := r.header(p, off)
		if err != nil {
			return 0, nil, err
		}
		body, err := r.inflate(p, size)
		if err != nil {
			return 0, nil, err
		}
		if t != typeOFSDelta && t != typeREFDelta {
			typ, data = t, body
			r.remember(p, off, t, body)
			break
		}
		chain = append(chain, link{p, off, body})
		if len(chain) > maxChain {
			return 0, nil, errors.New("delta chain too long")
		}
		p, off = basePack, base
	}
	for i := len(chain) - 1; i >= 0; i-- {
		out, err := applyDelta(data, chain[i].delta)
		if err != nil {
			return 0, nil, err
		}
		data = out
		r.remember(chain[i].p, chain[i].off, typ, data)
	}
	return typ, data, nil
}

// remember keeps an object for the delta chains to come.
func (r *Reader) remember(p *pack, off int64, typ byte, data []byte) {
	if len(data) > cacheBudget/4 {
		return
	}
	if r.size+len(data) > cacheBudget {
		clear(r.cache)
		r.size = 0
	}
	r.cache[key{p, off}] = cached{typ, data}
	r.size += len(data)
}

// header positions r's buffered reader at the object at off and reads its
// header: its type, inflated size and, for a delta, where its base is.
// The reader is left at the object's zlib stream (inflate).
func (r *Reader) header(p *pack, off int64) (typ byte, size int64, base int64, basePack *pack, err error) {
	r.br.Reset(io.NewSectionReader(p.f, off, p.size-off))
	c, err := r.br.ReadByte()
	if err != nil {
		return 0, 0, 0, nil, fmt.Errorf("object header: %w", err)
	}
	typ, size = c>>4&7, int64(c&15)
	for shift := 4; c&0x80 != 0; shift += 7 {
		if c, err = r.br.ReadByte(); err != nil || shift > 56 {
			return 0, 0, 0, nil, errors.New("malformed object header")
		}
		size |= int64(c&0x7f) << shift
	}
	switch typ {
	case typeOFSDelta:
		c, err = r.br.ReadByte()
		rel := int64(c & 0x7f)
		for err == nil && c&0x80 != 0 && rel < 1<<48 {
			if c, err = r.br.ReadByte(); err == nil {
				rel = (rel+1)<<7 | int64(c&0x7f)
			}
		}
		if err != nil || rel <= 0 || rel > off {
			return 0, 0, 0, nil, errors.New("malformed delta base offset")
		}
		return typ, size, off - rel, p, nil
	case typeREFDelta:
		var h Hash
		if _, err := io.ReadFull(r.br, h[:]); err != nil {
			return 0, 0, 0, nil, errors.New("delta base name cut short")
		}
		bp, boff := r.s.locate(h)
		if bp == nil {
			return 0, 0, 0, nil, fmt.Errorf("delta base %x is not in a pack: %w", h, ErrNotFound)
		}
		return typ, size, boff, bp, nil
	case 1, 2, typeBlob, 4:
		return typ, size, 0, nil, nil
	}
	return 0, 0, 0, nil, fmt.Errorf("unknown object type %d", typ)
}

// inflate reads the zlib stream r's reader is at (header left it there),
// which inflates to size bytes of p.
func (r *Reader) inflate(p *pack, size int64) ([]byte, error) {
	if size < 0 || size > p.size*1032 { // deflate expands at most ~1032:1
		return nil, fmt.Errorf("object size %d out of range", size)
	}
	var err error
	if r.zr == nil {
		r.zr, err = zlib.NewReader(r.br)
	} else {
		err = r.zr.(zlib.Resetter).Reset(r.br, nil)
	}
	if err != nil {
		return nil, err
	}
	out := make([]byte, size)
	if _, err := io.ReadFull(r.zr, out); err != nil {
		return nil, fmt.Errorf("cannot inflate: %w", err)
	}
	return out, nil
}

// applyDelta applies a git delta (a copy and insert program) to base.
func applyDelta(base, delta []byte) ([]byte, error) {
	bad := errors.New("malformed delta")
	varint := func() (int, bool) {
		v, shift := 0, 0
		for len(delta) > 0 && shift < 63 {
			c := delta[0]
			delta = delta[1:]
			v |= int(c&0x7f) << shift
			if c&0x80 == 0 {
				return v, true
			}
			shift += 7
		}
		return 0, false
	}
	srcSize, ok1 := varint()
	dstSize, ok2 := varint()
	if !ok1 || !ok2 || srcSize != len(base) || dstSize < 0 || dstSize > 1<<40 {
		return nil, bad
	}
	out := make([]byte, 0, dstSize)
	for len(delta) > 0 {
		cmd := delta[0]
		delta = delta[1:]
		switch {
		case cmd&0x80 != 0:
			var off, size int
			for bit, shift := byte(1), 0; bit <= 0x40; bit, shift = bit<<1, shift+8 {
				if cmd&bit == 0 {
					continue
				}
				if len(delta) == 0 {
					return nil, bad
				}
				if bit <= 8 {
					off |= int(delta[0]) << shift
				} else {
					size |= int(delta[0]) << (shift - 32)
				}
				delta = delta[1:]
			}
			if size == 0 {
				size = 0x10000
			}
			if off+size > len(base) || len(out)+size > dstSize {
				return nil, bad
			}
			out = append(out, base[off:off+size]...)
		case cmd != 0:
			n := int(cmd)
			if n > len(delta) || len(out)+n > dstSize {
				return nil, bad
			}
			out = append(out, delta[:n]...)
			delta = delta[n:]
		default:
			return nil, bad
		}
	}
	if len(out) != dstSize {
		return nil, bad
	}
	return out, nil
}
