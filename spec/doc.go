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
package spec
