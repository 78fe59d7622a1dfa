package fleet

import (
	"errors"
	"strings"
	"testing"

	"github.com/better-paas/updater/spec"
)

func TestParse(t *testing.T) {
	const head = "apiVersion: updates.better-paas.io/v1\n"
	for _, tc := range []struct {
		name, doc, err string
	}{
		{"plain", plainFile("v1.0.0"), ""},
		{"fleet", fleetFile("v1.0.0", 25, "a", "b"), ""},
		{"fleet without rollout", head + "kind: FleetDesiredVersion\nspec: {version: latest, channel: prerelease}\n", ""},
		{"canaries only", fleetFile("v1.0.0", 0, "a"), ""},
		{"wrong kind", head + "kind: VersionStatus\nspec: {version: v1.0.0}\n", `kind "VersionStatus"`},
		{"wrong apiVersion", "apiVersion: v9\nkind: FleetDesiredVersion\nspec: {version: v1.0.0}\n", `apiVersion "v9"`},
		{"no percent", head + "kind: FleetDesiredVersion\nspec: {version: v1.0.0}\nrollout: {canaries: [a]}\n", "rollout.percent is required"},
		{"negative", fleetFile("v1.0.0", -1), "rollout.percent -1"},
		{"empty canary", head + "kind: FleetDesiredVersion\nspec: {version: v1.0.0}\nrollout: {percent: 5, canaries: [\"\"]}\n", "rollout.canaries[0] is empty"},
		{"duplicate canary", fleetFile("v1.0.0", 5, "a", "a"), "listed twice"},
		{"unknown rollout field", head + "kind: FleetDesiredVersion\nspec: {version: v1.0.0}\nrollout: {percent: 5, pauseOnFailur: true}\n", "pauseOnFailur"},
		{"bad version", fleetFile("v1.0", 5), "shorthand"},
		{"two documents", plainFile("v1.0.0") + "---\n" + plainFile("v2.0.0"), "document"},
		{"too large", plainFile("v1.0.0") + "# " + strings.Repeat("x", spec.MaxFileSize) + "\n", "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse("repo@abc:fleet/desired.yaml", []byte(tc.doc))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				if dv := d.Desired(); dv.Kind != spec.Kind || dv.Validate() != nil {
					t.Errorf("Desired() = %+v", dv)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidFile) || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "repo@abc:fleet/desired.yaml") {
				t.Errorf("err = %v, want ErrInvalidFile naming the file and %q", err, tc.err)
			}
		})
	}
}
