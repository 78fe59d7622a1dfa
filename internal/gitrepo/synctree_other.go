//go:build !linux

package gitrepo

import (
	"fmt"
	"os"
)

// syncTree makes durable what was written below root where there is no
// syncfs(2): fsync each distinct path fn names (the staged files, then
// their folders), as atomicfile does one at a time.
func syncTree[T any](root string, items []T, fn func(T) string) error {
	seen := map[string]bool{}
	for _, it := range items {
		p := fn(it)
		if seen[p] {
			continue
		}
		seen[p] = true
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("cannot open %s: %w", p, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("cannot sync %s: %w", p, err)
		}
	}
	return nil
}
