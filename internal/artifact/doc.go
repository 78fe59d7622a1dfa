// Package artifact downloads, verifies and unpacks release files: the
// prebuilt artifacts of an application and the updater's own releases.
//
// Trust comes from one place: a SHA256SUMS list signed with minisign by a
// key the operator configured (package signedsums). Fetcher.Get downloads
// SHA256SUMS and SHA256SUMS.minisig, verifies the signature and that it
// was made for the version being installed, and then downloads the asset
// and checks its size and SHA-256 against the list (and against GitHub's
// digest when the release listing gives one). A verified file is kept in
// a cache folder and re-verified before reuse.
//
// Errors fall in three classes, told apart with errors.Is:
//
//   - ErrUntrusted: the release's files must not be used (tampered, wrong
//     checksum, bad or missing signature, another version's checksums, a
//     bad name, an unsafe archive entry, a digest or size mismatch).
//     Fetching again does not help; a new release does.
//   - ErrNoAsset: the release has no asset of that name (for example none
//     for this OS and architecture); the message lists the assets there are.
//   - anything else (connection refused, HTTP 5xx, a stalled or cut
//     download, a full disk, a cancelled context) is transient: retry.
//     A cut download resumes where it stopped on the next call.
//
// The package imports no reconciler or config code: callers pass keys,
// URLs, names and folders.
package artifact
