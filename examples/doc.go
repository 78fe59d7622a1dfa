// Package examples embeds the Better-PaaS example app, its release history
// and example configuration files, so the demo and the tests build real git
// repositories from them without reading the source tree at run time.
//
// The app lives in app/ (see app/README.md). It belongs to the main Go
// module only so that its tests run with `go test ./...`; in a sandbox
// repository it is its own module, example.com/better-paas-app, whose go.mod
// internal/sandbox writes. A go.mod in app/ would make it a nested module,
// which go:embed refuses.
package examples
