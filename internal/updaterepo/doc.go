// Package updaterepo decides which repository the updater checks for new
// releases (UPDATE_REPO) and remembers the administrator's choice.
//
// Resolver.Resolve looks at three sources, highest priority first:
//
//  1. the environment variable UPDATE_REPO (FromEnv);
//  2. the value stored by "better-paas-updater repo set OWNER/NAME" in the
//     updater's state folder (FromStored);
//  3. the URL of the checkout's git remote "origin" (FromRemote), so a git
//     install works without any setting.
//
// The first source that is set wins. A source that is set but invalid is an
// error naming that source and its fix; Resolve never falls through to a
// lower source, because silently checking a different repository than the
// one the administrator named could install someone else's code.
//
// Parse turns every spelling people use into a Repo: "owner/name",
// "host/owner/name", https, http, ssh, git and scp-like ("git@host:o/n")
// URLs, with or without ".git", trailing slashes, ports or credentials.
// Credentials are dropped while parsing and never appear in a Repo, its
// String or any error of this package. A local remote (a path or a file://
// URL) is ErrNotHosted: such an install has no hosted releases and the caller
// reads the checkout's git tags instead.
//
// This is a leaf package: it imports nothing of the project except
// internal/atomicfile, which every persisted file goes through.
package updaterepo
