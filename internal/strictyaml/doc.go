// Package strictyaml decodes the updater's YAML files strictly: one
// document, no unknown or duplicate fields, field names matched exactly
// (encoding/json, under sigs.k8s.io/yaml, matches them ignoring case), and
// YAML aliases bounded so a small file cannot expand into gigabytes.
//
// desired.yaml, status.yaml and updater.yaml all go through Unmarshal; each
// caller wraps its errors with its own sentinel and file name.
package strictyaml
