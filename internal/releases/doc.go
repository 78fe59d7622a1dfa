// Package releases answers "which versions of the app exist upstream, and
// which one is the latest?".
//
// A Source lists releases. GitTags reads the tags of the app's git remote
// (git ls-remote, through internal/gitrepo); a GitHub Releases source can
// be added later behind the same interface. Only tags shaped exactly
// vMAJOR.MINOR.PATCH or vMAJOR.MINOR.PATCH-PRERELEASE are releases, so a
// tag such as "nightly", "1.2.3" or "v1.2" never becomes an update target.
//
// Versions are compared with golang.org/x/mod/semver, so v1.10.0 is newer
// than v1.9.9 and v2.0.0-rc.1 is older than v2.0.0. Latest never picks a
// prerelease: a host only runs one when desired.yaml names it explicitly.
package releases
