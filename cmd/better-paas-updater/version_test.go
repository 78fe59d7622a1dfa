package main

import (
	"runtime/debug"
	"testing"
)

// makeVersionInfo takes the commit from the build info when the toolchain
// stamped one, and from -X main.commit (a release build, -buildvcs=false)
// otherwise.
func TestMakeVersionInfo(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "aaaa"}, {Key: "vcs.time", Value: "2026-11-30T00:00:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	noVCS := &debug.BuildInfo{GoVersion: "go1.26.8", Settings: []debug.BuildSetting{{Key: "-trimpath", Value: "true"}}}
	for _, tc := range []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		wantCommit, wantTime  string
		wantDev, wantModified bool
	}{
		{"dev build", "dev", "", "", vcs, "aaaa", "2026-11-30T00:00:00Z", true, true},
		{"release build", "v1.2.3", "bbbb", "2026-11-29T10:00:00Z", noVCS, "bbbb", "", false, false},
		{"vcs wins over ldflags", "v1.2.3", "bbbb", "", vcs, "aaaa", "2026-11-30T00:00:00Z", false, true},
		{"no build info", "v1.2.3", "bbbb", "", nil, "bbbb", "", false, false},
		{"nothing stamped", "dev", "", "", noVCS, "", "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := makeVersionInfo(tc.version, tc.commit, tc.date, tc.bi)
			if v.Version != tc.version || v.Dev != tc.wantDev || v.Commit != tc.wantCommit || v.CommitTime != tc.wantTime ||
				v.Modified != tc.wantModified || v.BuildDate != tc.date || v.GoVersion == "" {
				t.Errorf("got %+v", v)
			}
		})
	}
}
