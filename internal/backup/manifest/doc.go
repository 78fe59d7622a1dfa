// Package manifest is the format of a backup's MANIFEST.json: what a
// backup holds (one entry per file, folder, symlink and special file:
// path, size, mode, owner, mtime, sha256, target), what was skipped and
// why, totals, and the counts of the pass that wrote it. The copy engine,
// package backup, takes, finishes, verifies and restores backups; this
// package only reads, checks and writes their manifests, and imports
// nothing from it.
//
// The format is JSON, one entry per line so a human can read and diff it.
// Names are raw bytes: a path or link target that is not UTF-8 is written
// as pathBase64/targetBase64 (standard base64 of the bytes), because a
// JSON string cannot carry arbitrary bytes. Version 2 (Version) puts every
// header field before "entries", so ReadHeader can stop there; version 1
// manifests, written by encoding/json, are still read.
//
// Encoding and decoding are hand-written for speed: a manifest of 50,000
// entries is on an update's critical path. Encode escapes strings as
// encoding/json does; Decode reads the entries Encode wrote with a small
// parser of that subset of JSON and hands anything else (a version 1
// manifest, a hand-edited one) to encoding/json. Either way it reads an
// input as encoding/json alone would, accepting and refusing the same
// inputs and returning the same Manifest before its path checks
// (FuzzDecoderAgreesWithEncodingJSON holds it to that).
//
// A manifest is a trust boundary: whoever can write the backup folder can
// edit it. Decode, and so Read, ReadFile and every reader of whole
// manifests, checks every path it holds (clean, relative, below a folder
// listed before it, listed once; the extra paths it names likewise) and
// refuses one that fails with an error wrapping ErrUnsafePath, so no path
// it has not checked reaches the filesystem.
//
// Write stores a manifest atomically (internal/atomicfile: temporary
// file, fsync, rename, fsync of the folder) and reads it back, so a
// manifest that exists is whole and durable.
package manifest
