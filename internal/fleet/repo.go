package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
)

// remoteName is the fleet repo's remote in the local clone.
const remoteName = "origin"

// errBranchMissing: the fleet repo has no such branch (or no commits).
var errBranchMissing = errors.New("branch not found")

// clone is the host's bare clone of the fleet repo. It is only ever
// fetched into: there is no work tree, files are read from the fetched
// commit's tree.
type clone struct {
	dir, url, branch string
	// auth authenticates the fetch; nil: go-git's default for the URL.
	auth transport.AuthMethod
}

// open opens the clone, creating it when missing: a bare repository with
// the remote, made in a temporary folder beside it and renamed into
// place, so a crash never leaves half a clone. A remote whose URL changed
// in updater.yaml is pointed at the new one; the objects stay.
func (c clone) open() (*git.Repository, error) {
	r, err := git.PlainOpen(c.dir)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		r, err = c.create()
	}
	if err != nil {
		return nil, fmt.Errorf("cannot open the fleet repo's clone %s: %w", c.dir, err)
	}
	rem, err := r.Remote(remoteName)
	switch {
	case err == nil && len(rem.Config().URLs) == 1 && rem.Config().URLs[0] == c.url:
		return r, nil
	case err == nil:
		if err := r.DeleteRemote(remoteName); err != nil {
			return nil, fmt.Errorf("cannot change the fleet repo's URL in %s: %w", c.dir, err)
		}
	case !errors.Is(err, git.ErrRemoteNotFound):
		return nil, fmt.Errorf("cannot read the remote of %s: %w", c.dir, err)
	}
	if _, err := r.CreateRemote(&gitconfig.RemoteConfig{Name: remoteName, URLs: []string{c.url}}); err != nil {
		return nil, fmt.Errorf("cannot set the fleet repo's URL in %s: %w", c.dir, err)
	}
	return r, nil
}

func (c clone) create() (*git.Repository, error) {
	if err := os.MkdirAll(filepath.Dir(c.dir), 0o750); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(c.dir), ".repo-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // gone after the rename
	if _, err := git.PlainInit(tmp, true); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, c.dir); err != nil {
		return nil, err
	}
	return git.PlainOpen(c.dir)
}

// fetch brings the branch's commits into the clone (only the objects the
// clone lacks: never shallow, never a fresh clone) and returns the
// branch's commit. The remote-tracking ref follows a force-push: the
// fleet repo is the truth, and the commit is checked like any other.
func (c clone) fetch(ctx context.Context, r *git.Repository) (*object.Commit, error) {
	remoteRef := plumbing.NewRemoteReferenceName(remoteName, c.branch)
	spec := gitconfig.RefSpec(fmt.Sprintf("+%s:%s", plumbing.NewBranchReferenceName(c.branch), remoteRef))
	err := r.FetchContext(ctx, &git.FetchOptions{RemoteName: remoteName, RefSpecs: []gitconfig.RefSpec{spec}, Tags: git.NoTags, Auth: c.auth})
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
	case errors.Is(err, git.NoMatchingRefSpecError{}), errors.Is(err, transport.ErrEmptyRemoteRepository):
		return nil, fmt.Errorf("cannot fetch %s from %s: %w", c.branch, redact(c.url), errBranchMissing)
	default:
		return nil, fmt.Errorf("cannot fetch %s from %s: %s", c.branch, redact(c.url), redactIn(err.Error(), c.url))
	}
	ref, err := r.Reference(remoteRef, true)
	if err != nil {
		return nil, fmt.Errorf("cannot find %s in %s after fetching it: %w", remoteRef, c.dir, err)
	}
	commit, err := r.CommitObject(ref.Hash())
	if err != nil {
		return nil, fmt.Errorf("cannot read commit %s of %s: %w", ref.Hash(), redact(c.url), err)
	}
	return commit, nil
}

// redact returns u without the password of its user info, for status
// and logs; a URL that does not parse is returned as it is (it then holds
// no user info go-git would use either).
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if _, ok := p.User.Password(); ok || p.Scheme == "https" || p.Scheme == "http" {
		p.User = nil
	}
	return p.String()
}

// redactIn replaces the URL with its redacted form in a message.
func redactIn(msg, u string) string {
	if r := redact(u); r != u {
		return strings.ReplaceAll(msg, u, r)
	}
	return msg
}
