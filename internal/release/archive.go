package release

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// Name is the updater's binary name and the first part of its archive names.
const Name = "better-paas-updater"

// Target is a platform a release is built for, in GOOS/GOARCH terms.
type Target struct{ OS, Arch string }

// String returns "os/arch".
func (t Target) String() string { return t.OS + "/" + t.Arch }

// Targets are the platforms every release is built for.
var Targets = []Target{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}

// ArchiveStem returns "<name>_<version>_<os>_<arch>": the archive's name
// without ".tar.gz" and the one folder inside it.
func ArchiveStem(name, version string, t Target) string {
	return name + "_" + version + "_" + t.OS + "_" + t.Arch
}

// ArchiveName returns ArchiveStem + ".tar.gz", the asset name of t's archive.
func ArchiveName(name, version string, t Target) string {
	return ArchiveStem(name, version, t) + ".tar.gz"
}

// BinaryPath returns the path of the updater's binary inside the archive of
// version for t: "<stem>/better-paas-updater". Self-update looks it up there.
func BinaryPath(version string, t Target) string {
	return ArchiveStem(Name, version, t) + "/" + Name
}

// File is one entry of an archive. Name is a slash-separated path relative
// to the archive's folder ("README.md", "assets/app.js"); the folders it
// passes through are added as entries of their own. A Mode with any
// executable bit gives 0755, otherwise 0644; a Mode with fs.ModeDir makes
// an (empty) folder entry and Data is ignored.
type File struct {
	Name string
	Data []byte
	Mode fs.FileMode
}

// WriteArchive writes a reproducible .tar.gz of files to w: the entry
// "<stem>/", then every folder and file beneath it sorted by path; owner
// and group 0/"root"; modes 0755 (folders, executables) or 0644; every
// mtime modTime truncated to the second; a gzip header without name or
// time. The order of files does not matter: the same set of files, stem
// and modTime always gives the same bytes (with one Go release). With
// stem "" the files and folders are at the archive's root, with no folder
// entry of its own (an app's frontend archive, whose root becomes the
// served folder).
//
// It refuses a stem that is not one plain path component, a name that is
// empty, absolute, has empty, "." or ".." components or a backslash, a name
// given twice, and a path that is both a file and a folder, naming it.
func WriteArchive(w io.Writer, stem string, files []File, modTime time.Time) error {
	if stem != "" && (checkPath(stem) != nil || strings.Contains(stem, "/")) {
		return fmt.Errorf("cannot write archive: folder name %q must be one plain path component", stem)
	}
	prefix := ""
	if stem != "" {
		prefix = stem + "/"
	}
	modTime = time.Unix(modTime.Unix(), 0).UTC()

	type entry struct {
		data []byte
		dir  bool
		exec bool
	}
	entries := map[string]entry{}
	if stem != "" {
		entries[prefix] = entry{dir: true}
	}
	for _, f := range files {
		if err := checkPath(f.Name); err != nil {
			return fmt.Errorf("cannot write archive %s: entry %q: %w", stem, f.Name, err)
		}
		name := prefix + f.Name
		e := entry{data: f.Data, exec: f.Mode&0o111 != 0}
		if f.Mode.IsDir() {
			name, e = name+"/", entry{dir: true}
		}
		if _, dup := entries[name]; dup {
			return fmt.Errorf("cannot write archive %s: entry %q is given twice", stem, f.Name)
		}
		if _, clash := entries[strings.TrimSuffix(name, "/")+"/"]; clash && !e.dir {
			return fmt.Errorf("cannot write archive %s: entry %q is both a file and a folder", stem, f.Name)
		}
		entries[name] = e
		for dir := path.Dir(f.Name); dir != "."; dir = path.Dir(dir) {
			if prev, ok := entries[prefix+dir]; ok && !prev.dir {
				return fmt.Errorf("cannot write archive %s: entry %q is both a file and a folder", stem, dir)
			}
			entries[prefix+dir+"/"] = entry{dir: true}
		}
	}
	names := make([]string, 0, len(entries))
	for name := range entries {
		names = append(names, name)
	}
	slices.Sort(names)

	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("cannot write archive %s: %w", stem, err)
	}
	tw := tar.NewWriter(gz)
	for _, name := range names {
		e := entries[name]
		h := &tar.Header{Name: name, ModTime: modTime, Uname: "root", Gname: "root", Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		switch {
		case e.dir:
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case e.exec:
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("cannot write archive %s: entry %s: %w", stem, name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("cannot write archive %s: entry %s: %w", stem, name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("cannot write archive %s: %w", stem, err)
	}
	if err := gz.Close(); err != nil {
		return fmt.Errorf("cannot write archive %s: %w", stem, err)
	}
	return nil
}

// checkPath refuses what must not be an archive path: empty, absolute,
// backslashes, and empty, "." or ".." components.
func checkPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) {
		return fmt.Errorf("must be a relative slash-separated path")
	}
	for c := range strings.SplitSeq(p, "/") {
		if c == "" || c == "." || c == ".." {
			return fmt.Errorf("must not have empty, . or .. components")
		}
	}
	return nil
}
