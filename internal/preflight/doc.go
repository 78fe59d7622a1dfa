// Package preflight checks, before an update touches anything, that the
// update can finish: that there is room for the backup and the build, that
// the build's programs exist, and that the checkout fetches from the
// expected remote. An update that fails half way through has to roll back,
// which restarts the app and risks the rollback itself failing; refusing up
// front leaves the running version alone and tells the administrator what
// to fix.
//
// Every check runs, even after one failed, so a single report lists every
// problem: Run returns errors.Join of the failures, each of which names
// what is wrong and how to fix it and wraps one of ErrInsufficientSpace,
// ErrCommandNotFound, ErrCommandNotExecutable or ErrRemoteMismatch (or the
// error of the RemoteURL function) for errors.Is. BuildEnv (ErrBuildEnv:
// HOME and the build programs on the build's own PATH), UntrackedData
// (ErrDataTracked: git must track nothing in dataDir) and UntrackedPaths
// (ErrDataTracked: nor in backup.paths) are separate checks
// the reconciler runs beside Run. Checks returns the same
// results one by one, passing ones included, for a "check" command to
// print.
//
// The package only reads: it never creates a folder or writes a file.
// The space estimate errs on the safe side, because running out of space
// in the middle of a backup or a build is much worse than refusing early:
// for the backup, what its hot pass would copy (backup.EstimateCreate:
// files unchanged since the newest complete backup are hard links and
// take no room; a file whose ctime is too recent to vouch for it counts
// as copied), each file rounded up to a 4 KiB block, plus an eighth for
// files that change again before the cold pass, plus room for folders and
// manifests; for the build, the caller's headroom.
package preflight
