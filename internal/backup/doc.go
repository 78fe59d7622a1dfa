// Package backup takes the backup of the app's data/ folder that comes
// first in every update, and verifies, lists, prunes and restores backups.
//
// A backup lives in <root>/<id>/ and holds two things:
//
//	<root>/<id>/MANIFEST.json   what the backup holds: one entry per file,
//	                            folder, symlink and special file (path,
//	                            size, mode, owner, mtime, sha256, target),
//	                            what was skipped and why, totals
//	<root>/<id>/data/           the copy of the source folder
//
// The copy sits in its own data/ subfolder so that a file called
// MANIFEST.json in the app's data can never collide with ours.
//
// A backup may also hold extra paths: files and folders the app keeps
// beside its data folder, such as a .env file or migrations generated
// into the install (Paths; backup.paths in updater.yaml). Each is a part
// of the same backup, backed up by the same passes into a folder of its
// own that is laid out like a backup folder:
//
//	<root>/<id>/parts/<name>/MANIFEST.json   the extra path's manifest
//	<root>/<id>/parts/<name>/data/<path's name>  its copy, file or folder
//
// where <name> is the path percent-encoded into one name (".env" is
// "%2Eenv"). Its data/ is the folder holding the path, narrowed to the
// path, so a single file is backed up like a folder's entry and everything
// below (incremental links, the cold pass, read-only copies, sparse
// files, verification, restore) is the data folder's code. The main
// manifest lists the extra paths (parts) and is written last: a backup
// counts only once every part is whole. Backups without parts, those
// made before extra paths existed included, are read as before.
//
// Completeness is defined by the manifest, written last: Create copies
// into <root>/.<id>.partial, checks every entry against the manifest,
// writes the manifest (read back), makes everything durable and only then
// renames the folder to <root>/<id>. A folder named <id> with a
// manifest is a whole, durable backup; anything else is ignored by List and
// cleaned up by the next Create or Prune.
//
// A backup is taken in two passes, so it is a consistent snapshot of data/
// for little downtime:
//
//   - Create, the hot pass, runs while the app still serves. It is
//     incremental: a file unchanged since the newest backup (same size,
//     mtime, inode and ctime; or the same sha256 when those cannot vouch
//     for it) is hard-linked to that backup's copy, never to the live file,
//     so no later write to data/ can alter a backup. Only changed files are
//     read and copied: the cost follows what changed, not the size of data/.
//   - Finish, the cold pass, runs once the service is stopped. It copies
//     what changed since the hot pass (a file torn by a write during the
//     hot pass included), drops what left data/, and rewrites the manifest;
//     the backup then shows data/ as it was when the old version stopped.
//
// A manifest also says whose data the backup holds (dataOf: the version
// that ran) and which update took it (takenBefore: the version it was
// about to install), as Create is told (DataOf, TakenBefore).
//
// Everything in a backup's data/ is read-only: the copy of a file, folder,
// pipe or device node has the source's mode minus its write bits, while
// the manifest records the source's mode (readOnly: true says so). Shared
// files are hard links, so a write to one copy (an editor, or sqlite3
// folding its WAL back on close) would change every backup sharing it; as
// a user that is not root it now fails with EACCES, and root has to change
// the mode first, which Verify reports. Folders are read-only as well: the
// updater runs as root, which removes them anyway, and a process that is
// not root makes a folder writable again just before it removes or changes
// it (removeTree, Finish).
//
// Verify re-hashes a backup against its manifest and names every entry
// that differs, each with everything that differs there, extra paths
// included. Restore copies a backup into a new folder beside data/,
// verifies the copy, and only then swaps it in, keeping the replaced data
// as <name>.replaced-<UTC time>; ListReplaced lists those copies and
// PruneReplaced keeps the newest N. RestoreAll does the same for data/
// and the extra paths together, copying and verifying all of them before
// it swaps any (ListReplacedPath, PruneReplacedPath).
// Prune keeps N backups in total, never removing the ones it is told to
// protect (the current update's, the last known good version's); it
// removes the backups of failed attempts, and those that never had their
// cold pass, before the oldest of successful updates. Removing a backup
// never harms another, as shared files are hard links.
//
// EstimateCreate says, without writing, what Create would copy now (what
// is not unchanged since the newest backup): the room a backup needs,
// which the preflight check asks the disk for.
//
// Sparse files stay sparse: copies (hot pass, cold pass, restore) write
// only the data ranges SEEK_DATA/SEEK_HOLE find and leave the holes
// unwritten (sparse.go; a plain copy on systems other than Linux), while
// the sha256 is still that of the whole content, holes hashed as zeros.
//
// The manifest's format (types, encoder, decoder, path checks, atomic
// write) is package manifest, below this one; this package is the copy
// engine that writes and acts on manifests.
//
// A manifest is a trust boundary: whoever can write the backup folder
// can edit it. Every path in it is checked where it is read
// (manifest.Decode: clean, relative, below a folder listed before it,
// listed once; ErrUnsafePath otherwise), so no operation acts on a
// manifest that names something outside the backup; and Restore creates
// every entry relative to a descriptor of its folder, resolved with
// openat2 RESOLVE_BENEATH and RESOLVE_NO_SYMLINKS on Linux (a
// component-by-component O_NOFOLLOW walk elsewhere), so not even a
// symlink swapped in while it runs leads out.
//
// The source folder is only ever read: files are opened read-only (with
// O_NOATIME where the kernel allows it, so even access times stay put) and
// symlinks are never followed. Names are raw bytes: a name with a newline
// or bytes that are not UTF-8 survives, base64-encoded in the manifest.
//
// Speed: the walk lists each folder once and stats its entries through
// the folder's descriptor; folders and big files are handled by a pool of
// workers with *at system calls; files of 4 MiB or more are written with
// O_DIRECT while the next piece is read and hashed; a syncfs started
// when the copies are written overlaps the checks and the manifest, and
// a last one makes the backup durable (writeBack); manifests are encoded
// and decoded by hand (package manifest). bench_test.go compares each
// pass with cp -a, tar and rsync --link-dest in the same run.
package backup
