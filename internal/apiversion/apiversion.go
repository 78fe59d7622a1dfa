// Package apiversion defines, once, the API group and version every file
// the updater reads or writes carries (desired.yaml, status.yaml,
// updater.yaml, the release cache, the stored UPDATE_REPO, a restore
// request), so a new version is one edit and no file can drift.
package apiversion

const (
	// Group is the API group; annotations are named under it too.
	Group = "updates.better-paas.io"
	// V1 is the apiVersion of every document this updater writes.
	V1 = Group + "/v1"
)
