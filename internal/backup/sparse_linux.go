package backup

import (
	"errors"

	"golang.org/x/sys/unix"
)

// nextData returns the first data range of the file open as fd at or
// after pos, as [start, end), end at most size; start is size when only a
// hole is left. A filesystem that cannot tell holes from data makes the
// rest one data range. It moves the file offset.
func nextData(fd int, pos, size int64) (start, end int64, err error) {
	start, err = unix.Seek(fd, pos, unix.SEEK_DATA)
	switch {
	case errors.Is(err, unix.ENXIO): // a hole up to the end
		return size, size, nil
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP):
		return pos, size, nil
	case err != nil:
		return 0, 0, err
	case start >= size:
		return size, size, nil
	}
	end, err = unix.Seek(fd, start, unix.SEEK_HOLE)
	if err != nil || end > size {
		// Shrunk meanwhile (ENXIO) or grown: read on to size, the
		// reader stops at the end of the file.
		end = size
	}
	return start, end, nil
}
