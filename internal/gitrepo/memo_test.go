package gitrepo

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// The memo answers a commit's tree by hash, for every repository of the
// process; a repository that does not have the commit must still be
// refused it: a checkout may never move HEAD to a commit its store lacks.
func TestCheckoutRefusesACommitTheStoreLacksThoughItsTreeIsMemoized(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// A commit of the install's own that only removes a file: every blob
	// of its tree is in any clone of v1.0.0, its commit in none.
	git(t, f.install, "rm", "-q", "old.txt")
	git(t, f.install, "commit", "-q", "-m", "remove old.txt")
	target := git(t, f.install, "rev-parse", "HEAD")
	git(t, f.install, "checkout", "-q", "--detach", f.commits["v1.0.0"])
	if check, err := open(t, f.install).CheckCheckout(context.Background(), target); err != nil || check.Refusal != nil {
		t.Fatalf("CheckCheckout in the install = %+v, %v; want no refusal", check, err)
	}
	// A clone of v1.0.0 alone, by transfer (not hard links).
	partial := filepath.Join(t.TempDir(), "partial")
	git(t, f.install, "clone", "-q", "--template=", "--no-local", "--no-tags", "--single-branch", "--branch", "v1.0.0", f.origin, partial)
	r := open(t, partial)
	unchanged(t, partial, func() {
		check, err := r.CheckCheckout(context.Background(), target)
		if err != nil || !errors.Is(check.Refusal, ErrCommitNotFound) {
			t.Errorf("CheckCheckout in the partial clone = %+v, %v; want the refusal ErrCommitNotFound", check, err)
		}
		if err := r.Checkout(context.Background(), target); !errors.Is(err, ErrCommitNotFound) {
			t.Errorf("Checkout in the partial clone = %v, want ErrCommitNotFound", err)
		}
	})
}
