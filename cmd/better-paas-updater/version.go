package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// buildDate may be set at build time with -ldflags "-X main.buildDate=...";
// without it, version reports the time of the commit built (vcs.time).
// make release stamps the commit's time (RFC 3339, UTC), not the clock, so
// that a release is reproducible.
var buildDate = ""

// commit may be set at build time with -ldflags "-X main.commit=<hash>". It
// is reported when the binary carries no vcs.revision: make release builds
// with -buildvcs=false (so a build does not depend on the .git folder's
// state) and stamps the commit this way.
var commit = ""

// versionInfo is what `version` reports: the release from the ldflags and
// what the Go toolchain stamped into the binary (runtime/debug.BuildInfo).
type versionInfo struct {
	// Version is main.version: the release tag `make build` stamps, "dev"
	// for a plain `go build`.
	Version string `json:"version"`
	// Dev is true for a build without a release version.
	Dev bool `json:"dev"`
	// Commit is vcs.revision, Modified whether the work tree had local
	// changes (vcs.modified); without VCS information (go run,
	// -buildvcs=false, no git) Commit is main.commit, which make release
	// stamps, and empty when that is not set either.
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	// CommitTime is vcs.time, the commit's date; BuildDate the build's,
	// when -X main.buildDate set it.
	CommitTime string `json:"commitTime,omitempty"`
	BuildDate  string `json:"buildDate,omitempty"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
}

// readVersion gathers versionInfo from the ldflags and the build info.
func readVersion() versionInfo {
	bi, _ := debug.ReadBuildInfo()
	return makeVersionInfo(version, commit, buildDate, bi)
}

// makeVersionInfo is readVersion with its inputs passed in: the ldflags'
// version, commit and buildDate and the build info (nil when there is none).
func makeVersionInfo(version, commit, buildDate string, bi *debug.BuildInfo) versionInfo {
	v := versionInfo{Version: version, Dev: version == "dev", BuildDate: buildDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	var settings []debug.BuildSetting
	if bi != nil {
		v.GoVersion, settings = bi.GoVersion, bi.Settings
	}
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitTime = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	if v.Commit == "" {
		v.Commit = commit
	}
	return v
}

func newVersionCommand() *cobra.Command {
	var output string
	var checkOutput func() error // set with the flag, below
	cmd := &cobra.Command{
		Use:         "version",
		Annotations: map[string]string{noConfig: "true"},
		Short:       "Print the updater's version, commit, build date and Go version",
		Long: `version prints the release this binary was built as (set by make build with
-ldflags "-X main.version=..."; "dev" otherwise, and version says so), the commit
it was built from and its date as the Go toolchain stamped them, the build date
when -X main.buildDate set it, and the Go version. A release (make release)
is built without VCS stamping and carries its commit and that commit's time
in -X main.commit and -X main.buildDate instead, so that it is reproducible.
It reads no updater.yaml.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(); err != nil {
				return err
			}
			v := readVersion()
			w := cmd.OutOrStdout()
			if output != "text" {
				return printDocument(w, output, v)
			}
			ver := v.Version
			if v.Dev {
				ver += " (a development build: no release version was stamped; make build stamps one)"
			}
			fmt.Fprintf(w, "Version:    %s\n", ver)
			commit := v.Commit
			if commit == "" {
				commit = "unknown (built without VCS stamping or -X main.commit: -buildvcs=false, go run, or not from a git checkout)"
			}
			if v.Modified {
				commit += " (with local changes)"
			}
			fmt.Fprintf(w, "Commit:     %s\n", commit)
			if v.CommitTime != "" {
				fmt.Fprintf(w, "Commit at:  %s\n", v.CommitTime)
			}
			if v.BuildDate != "" {
				fmt.Fprintf(w, "Built at:   %s\n", v.BuildDate)
			}
			fmt.Fprintf(w, "Go:         %s %s\n", v.GoVersion, v.Platform)
			return nil
		},
	}
	checkOutput = outputFlag(cmd, &output, "text", "yaml", "json")
	return cmd
}
