package reconciler

import (
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/status"
)

// TestPickLatestAged: spec.minReleaseAge skips releases younger than it,
// names the newest of them as soaking with the time it is old enough,
// takes the newest release old enough, and lets an undated release
// through; holding and then releasing as the clock moves.
func TestPickLatestAged(t *testing.T) {
	day := 24 * time.Hour
	rels := []releases.Release{
		{Version: "v1.3.0", PublishedAt: t0.Add(-1 * time.Hour)},
		{Version: "v1.2.1", PublishedAt: t0.Add(-2 * time.Hour)},
		{Version: "v1.2.0", PublishedAt: t0.Add(-4 * day)},
		{Version: "v1.1.0", PublishedAt: t0.Add(-10 * day)},
		{Version: "v2.0.0-rc.1", Prerelease: true, PublishedAt: t0.Add(-time.Minute)},
	}
	failedOnce := func() *status.VersionStatus {
		st := status.New()
		st.RecordFailure(status.FailedVersion{Version: "v1.3.0", Generation: 1})
		return st
	}
	tests := []struct {
		name       string
		current    string
		st         *status.VersionStatus
		rule       ageRule
		prerelease bool
		want       string // "version stay? soaking eligibleAt"
	}{
		{"no minimum: the newest", "v1.1.0", status.New(), ageRule{}, false, "v1.3.0 false - -"},
		{"72h: the newest old enough, the newest young one soaks", "v1.1.0", status.New(), ageRule{72 * time.Hour, t0}, false,
			"v1.2.0 false v1.3.0 " + t0.Add(71*time.Hour).Format(time.RFC3339)},
		{"running the newest old enough", "v1.2.0", status.New(), ageRule{72 * time.Hour, t0}, false,
			"v1.2.0 false v1.3.0 " + t0.Add(71*time.Hour).Format(time.RFC3339)},
		{"released: v1.2.1 old enough, v1.3.0 not yet", "v1.2.0", status.New(), ageRule{72 * time.Hour, t0.Add(70 * time.Hour)}, false,
			"v1.2.1 false v1.3.0 " + t0.Add(71*time.Hour).Format(time.RFC3339)},
		{"released: all old enough", "v1.2.0", status.New(), ageRule{72 * time.Hour, t0.Add(71 * time.Hour)}, false, "v1.3.0 false - -"},
		{"a failed young release is skipped as failed, not soaking", "v1.2.0", failedOnce(), ageRule{72 * time.Hour, t0}, false,
			"v1.2.0 false v1.2.1 " + t0.Add(70*time.Hour).Format(time.RFC3339)},
		{"the prerelease channel soaks its release candidate", "v1.3.0", status.New(), ageRule{time.Hour, t0}, true,
			"v1.3.0 false v2.0.0-rc.1 " + t0.Add(59*time.Minute).Format(time.RFC3339)},
		{"running above every release old enough: stay", "v1.3.0", status.New(), ageRule{72 * time.Hour, t0}, false, "v1.2.0 true - -"},
		{"nothing old enough", "", status.New(), ageRule{2000 * time.Hour, t0}, false, "- false v1.3.0 " + t0.Add(1999*time.Hour).Format(time.RFC3339)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pickLatestAged(rels, tt.prerelease, tt.st, tt.current, retryRequest{}, "", tt.rule)
			got := []string{"-", "false", "-", "-"}
			if p.ok {
				got[0] = p.rel.Version
			}
			if p.stay {
				got[1] = "true"
			}
			if p.soaking != "" {
				got[2], got[3] = p.soaking, p.eligibleAt.Format(time.RFC3339)
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("pick = %s, want %s", g, tt.want)
			}
		})
	}
	// latest moves next when the first of the young ones is old enough:
	// v1.2.1, an hour before v1.3.0.
	if p := pickLatestAged(rels, false, status.New(), "v1.1.0", retryRequest{}, "", ageRule{72 * time.Hour, t0}); p.next != "v1.2.1" || !p.nextAt.Equal(t0.Add(70*time.Hour)) {
		t.Errorf("next = %s at %v, want v1.2.1 at %v", p.next, p.nextAt, t0.Add(70*time.Hour))
	}
	// A release without a date cannot be aged: it is not held back.
	undated := []releases.Release{{Version: "v1.3.0"}, {Version: "v1.2.0", PublishedAt: t0.Add(-time.Hour)}}
	if p := pickLatestAged(undated, false, status.New(), "v1.1.0", retryRequest{}, "", ageRule{72 * time.Hour, t0}); p.rel.Version != "v1.3.0" || p.soaking != "" {
		t.Errorf("undated: %+v", p)
	}
}
