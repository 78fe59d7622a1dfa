package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/better-paas/updater/examples"
)

// AppModulePath is the module path of the example app's repository; the
// first default release writes its go.mod.
const AppModulePath = "example.com/better-paas-app"

const appGoMod = "module " + AppModulePath + "\n\ngo 1.22\n"

// ErrInvalidRelease means a Release cannot be applied: no tag, a path that
// leaves the repository or points into .git, or a Remove path that is not in
// the previous release's tree. The error names the tag and the path.
var ErrInvalidRelease = errors.New("invalid release")

// Release is one tagged commit of a fixture repository. It is applied on
// top of the previous release's tree in this order: Remove, Overlay, Files
// (later steps win), then committed and tagged with an annotated tag.
//
// Paths are slash-separated and relative to the repository root. Files that
// the tree's .gitignore matches are not committed, as in a real repository.
type Release struct {
	// Tag names the release, e.g. "v1.3.0". It must not exist yet.
	Tag string
	// Files maps paths to contents, written with mode 0644.
	Files map[string]string
	// Remove lists files or folders to delete; each must exist.
	Remove []string
	// Overlay is copied over the tree. Files with an executable bit keep it
	// (os.DirFS); embedded files are written with mode 0644. May be nil.
	Overlay fs.FS
}

// DefaultReleases returns the example app's history from package examples:
// v1.0.0 (examples.App plus a go.mod for AppModulePath), v1.1.0 (good) and
// v1.2.0 (builds, but /api/health answers 503). Each call returns new values.
func DefaultReleases() []Release {
	var rels []Release
	for i, r := range examples.Releases() {
		rel := Release{Tag: r.Tag, Overlay: r.Overlay}
		if i == 0 {
			rel.Files = map[string]string{"go.mod": appGoMod}
		}
		rels = append(rels, rel)
	}
	return rels
}

// BrokenBackend returns a release tagged tag whose backend does not compile:
// `go build ./backend` fails on an undefined name. The frontend still builds.
func BrokenBackend(tag string) Release {
	return Release{Tag: tag, Files: map[string]string{
		"backend/broken.go": "package main\n\n// A half-finished refactoring: the helper was renamed, this caller not.\nvar _ = loadSettings()\n",
	}}
}

// BrokenFrontend returns a release tagged tag whose frontend build exits
// non-zero: src/app.js has a syntax error. The backend still builds.
func BrokenFrontend(tag string) Release {
	return Release{Tag: tag, Files: map[string]string{
		"frontend/src/app.js": "// A merge conflict resolved badly.\nconst pageVersion = __VERSION__;\nrefreshHealth(;\n",
	}}
}

// validate checks what can be checked without the tree.
func (r Release) validate() error {
	if r.Tag == "" {
		return fmt.Errorf("cannot apply release: %w: tag is empty", ErrInvalidRelease)
	}
	for p := range r.Files {
		if err := checkPath(r.Tag, p); err != nil {
			return err
		}
	}
	for _, p := range r.Remove {
		if err := checkPath(r.Tag, p); err != nil {
			return err
		}
	}
	return nil
}

func checkPath(tag, p string) error {
	if !fs.ValidPath(p) || p == "." || isGitPath(p) {
		return fmt.Errorf("cannot apply release %s: %w: path %q must be slash-separated, relative, inside the repository and outside .git", tag, ErrInvalidRelease, p)
	}
	return nil
}

func isGitPath(p string) bool {
	return p == ".git" || strings.HasPrefix(p, ".git/")
}

// apply writes the release into the work tree at dir.
func (r Release) apply(dir string) error {
	for _, p := range r.Remove {
		target := filepath.Join(dir, filepath.FromSlash(p))
		if _, err := os.Lstat(target); err != nil {
			return fmt.Errorf("cannot remove %s in release %s: %w: it is not in the previous release: %w", p, r.Tag, ErrInvalidRelease, err)
		}
		if err := os.RemoveAll(target); err != nil {
			return fmt.Errorf("cannot remove %s in release %s: %w", p, r.Tag, err)
		}
	}
	if r.Overlay != nil {
		if err := copyFS(dir, r.Overlay); err != nil {
			return fmt.Errorf("cannot apply overlay of release %s: %w", r.Tag, err)
		}
	}
	for p, content := range r.Files {
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(p)), []byte(content), 0o644); err != nil {
			return fmt.Errorf("cannot apply release %s: %w", r.Tag, err)
		}
	}
	return nil
}

// copyFS copies every file of src into dir, replacing existing files.
func copyFS(dir string, src fs.FS) error {
	return fs.WalkDir(src, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if isGitPath(name) {
			return fmt.Errorf("%w: overlay contains %s", ErrInvalidRelease, name)
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%w: overlay file %s is not a regular file", ErrInvalidRelease, name)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		perm := os.FileMode(0o644)
		if info.Mode().Perm()&0o100 != 0 {
			perm = 0o755
		}
		data, err := fs.ReadFile(src, name)
		if err != nil {
			return err
		}
		return writeFile(filepath.Join(dir, filepath.FromSlash(name)), data, perm)
	})
}

// writeFile writes a fixture file. The work tree is thrown away once git
// has the commit, so durability (atomicfile) buys nothing here.
func writeFile(name string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("cannot create folder for %s: %w", name, err)
	}
	if err := os.WriteFile(name, data, perm); err != nil {
		return fmt.Errorf("cannot write %s: %w", name, err)
	}
	// WriteFile keeps the mode of an existing file; an overlay decides it.
	if err := os.Chmod(name, perm); err != nil {
		return fmt.Errorf("cannot set mode of %s: %w", name, err)
	}
	return nil
}
