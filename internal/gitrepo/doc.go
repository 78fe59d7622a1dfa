// Package gitrepo is the updater's only window on the install's git
// checkout (for example /opt/better-paas): it reads HEAD and tags, fetches
// one release tag from the remote, lists remote tags, reports local
// modifications and moves the work tree to another commit.
//
// Everything goes through go-git (github.com/go-git/go-git/v5); the git CLI
// is not needed on the host for https and ssh remotes. (For a remote that
// is a local path or file:// URL, go-git itself runs git-upload-pack.)
//
// # What is never touched
//
// An install holds files git does not own: data/ (ignored, possibly large),
// .env (untracked), build outputs such as server, server.bak and
// frontend/dist (ignored). No function of this package modifies or deletes
// them, and none walks them: Checkout only looks at an untracked path when
// the target commit wants to put a tracked file there. In particular Checkout does not use go-git's
// Worktree.Checkout or Worktree.Reset, because in go-git v5.19.3:
//
//   - a forced checkout (CheckoutOptions.Force) and a hard reset delete
//     every untracked and ignored file (data/, .env);
//   - the non-force checkout (ResetOptions{Mode: MergeReset}) silently
//     overwrites an untracked or ignored file that sits where the target
//     commit adds a tracked file, silently discards staged changes, and moves
//     HEAD before it checks for unstaged changes, so a refused checkout
//     leaves HEAD at the new commit over the old files;
//   - HEAD and .git/index are rewritten in place (truncate, write, no
//     fsync), so a power loss can leave an empty HEAD, which git no longer
//     recognises as a repository.
//
// Checkout instead diffs the HEAD tree against the target tree and applies
// only those file changes (each file staged beside its path, made durable
// with the others staged around it by one sync, then renamed over its
// path: applyChanges), then writes a new index through git's index.lock
// protocol and finally points HEAD at the target. It refuses, before
// writing anything, when a tracked file has local modifications
// (ErrLocalModifications) or when an untracked or ignored file is in the
// way (ErrUntrackedInTheWay).
//
// # Crash safety
//
// HEAD is written last. If the process dies half way, HEAD still names the
// old commit and the files already replaced show up as local
// modifications whose content equals the target commit; Checkout to the
// same target recognises those as its own unfinished work and completes,
// so re-running an interrupted checkout is safe and idempotent. If a write
// fails, Checkout restores the files it already replaced before returning
// the error.
//
// # Cost
//
// LocalModifications and Checkout look only at tracked paths (index
// entries and the two trees), never at the rest of the work tree, so their
// cost does not grow with the size of data/. Checkout reads of the target
// tree only the folders whose tree hash differs from HEAD's (diffCommits),
// looks at the work tree while HEAD's tree is decoded, and writes the
// index with its own version 2 encoder (indexfile.go).
//
// A Repo is not safe for concurrent use; the reconciler owns it.
package gitrepo
