package desired

import (
	"bytes"
	"errors"

	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/spec"
)

// errUnchanged ends a Replace whose document is the file's already.
var errUnchanged = errors.New("desired.yaml unchanged")

// Replace makes desired.yaml the document d, as a writer that owns the
// whole file does (the fleet sync of a GitOps repo): when the file asks
// for something else (a spec or metadata that differs once defaulted) or
// is missing or unusable, d replaces it atomically under the same lock
// and generation checks as the other edits; when it already holds d,
// nothing is written and changed is false. An invalid d is refused with
// spec's error; a stale ifGeneration ("" accepts any) with ErrConflict.
func Replace(path, ifGeneration string, d *spec.DesiredVersion) (st State, changed bool, err error) {
	want := *d
	want.Default()
	st, err = apply(path, ifGeneration, func(have *spec.DesiredVersion, _ error) (*spec.DesiredVersion, error) {
		if have != nil && sameDocument(have, &want) {
			return nil, errUnchanged
		}
		next := want
		return &next, nil
	})
	if errors.Is(err, errUnchanged) {
		return st, false, nil
	}
	return st, err == nil, err
}

// sameDocument reports whether a and b (both defaulted) mean the same
// desired.yaml: they encode alike (keys sorted, empty lists and maps
// left out), whatever the layout and comments of the file read.
func sameDocument(a, b *spec.DesiredVersion) bool {
	ea, errA := yaml.Marshal(a)
	eb, errB := yaml.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ea, eb)
}
