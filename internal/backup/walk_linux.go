package backup

import (
	"bytes"
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// listDir returns the entries of the folder open as fd, but "." and "..",
// in the order getdents(2) gives them. It learns which are folders from
// d_type; entries whose type the filesystem does not report are stat'ed.
func listDir(fd int) ([]dirent, error) {
	buf := make([]byte, 32<<10)
	var ents []dirent
	for {
		var n int
		err := ignoringEINTR(func() (err error) { n, err = unix.Getdents(fd, buf); return err })
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			break
		}
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return nil, errors.New("malformed directory entry")
			}
			typ := b[18]
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			b = b[reclen:]
			if string(name) == "." || string(name) == ".." {
				continue
			}
			e := dirent{name: string(name), isDir: typ == unix.DT_DIR}
			if typ == unix.DT_UNKNOWN {
				var st unix.Stat_t
				if err := unix.Fstatat(fd, e.name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
					e.isDir = st.Mode&unix.S_IFMT == unix.S_IFDIR
				}
			}
			ents = append(ents, e)
		}
	}
	return ents, nil
}
