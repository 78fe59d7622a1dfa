package service

import (
	"fmt"
	"os"
	"strconv"
)

// runsFile reports whether process pid runs the file path (the same inode:
// a binary replaced by a rename since the process started is another
// file), and the file it runs.
func runsFile(pid int, path string) (bool, string, error) {
	exe := "/proc/" + strconv.Itoa(pid) + "/exe"
	link, _ := os.Readlink(exe)
	got, err := os.Stat(exe)
	if err != nil {
		if os.IsNotExist(err) {
			return true, link, nil // gone since systemctl show: the next look says more
		}
		return true, link, fmt.Errorf("cannot read %s: %w", exe, err)
	}
	want, err := os.Stat(path)
	if err != nil {
		return true, link, fmt.Errorf("cannot stat %s: %w", path, err)
	}
	return os.SameFile(got, want), link, nil
}
