package fleet

import (
	"errors"
	"fmt"

	"github.com/better-paas/updater/internal/strictyaml"
	"github.com/better-paas/updater/spec"
)

// Kind is the kind of a fleet file that carries a rollout. A fleet file
// may also be a plain desired.yaml (kind DesiredVersion), which every
// host it reaches takes at once.
const Kind = "FleetDesiredVersion"

// ErrInvalidFile is wrapped by every refusal of a fleet file.
var ErrInvalidFile = errors.New("invalid fleet file")

// Document is a fleet file: a desired.yaml document and, with kind
// FleetDesiredVersion, the rollout that says which hosts take it now.
//
//	apiVersion: updates.better-paas.io/v1
//	kind: FleetDesiredVersion
//	spec: {version: v1.4.2}
//	rollout: {percent: 25, canaries: [host-a, host-b]}
type Document struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Metadata   spec.Metadata `json:"metadata,omitempty"`
	Spec       spec.Spec     `json:"spec"`
	Rollout    *Rollout      `json:"rollout,omitempty"`
}

// Rollout is a wave: the hosts whose cohort is below Percent, and the
// canaries, whatever their cohort.
type Rollout struct {
	// Percent is the share of the fleet that moves, 0 to 100. Required:
	// 0 moves the canaries only.
	Percent *int `json:"percent"`
	// Canaries are hostnames (desiredFrom.git.hostname) that move at every
	// percent, 0 included.
	Canaries []string `json:"canaries,omitempty"`
	// PauseOnFailure pauses a host whose update under this file failed
	// (and was rolled back): it takes no other version, from the fleet or
	// from latest, until the file for it changes. The host writes nothing
	// anywhere but its own status; its metrics and API show the pause
	// (status.FleetPause), which is how a wave is watched and stopped.
	PauseOnFailure bool `json:"pauseOnFailure,omitempty"`
}

// Desired returns the desired.yaml document the fleet file asks for.
func (d *Document) Desired() *spec.DesiredVersion {
	out := &spec.DesiredVersion{APIVersion: d.APIVersion, Kind: spec.Kind, Metadata: d.Metadata, Spec: d.Spec}
	if len(d.Metadata.Annotations) > 0 {
		out.Metadata.Annotations = make(map[string]string, len(d.Metadata.Annotations))
		for k, v := range d.Metadata.Annotations {
			out.Metadata.Annotations[k] = v
		}
	}
	out.Default()
	return out
}

// Parse decodes a fleet file strictly (no unknown or duplicate fields, at
// most spec.MaxFileSize), then checks it as desired.yaml is checked and
// its rollout. where names the file in errors (repo, commit and path);
// every error wraps ErrInvalidFile.
func Parse(where string, data []byte) (*Document, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("cannot load %s: %w: %s", where, ErrInvalidFile, fmt.Sprintf(format, a...))
	}
	if len(data) > spec.MaxFileSize {
		return nil, bad("larger than %d bytes", spec.MaxFileSize)
	}
	var d Document
	if err := strictyaml.Unmarshal(data, &d, 4*spec.MaxFileSize); err != nil {
		return nil, fmt.Errorf("cannot load %s: %w: %w", where, ErrInvalidFile, err)
	}
	switch d.Kind {
	case Kind:
	case spec.Kind:
		if d.Rollout != nil {
			return nil, bad("rollout is only read in kind %s; change kind: %s to kind: %s", Kind, spec.Kind, Kind)
		}
	default:
		return nil, bad("kind %q; a fleet file is kind %s (with a rollout) or %s", d.Kind, Kind, spec.Kind)
	}
	if d.APIVersion != spec.APIVersion {
		return nil, bad("apiVersion %q; write apiVersion: %s", d.APIVersion, spec.APIVersion)
	}
	if err := d.Desired().Validate(); err != nil {
		return nil, fmt.Errorf("cannot load %s: %w: %w", where, ErrInvalidFile, err)
	}
	if r := d.Rollout; r != nil {
		switch {
		case r.Percent == nil:
			return nil, bad("rollout.percent is required: 0 to 100 (0 moves the canaries only)")
		case *r.Percent < 0 || *r.Percent > 100:
			return nil, bad("rollout.percent %d is not 0 to 100", *r.Percent)
		}
		seen := map[string]int{}
		for i, c := range r.Canaries {
			if c == "" {
				return nil, bad("rollout.canaries[%d] is empty; name a host by its desiredFrom.git.hostname", i)
			}
			if j, dup := seen[c]; dup {
				return nil, bad("rollout.canaries[%d] %q is listed twice (also rollout.canaries[%d])", i, c, j)
			}
			seen[c] = i
		}
	}
	return &d, nil
}
