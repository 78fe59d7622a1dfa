package gitrepo

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNotGitCheckout means the folder given to Open is not the root of a
	// non-bare git work tree. A human must clone the app there.
	ErrNotGitCheckout = errors.New("not a git checkout")

	// ErrTagNotFound means a tag does not exist: locally for ResolveTag,
	// on the remote for FetchTag.
	ErrTagNotFound = errors.New("tag not found")

	// ErrLocalModifications means tracked files differ from HEAD (in the
	// work tree or staged in the index). Checkout refuses rather than
	// discard someone's edits. The error is a *LocalModificationsError.
	ErrLocalModifications = errors.New("tracked files have local modifications")

	// ErrUntrackedInTheWay means the target commit adds a tracked file
	// where an untracked or ignored file (or folder) exists, or needs a
	// folder where an untracked file is. Checkout refuses rather than
	// overwrite it. The error is a *LocalModificationsError.
	ErrUntrackedInTheWay = errors.New("untracked or ignored files are in the way")

	// ErrCommitNotFound means a commit is not in the local object store;
	// fetch the tag that names it first.
	ErrCommitNotFound = errors.New("commit not found")

	// ErrRemoteNotFound means the named remote is not configured.
	ErrRemoteNotFound = errors.New("remote not found")

	// ErrIndexLocked means .git/index.lock exists: another git process is
	// running in the install, or one crashed and left its lock behind.
	ErrIndexLocked = errors.New("git index is locked")

	// ErrUnsupported means the checkout uses a feature this package does
	// not handle (submodules, unborn HEAD, unsafe tree paths).
	ErrUnsupported = errors.New("unsupported repository content")
)

// maxListedPaths bounds how many paths an error message names, so a huge
// change does not produce a huge status.yaml message.
const maxListedPaths = 10

// LocalModificationsError lists the paths that made Checkout refuse. Kind
// is ErrLocalModifications or ErrUntrackedInTheWay; errors.Is matches it.
type LocalModificationsError struct {
	Kind  error
	Dir   string   // the install
	Paths []string // slash-separated, relative to Dir, sorted; all of them
}

// Error names up to ten paths and says how to fix the install.
func (e *LocalModificationsError) Error() string {
	shown := e.Paths
	more := ""
	if len(shown) > maxListedPaths {
		more = fmt.Sprintf(" and %d more", len(shown)-maxListedPaths)
		shown = shown[:maxListedPaths]
	}
	list := strings.Join(shown, ", ") + more
	if errors.Is(e.Kind, ErrUntrackedInTheWay) {
		return fmt.Sprintf("%s: %s; the target version tracks these paths: move them out of %s and retry",
			e.Kind, list, e.Dir)
	}
	return fmt.Sprintf("%s: %s; in %s commit them, stash them (git stash) or discard them (git checkout -- <path>, git restore --staged <path>) and retry",
		e.Kind, list, e.Dir)
}

// Unwrap returns Kind so errors.Is(err, ErrLocalModifications) works.
func (e *LocalModificationsError) Unwrap() error { return e.Kind }
