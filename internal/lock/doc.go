// Package lock makes sure only one process at a time drives an install from
// a given state folder: the daemon, or a CLI command that writes (run
// --once, retry), never two of them. Two writers would race on status.yaml
// and on the checkout itself.
//
// The lock is an advisory flock(2) on a file in the state folder, taken
// with LOCK_NB so a second process fails at once with a HeldError naming
// the holder instead of hanging. Because the kernel drops a flock when the
// last descriptor of the open file description is closed, a holder that
// crashes or is SIGKILLed releases the lock with its death: there is no
// stale lock to clean up by hand, whatever the file still says.
//
// The holder writes its pid, purpose and start time into the file so a
// refused process can say who is in the way. The file is rewritten in place
// on the locked descriptor (truncate, write, fsync) rather than through
// atomicfile: replacing it by rename would give the path a new inode that
// nobody holds a flock on, and the next process would lock that one while
// the first still runs. The content is therefore informational only; the
// flock is the truth.
//
// The descriptor is opened close-on-exec (Go's default), so the builds,
// hooks and app the updater starts never inherit the lock and cannot keep
// it alive after the updater exits.
//
// Limits: flock is local to one host; on NFS, Linux emulates it with POSIX
// record locks, which do not conflict within one process. Keep the state
// folder on a local filesystem.
package lock
