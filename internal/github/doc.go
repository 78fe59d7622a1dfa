// Package github lists the releases of the app's GitHub repository
// through the REST API (GET /repos/{owner}/{repo}/releases) and is a
// releases.Source, the one behind "Check for updates".
//
// It is written to be polled on every reconcile without hurting anyone:
//
//   - Answers are cached for 30 minutes (Client.TTL), in memory and in a
//     JSON file in the state folder (kind ReleaseCache), so a restart
//     does not ask again. After the TTL the cache is revalidated with
//     If-None-Match; GitHub's 304 costs no rate limit.
//   - Rate limits are obeyed: after a 403/429 with Retry-After or
//     X-RateLimit-Remaining: 0 no request is sent before the reset, and
//     the reset time is persisted so a restart obeys it too.
//   - Failures degrade: when GitHub cannot be asked, the last cached
//     listing is returned with Listing.Stale saying why, instead of an
//     error; errors are returned only when there is nothing cached.
//   - Responses are bounded (MaxBodyBytes, a 10 s client timeout, ten
//     pages), and a pagination link to another host is refused, since
//     following it would send the token there.
//   - The token travels only in the Authorization header: it is never
//     logged, never in an error and never in the cache file.
//
// Only what the updater needs is kept: published releases whose tag is a
// canonical semantic version (releases.IsReleaseTag), prereleases only on
// request, sorted by version. GitHub's own "latest" flag and its list
// order are ignored, so a backport v1.9.9 published after v1.10.0 is not
// mistaken for the newest release. Commits are left empty: GitHub reports
// the branch a release was cut from, not the tag's commit, which the
// caller reads from git.
package github
