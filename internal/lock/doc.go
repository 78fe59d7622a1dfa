// Package lock makes sure only one process at a time drives an install from
// a given state folder: the daemon, or a CLI command that writes (run
// --once, retry), never two of them. Two writers would race on status.yaml
// and on the checkout itself.
//
// The lock is an advisory flock(2), taken with LOCK_NB so a second process
// fails at once with a HeldError naming the holder instead of hanging.
// Because the kernel drops a flock when the last descriptor of the open
// file description is closed, a holder that crashes or is SIGKILLed
// releases the lock with its death: there is no stale lock to clean up by
// hand, whatever the file still says.
//
// Two flocks are taken, in this order, and released in the reverse one:
//
//   - The state folder itself (the folder of the lock path), opened
//     O_RDONLY|O_DIRECTORY. This is the lock. Deleting the lock file or
//     replacing it by rename (an admin cleaning up, a tmpfiles rule, an
//     atomic write by some tool) leaves the folder and its flock in place,
//     so a second process is refused all the same (issue 8, item 7). With
//     a flock on the file alone, the second process created a new file at
//     the path, locked that new inode and ran too.
//   - The lock file, which the holder also flocks and into which it writes
//     its pid, purpose and start time, so a refused process can say who is
//     in the way. Its flock keeps out an updater from before the folder
//     lock, which locks only the file: during a self-update the old and the
//     new binary exclude each other.
//
// A refused process reads the file without creating it. If it was deleted,
// the refusal says "held by another process", without a pid, until the
// holder calls (*Lock).Check, meant for the daemon's every resync: Check
// writes the file back with the original information and flocks it again.
//
// What the lock cannot prevent, Check reports: an updater older than the
// folder lock that started while the file was missing, or a second process
// that locked a new state folder after the old one was moved away or
// removed (a HeldError: the daemon should stop), and a state folder that is
// gone (fs.ErrNotExist). A folder moved away and created again before
// anyone else came is simply locked again.
//
// The holder information is rewritten in place on the locked descriptor
// (truncate, write, fsync) rather than through atomicfile: replacing it by
// rename would give the path a new inode without our flock. The content is
// informational only; the flocks are the truth. Since the folder carries
// the lock, there is one lock per folder, whatever the file is called.
// Nothing else in the updater flocks the state folder.
//
// The descriptors are opened close-on-exec (Go's default), so the builds,
// hooks and app the updater starts never inherit the lock and cannot keep
// it alive after the updater exits.
//
// Limits: flock is local to one host; on NFS, Linux emulates it with POSIX
// record locks, which do not conflict within one process and may refuse a
// folder opened read-only. Keep the state folder on a local filesystem.
// Reading the folder must be allowed (O_RDONLY), not only writing into it.
package lock
