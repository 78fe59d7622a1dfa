package backup

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/better-paas/updater/internal/backup/manifest"
)

// A backup says whose data it holds and which update took it ("taken
// before installing v1.3.0; data of v1.2.0"), in its manifest and in List,
// and keeps saying it after its cold pass. A manifest without the labels
// (written before they existed, or by a caller that gives none) still
// reads, with empty labels.
func TestBackupSaysWhoseDataItHolds(t *testing.T) {
	src, root := tempDir(t), tempDir(t)
	mustWrite(t, filepath.Join(src, "db"), "x", 0o644)
	const id = "20260102T030405Z-v1.3.0"
	b, err := Create(context.Background(), src, root, id, DataOf("v1.2.0"), TakenBefore("v1.3.0"))
	if err != nil {
		t.Fatal(err)
	}
	if b.DataOf != "v1.2.0" || b.TakenBefore != "v1.3.0" {
		t.Errorf("Create = data of %q, taken before %q; want v1.2.0, v1.3.0", b.DataOf, b.TakenBefore)
	}
	raw := mustRead(t, filepath.Join(root, id, ManifestName))
	for _, want := range []string{`"dataOf": "v1.2.0"`, `"takenBefore": "v1.3.0"`} {
		if !strings.Contains(raw, want) {
			t.Errorf("manifest lacks %s:\n%s", want, raw)
		}
	}
	// Calling Create again (a resumed update) keeps what the first call
	// recorded.
	if again, err := Create(context.Background(), src, root, id); err != nil || again.DataOf != "v1.2.0" {
		t.Errorf("Create again = %+v, %v; want the labels of the first call", again, err)
	}
	fin, err := Finish(context.Background(), src, root, id)
	if err != nil {
		t.Fatal(err)
	}
	if fin.DataOf != "v1.2.0" || fin.TakenBefore != "v1.3.0" {
		t.Errorf("Finish = data of %q, taken before %q; want v1.2.0, v1.3.0", fin.DataOf, fin.TakenBefore)
	}

	// No labels: the manifest has no such fields, as before they existed.
	if _, err := Create(context.Background(), src, root, "unlabelled"); err != nil {
		t.Fatal(err)
	}
	if raw := mustRead(t, filepath.Join(root, "unlabelled", ManifestName)); strings.Contains(raw, "dataOf") || strings.Contains(raw, "takenBefore") {
		t.Errorf("a manifest without labels has label fields:\n%s", raw)
	}
	list, err := List(root)
	if err != nil || len(list) != 2 {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if list[0].ID != id || list[0].DataOf != "v1.2.0" || list[0].TakenBefore != "v1.3.0" {
		t.Errorf("List[0] = %+v, want %s with its labels", list[0], id)
	}
	if list[1].DataOf != "" || list[1].TakenBefore != "" {
		t.Errorf("List[1] = %+v, want no labels", list[1])
	}
	m, err := manifest.Read(filepath.Join(root, id))
	if err != nil || m.DataOf != "v1.2.0" || m.TakenBefore != "v1.3.0" {
		t.Errorf("manifest.Read = %q, %q, %v", m.DataOf, m.TakenBefore, err)
	}
}
