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
// error of the RemoteURL function) for errors.Is. Checks returns the same
// results one by one, passing ones included, for a "check" command to
// print.
//
// The package only reads: it never creates a folder or writes a file.
// The space estimate is deliberately pessimistic (a full copy of the data
// folder, as if no earlier backup could be shared, plus the caller's
// headroom for the build) because running out of space in the middle of a
// backup or a build is much worse than refusing early.
package preflight
