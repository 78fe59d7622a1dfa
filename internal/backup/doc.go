// Package backup copies the app's live data/ folder into a backup folder
// before every update, so an update that damages data can be undone by hand
// or by a later restore step.
//
// A backup lives in <root>/<id>/ and holds two things:
//
//	<root>/<id>/MANIFEST.json   what was copied: version, creation time, one
//	                            entry per file/folder/symlink (path, size,
//	                            mode, mtime, sha256), skipped entries, totals
//	<root>/<id>/data/           the copy of the source folder
//
// The copy sits in its own data/ subfolder rather than next to the manifest
// so that a file called MANIFEST.json in the app's data can never collide
// with ours.
//
// Completeness is defined by the manifest: Create copies into
// <root>/.<id>.partial, syncs everything, writes the manifest last and only
// then renames the folder to <root>/<id>. So a folder named <id> with a
// manifest is a whole backup, and anything starting with '.' is work in
// progress or debris that List ignores and Create cleans up.
//
// The source folder is only ever read: files are opened O_RDONLY (with
// O_NOATIME where the kernel allows it, so even access times stay put) and
// symlinks are never followed.
package backup
