//go:build unix

package gitrepo

import (
	"os"
	"time"

	"github.com/go-git/go-git/v5/plumbing/format/index"
	"golang.org/x/sys/unix"
)

// openRoot opens the work tree root dir for statMatchesAt; -1 when it
// cannot, and every file is then looked at by path.
func openRoot(dir string) int {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	return fd
}

func closeRoot(fd int) {
	if fd >= 0 {
		_ = unix.Close(fd)
	}
}

// statMatchesAt reports whether the file of entry e, looked at relative to
// root (from openRoot) without following a symlink, is a regular file that
// worktreeState would find unchanged from e without hashing it. False
// means it cannot tell: not a regular file, another mode, size or time,
// racy, missing, or any error; worktreeState then looks.
func (s *snapshot) statMatchesAt(root int, e *index.Entry) bool {
	if root < 0 {
		return false
	}
	var st unix.Stat_t
	if unix.Fstatat(root, e.Name, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	if uint32(st.Mode)&unix.S_IFMT != unix.S_IFREG {
		return false
	}
	if normMode(e.Mode) != s.fileModeOf(os.FileMode(st.Mode)&os.ModePerm, e) {
		return false
	}
	return sizeTimeMatch(s.idx, e, st.Size, time.Unix(st.Mtim.Unix()))
}
