package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// A sparse file (a disk image, a database file grown by seeking) has holes:
// ranges that read as zeros and take no room. A copy that wrote those
// zeros would fill the disk: a 1 GiB file with 8 KiB of data took 1 GiB
// in each backup and restore. Copies of such files write only the data
// ranges and recreate the holes by leaving them unwritten (and by
// truncating to the size for a hole at the end). The sha256 is still that
// of the whole logical content, holes hashed as zeros. nextData, which
// finds the data ranges, is SEEK_DATA/SEEK_HOLE on Linux
// (sparse_linux.go); elsewhere the whole file is one data range, a plain
// copy (sparse_other.go).

// zeros is what a hole reads as, fed to the hash.
var zeros [64 << 10]byte

// maybeSparse reports whether the file st may have holes: it takes less
// room than its size. A file without holes takes its size or more (whole
// blocks), so the cheap copy stays for everything else.
func maybeSparse(st *stat) bool {
	return st.blocks*512 < st.size
}

func hashZeros(h hash.Hash, n int64) {
	for n > 0 {
		k := min(n, int64(len(zeros)))
		h.Write(zeros[:k])
		n -= k
	}
}

// copySparse copies the data ranges of in to out (written through w, at
// the same offsets), hashing the whole logical content, and returns its
// size. It copies the size in had when it was opened; a file that shrank
// meanwhile ends where reading stopped (the cold pass copies it again).
func copySparse(ctx context.Context, in *srcFile, out *dstFile, w io.Writer, h hash.Hash, buf []byte) (int64, error) {
	size := in.st.size
	var pos, outPos int64
	for pos < size {
		if err := ctx.Err(); err != nil {
			return pos, err
		}
		start, end, err := nextData(in.fd, pos, size)
		if err != nil {
			return pos, &fs.PathError{Op: "seek", Path: in.path, Err: err}
		}
		hashZeros(h, start-pos)
		pos = start
		for pos < end {
			if err := ctx.Err(); err != nil {
				return pos, err
			}
			var n int
			err := ignoringEINTR(func() (err error) {
				n, err = unix.Pread(in.fd, buf[:min(int64(len(buf)), end-pos)], pos)
				return err
			})
			if err != nil {
				return pos, &fs.PathError{Op: "read", Path: in.path, Err: err}
			}
			if n == 0 { // it shrank since it was opened
				size = pos
				break
			}
			h.Write(buf[:n])
			if outPos != pos {
				if _, err := unix.Seek(out.fd, pos, io.SeekStart); err != nil {
					return pos, &fs.PathError{Op: "seek", Path: out.path, Err: err}
				}
				outPos = pos
			}
			wk, err := w.Write(buf[:n])
			outPos += int64(wk)
			if err != nil {
				return pos, err
			}
			if wk != n {
				return pos, io.ErrShortWrite
			}
			pos += int64(n)
		}
	}
	// The hole at the end, if any.
	if err := unix.Ftruncate(out.fd, pos); err != nil {
		return pos, &fs.PathError{Op: "truncate", Path: out.path, Err: err}
	}
	return pos, nil
}

// restoreSparse copies the data ranges of the backup copy in (size
// bytes) to the new file out at the same offsets, with
// copy_file_range where the kernel offers it, chunk by chunk so a
// cancellation is prompt, and sets out's size: the holes stay holes.
func restoreSparse(ctx context.Context, in, out *os.File, size int64) error {
	ifd := int(in.Fd())
	for pos := int64(0); pos < size; {
		start, end, err := nextData(ifd, pos, size)
		if err != nil {
			return &fs.PathError{Op: "seek", Path: in.Name(), Err: err}
		}
		if start >= size {
			break
		}
		if _, err := in.Seek(start, io.SeekStart); err != nil {
			return err
		}
		if _, err := out.Seek(start, io.SeekStart); err != nil {
			return err
		}
		for pos = start; pos < end; {
			if err := ctx.Err(); err != nil {
				return err
			}
			// io.CopyN's LimitedReader still lets os.File.ReadFrom use
			// copy_file_range.
			n, err := io.CopyN(out, in, min(restoreChunk, end-pos))
			pos += n
			if errors.Is(err, io.EOF) {
				return out.Truncate(size) // verification reports a short copy
			}
			if err != nil {
				return err
			}
		}
	}
	return out.Truncate(size)
}

// hashSparse returns the size and sha256 of the file open as fd (path,
// for errors; size bytes when it was opened), hashing its holes as zeros
// without reading them.
func hashSparse(ctx context.Context, fd int, path string, size int64, buf []byte) (int64, string, error) {
	h := sha256.New()
	var pos int64
	for pos < size {
		if err := ctx.Err(); err != nil {
			return pos, "", err
		}
		start, end, err := nextData(fd, pos, size)
		if err != nil {
			return pos, "", &fs.PathError{Op: "seek", Path: path, Err: err}
		}
		hashZeros(h, start-pos)
		for pos = start; pos < end; {
			if err := ctx.Err(); err != nil {
				return pos, "", err
			}
			var n int
			err := ignoringEINTR(func() (err error) {
				n, err = unix.Pread(fd, buf[:min(int64(len(buf)), end-pos)], pos)
				return err
			})
			if err != nil {
				return pos, "", &fs.PathError{Op: "read", Path: path, Err: err}
			}
			if n == 0 {
				return pos, hex.EncodeToString(h.Sum(nil)), nil
			}
			h.Write(buf[:n])
			pos += int64(n)
		}
	}
	return pos, hex.EncodeToString(h.Sum(nil)), nil
}
