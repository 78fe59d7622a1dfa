//go:build linux

package gitrepo

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// syncTree makes durable what was written below root: on Linux one
// syncfs(2) of root's filesystem, whatever the number of files.
func syncTree[T any](root string, _ []T, _ func(T) string) error {
	d, err := os.Open(root)
	if err != nil {
		return fmt.Errorf("cannot open %s: %w", root, err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("cannot sync the file system of %s: %w", root, err)
	}
	return nil
}
