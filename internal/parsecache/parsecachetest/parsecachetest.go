// Package parsecachetest checks, in a parser's fuzz test, that Load of a
// file whose bytes a parsecache.Cache remembers returns what parsing them
// returns, as a copy of its own.
package parsecachetest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Check writes data (which the parser accepted, giving want) to a file,
// loads it twice with load, and fails t unless the first load is
// remembered (remembered(path, data) reports whether the cache holds the
// bytes), the second one equals want by same, and a change the caller
// makes to the second (change) does not reach a third.
func Check[T any](t *testing.T, data []byte, want *T,
	load func(path string) (*T, error),
	remembered func(path string, data []byte) bool,
	same func(a, b *T) bool,
	change func(*T),
) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "remembered.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := load(path); err != nil {
		t.Fatalf("Load refused what Parse accepted: %v", err)
	}
	if !remembered(path, data) {
		t.Fatal("Load did not remember the bytes it parsed")
	}
	got, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !same(got, want) {
		t.Errorf("remembered decode differs from Parse:\n%s\n->\n%s", clip(want), clip(got))
	}
	change(got)
	again, err := load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !same(again, want) {
		t.Errorf("a caller's change to a loaded value reached the next Load:\n%s", clip(again))
	}
}

func clip(v any) string {
	s := fmt.Sprintf("%#v", v)
	if len(s) > 2000 {
		s = s[:2000] + "..."
	}
	return s
}
