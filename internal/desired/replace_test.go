package desired

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/better-paas/updater/spec"
)

// TestReplace: a missing file is written; the same document, however it
// is laid out, is left alone; another is written; an invalid one or a
// stale generation changes nothing.
func TestReplace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "desired.yaml")
	d := spec.New("v1.0.0")
	d.Metadata.Annotations = map[string]string{"updates.better-paas.io/fleet-source": "repo#main:fleet/desired.yaml"}
	st, changed, err := Replace(path, "", d)
	if err != nil || !changed || st.Version != "v1.0.0" {
		t.Fatalf("Replace on a missing file = %+v %v %v", st, changed, err)
	}
	hand := "# written by hand\napiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nmetadata:\n  annotations: {updates.better-paas.io/fleet-source: \"repo#main:fleet/desired.yaml\"}\nspec: {version: v1.0.0, channel: stable}\n"
	if err := os.WriteFile(path, []byte(hand), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, changed, err := Replace(path, "", d); err != nil || changed {
		t.Fatalf("Replace with the same document = %v %v, want unchanged", changed, err)
	}
	if got, _ := os.ReadFile(path); string(got) != hand {
		t.Errorf("the same document rewrote the file:\n%s", got)
	}
	if _, _, err := Replace(path, Generation([]byte("other")), spec.New("v2.0.0")); !errors.Is(err, ErrConflict) {
		t.Errorf("stale generation: err = %v, want ErrConflict", err)
	}
	if _, _, err := Replace(path, "", spec.New("2.0")); !errors.Is(err, spec.ErrInvalidVersion) {
		t.Errorf("invalid document: err = %v, want spec.ErrInvalidVersion", err)
	}
	if got, _ := os.ReadFile(path); string(got) != hand {
		t.Errorf("a refused Replace changed the file:\n%s", got)
	}
	st, changed, err = Replace(path, Generation([]byte(hand)), spec.New("v2.0.0"))
	if err != nil || !changed || st.Version != "v2.0.0" {
		t.Fatalf("Replace with another document = %+v %v %v", st, changed, err)
	}
}
