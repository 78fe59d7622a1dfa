// Package gitops holds an example fleet repo (see README.md); its test
// checks that every file in it is what a host would accept.
package gitops

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/better-paas/updater/internal/fleet"
)

// TestFleetFiles: every desired.yaml of the example is a fleet file a
// host accepts, and the fleet's carries the rollout the README shows.
func TestFleetFiles(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "desired.yaml" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		doc, err := fleet.Parse(p, data)
		if err != nil {
			t.Errorf("%v", err)
			return nil
		}
		n++
		if p == filepath.Join("fleet", "desired.yaml") && (doc.Rollout == nil || *doc.Rollout.Percent != 25 || len(doc.Rollout.Canaries) != 2) {
			t.Errorf("%s: rollout = %+v, want 25%% with two canaries as README.md says", p, doc.Rollout)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("checked %d fleet files, want 3 (fleet, groups/eu, hosts/web-07)", n)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"desiredFrom", "rollout", "canaries", "signingKeys", "/api/v1/fleet/sync", "status"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md does not mention %s", want)
		}
	}
}
