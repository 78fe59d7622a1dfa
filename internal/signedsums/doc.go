// Package signedsums defines the signed checksum list that every release the
// updater trusts carries: our own releases (make release, self-update) and an
// application's prebuilt artifacts.
//
// A release publishes two files beside its assets:
//
//   - SHA256SUMS, exactly what `sha256sum` writes: one line per asset,
//     "<64 lowercase hex digits><two spaces><name>\n", sorted by name, each
//     name once. When parsing, a "*" binary-mode marker in place of the
//     second space is accepted ("<hex> *<name>"). A name is a plain file
//     name matching NamePattern (no folders, no "..", nothing hidden).
//
//   - SHA256SUMS.minisig, a minisign signature (Ed25519, plain or prehashed)
//     of the SHA256SUMS bytes, whose trusted comment is exactly
//
//     timestamp:<unix seconds>\tfile:SHA256SUMS\tversion:<version>
//
//     The trusted comment is signed too, so its version field binds the list
//     to one release: Verify requires version:<the version being installed>
//     and so refuses the (validly signed) SHA256SUMS of another release
//     replayed under this one's tag. The untrusted comment is ignored.
//
// Signing is reproducible: Ed25519 is deterministic and the timestamp is the
// release commit's time, so one commit and one key give identical bytes.
//
// The package holds the format only: it reads and writes bytes, never files
// or the network. Every refusal wraps ErrUntrusted, so callers tell "these
// files must not be used" apart from transport errors with errors.Is.
package signedsums
