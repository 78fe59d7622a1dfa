package backup

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// Create writes its manifests without a sync of their own: the sync that
// finish makes last must cover them, and the backup must not count
// before it (Create's doc: a backup folder with a manifest is whole and
// durable).
func TestCreateSyncsManifestsBeforeTheBackupCounts(t *testing.T) {
	for _, each := range []bool{false, true} {
		name := map[bool]string{false: "syncfs", true: "fsync each file"}[each]
		t.Run(name, func(t *testing.T) {
			old := syncEachFile
			syncEachFile = each
			t.Cleanup(func() { syncEachFile = old })
			in := newInstall(t)
			partial := filepath.Join(in.root, ".b1"+partialSuffix)
			manifests := []string{
				filepath.Join(partial, ManifestName),
				filepath.Join(partFolder(partial, ".env"), ManifestName),
				filepath.Join(partFolder(partial, "migrations"), ManifestName),
			}
			final := filepath.Join(in.root, "b1")
			var seen []string
			testHookFinalSync = func() {
				for _, p := range append(slices.Clone(manifests), final) {
					if _, err := os.Lstat(p); err == nil {
						seen = append(seen, p)
					}
				}
			}
			t.Cleanup(func() { testHookFinalSync = nil })

			b := in.create(t, "b1")

			if !slices.Equal(seen, manifests) {
				t.Fatalf("before the last sync, these existed: %q; want the three manifests and no backup folder %s yet: %q", seen, final, manifests)
			}
			if err := Verify(context.Background(), in.root, b.ID); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			m, err := manifest.Read(filepath.Join(in.root, "b1"))
			if err != nil {
				t.Fatal(err)
			}
			if m.Totals.Files == 0 || len(m.Parts) != 2 {
				t.Fatalf("manifest: %d files, parts %q", m.Totals.Files, m.Parts)
			}
		})
	}
}
