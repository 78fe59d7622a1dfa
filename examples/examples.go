package examples

import (
	"embed"
	"io/fs"
)

//go:embed all:app all:_releases config
var files embed.FS

// App is the example app at v1.0.0, rooted at the repository root of the
// app (backend/, frontend/, .gitignore, ...). It has no go.mod: whoever
// commits it writes one.
var App fs.FS = sub("app")

// Config holds the documented example configuration files, updater.yaml
// and desired.yaml, at its root.
var Config fs.FS = sub("config")

// Release is one tagged release of the example app: Overlay's files replace
// or add files of the previous release's tree.
type Release struct {
	// Tag is the git tag, a semantic version such as "v1.1.0".
	Tag string
	// Overlay mirrors the app's paths. For the first release it is the
	// whole tree.
	Overlay fs.FS
}

// Releases returns the default release history, oldest first:
//
//	v1.0.0  App, the base app
//	v1.1.0  a good release: an additive migration and a visible UI change
//	v1.2.0  a broken release: it builds and runs, but /api/health answers 503
//
// Each call returns a new slice; the file systems are read-only and shared.
func Releases() []Release {
	return []Release{
		{Tag: "v1.0.0", Overlay: App},
		{Tag: "v1.1.0", Overlay: sub("_releases/v1.1.0")},
		{Tag: "v1.2.0", Overlay: sub("_releases/v1.2.0")},
	}
}

// sub roots the embedded files at dir, which go:embed guarantees exists.
func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic("examples: embedded folder " + dir + " is missing: " + err.Error())
	}
	return f
}
