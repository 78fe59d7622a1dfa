// Package desired carries out the edits people and programs make to
// desired.yaml: set a version, ask for a retry, ask for a rollback to the
// last known good version. The CLI (`set`, `retry`) and the HTTP API call
// the same functions, so the file means the same whoever wrote it.
//
// Each edit is a read-modify-write guarded by a generation: the SHA-256 of
// the file's bytes, "sha256:<hex>". A caller that passes the generation it
// saw gets ErrConflict, and the file is left alone, when the file changed
// since. Edits in one process are serialised; against writers in other
// processes the generation is checked again right before the new file is
// renamed into place.
package desired
