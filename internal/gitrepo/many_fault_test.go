//go:build faultinject

package gitrepo

import (
	"context"
	"errors"
	"testing"

	"github.com/better-paas/updater/internal/fault"
)

// A failure after the first rename, while the other workers are still
// renaming, stops the checkout and every renamed and removed path is put
// back. (fault.Set is process-wide: this test does not run in parallel.)
func TestCheckoutManyFilesUndoesMidRename(t *testing.T) {
	m := newManyFiles(t)
	r := open(t, m.install)
	beforeTree, beforeGit := treeDigest(t, m.install), gitState(t, m.install)
	fault.Set("mid=error")
	t.Cleanup(func() { fault.Set("") })
	if err := r.Checkout(context.Background(), m.commits["v3"]); !errors.Is(err, fault.ErrInjected) {
		t.Fatalf("Checkout error = %v, want the injected fault", err)
	}
	if got := fault.Hits("mid"); got != 1 {
		t.Errorf("fault point mid reached %d times, want 1", got)
	}
	if d := diffDigests(beforeTree, treeDigest(t, m.install)); d != "" {
		t.Fatalf("work tree not restored:\n%s", d)
	}
	if after := gitState(t, m.install); after != beforeGit {
		t.Fatalf("HEAD or index changed: %s -> %s", beforeGit, after)
	}
	fault.Set("")
	if err := r.Checkout(context.Background(), m.commits["v3"]); err != nil {
		t.Fatal(err)
	}
	assertCheckedOut(t, r, m.origin, m.commits["v3"], m.commits["v3"])
}
