package manifest

import (
	"fmt"
	"testing"
	"time"
)

// benchManifest is a manifest shaped like the one of the 200MiB-50kfiles
// benchmark (50,000 files in 500 folders), in the order the hot pass
// writes it: the folders of one parent together, parents before children.
func benchManifest(files, dirs int) *Manifest {
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	m := &Manifest{Kind: Kind, Version: Version, ID: "bench", Source: "/srv/app/data", Owners: true, CreatedAt: mtime}
	m.Entries = append(m.Entries, Entry{Path: ".", Type: TypeDir, Mode: "0755", ModTime: mtime})
	for d := range dirs {
		m.Entries = append(m.Entries, Entry{Path: fmt.Sprintf("d%03d", d), Type: TypeDir, Mode: "0755", ModTime: mtime})
	}
	for d := range dirs {
		for i := d; i < files; i += dirs {
			m.Entries = append(m.Entries, Entry{
				Path: fmt.Sprintf("d%03d/f%05d", d, i), Type: TypeFile, Size: 4194, Mode: "0644", ModTime: mtime,
				UID: 1000, GID: 1000, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
				SrcIno: uint64(1_000_000 + i), SrcCtime: mtime.UnixNano() + int64(i),
			})
		}
	}
	m.ComputeTotals()
	return m
}

// BenchmarkDecodeManifest measures what a cold pass started in a fresh
// process pays to read the manifest of a 50,000-file backup, path checks
// included.
func BenchmarkDecodeManifest(b *testing.B) {
	data := benchManifest(50_000, 500).Encode()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		m, err := Decode(data)
		if err != nil {
			b.Fatal(err)
		}
		if len(m.Entries) != 50_501 {
			b.Fatalf("%d entries", len(m.Entries))
		}
	}
}

// BenchmarkCheckPaths measures the path checks alone (checkPaths), the
// part of BenchmarkDecodeManifest that guards against manifests that lead
// outside the backup.
func BenchmarkCheckPaths(b *testing.B) {
	m := benchManifest(50_000, 500)
	for b.Loop() {
		if err := m.checkPaths(); err != nil {
			b.Fatal(err)
		}
	}
}
