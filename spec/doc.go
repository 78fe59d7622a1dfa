// Package spec reads and writes desired.yaml, the declarative statement of
// which release a host should run.
//
// desired.yaml is owned by people and their tools (an editor, Ansible, the
// dashboard, a GitOps repo); the updater only reads it. Load is strict:
// unknown fields, duplicate keys, a second YAML document, aliases that
// expand the file past four times its size limit, a wrong apiVersion or
// kind, and a version that is not a semver tag or "latest" are errors that
// name the file, the field and the fix, and a caller that gets one must
// change nothing on the host. Versions are normalised once, here, at the
// boundary.
//
// Beside the version, a spec may carry a policy for when an update may
// start: hold (until a time), windows (maintenance windows: a cron
// schedule, a duration and a time zone; the zone database is embedded so
// minimal hosts resolve names) and minReleaseAge (how long a release must
// be public before latest takes it). Each is checked at load, its errors
// naming the field (spec.windows[1].schedule) and the fix.
package spec
