package gitrepo

import (
	"errors"
	"fmt"
	"path"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// TrackedUnder lists the files commit tracks at or under dir (a
// slash-separated path relative to the checkout), as slash-separated paths
// relative to the checkout; nil when it tracks nothing there. It reads the
// object store only. Errors: ErrCommitNotFound, or a damaged tree.
func (r *Repo) TrackedUnder(commit, dir string) ([]string, error) {
	h, err := parseHash(commit)
	if err != nil {
		return nil, err
	}
	tree, err := r.commitTree(h)
	if err != nil {
		return nil, err
	}
	entry, err := tree.FindEntry(dir)
	switch {
	case errors.Is(err, object.ErrEntryNotFound), errors.Is(err, object.ErrDirectoryNotFound), errors.Is(err, plumbing.ErrObjectNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("cannot look up %s in commit %s: %w", dir, h, err)
	case entry.Mode.IsFile():
		return []string{dir}, nil
	}
	sub, err := tree.Tree(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot read folder %s of commit %s: %w", dir, h, err)
	}
	var files []string
	err = sub.Files().ForEach(func(f *object.File) error {
		files = append(files, path.Join(dir, f.Name))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot list folder %s of commit %s: %w", dir, h, err)
	}
	return files, nil
}
