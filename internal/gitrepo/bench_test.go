package gitrepo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// addManyDataFiles fills data/ with n small files in folders of 100, the
// shape of an app's uploads or cache.
func addManyDataFiles(b testing.TB, dir string, n int) {
	b.Helper()
	for i := range n {
		p := filepath.Join(dir, "data", fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d.json", i))
		if i%100 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(p, []byte(`{"n":1}`), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLocalModifications shows the cost does not depend on data/:
// only tracked paths are looked at.
func BenchmarkLocalModifications(b *testing.B) {
	for _, n := range []int{0, 20000} {
		b.Run(fmt.Sprintf("data-files=%d", n), func(b *testing.B) {
			f := newFixture(b)
			addManyDataFiles(b, f.install, n)
			r := open(b, f.install)
			for b.Loop() {
				if mods, err := r.LocalModifications(); err != nil || len(mods) != 0 {
					b.Fatal(mods, err)
				}
			}
		})
	}
}

// BenchmarkCheckout measures one LocalModifications plus a Checkout, the
// pair the reconciler runs, alternating between v1.0.0 and v1.2.0.
func BenchmarkCheckout(b *testing.B) {
	for _, n := range []int{0, 20000} {
		b.Run(fmt.Sprintf("data-files=%d", n), func(b *testing.B) {
			f := newFixture(b)
			addManyDataFiles(b, f.install, n)
			r := open(b, f.install)
			targets := []string{f.commits["v1.2.0"], f.commits["v1.0.0"]}
			i := 0
			for b.Loop() {
				if mods, err := r.LocalModifications(); err != nil || len(mods) != 0 {
					b.Fatal(mods, err)
				}
				if err := r.Checkout(context.Background(), targets[i%2]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
