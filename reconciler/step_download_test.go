package reconciler

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/better-paas/updater/internal/artifact"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/releases"
)

// TestArtifactsOf: plan and check name the assets an update would
// download, in order, and flag the ones the release lacks.
func TestArtifactsOf(t *testing.T) {
	c := &config.Config{Artifact: config.ArtifactPrebuilt, Prebuilt: config.Prebuilt{
		Backend: config.DefaultPrebuiltBackend, Frontend: "web_{version}.tar.gz"}}
	backend := "server_v2.0.0_" + runtime.GOOS + "_" + runtime.GOARCH + ".tar.gz"
	rel := releases.Release{Version: "v2.0.0", Assets: []releases.Asset{
		{Name: "SHA256SUMS", URL: "https://example.com/SHA256SUMS", Size: 200},
		{Name: backend, URL: "https://example.com/" + backend, Size: 7 << 20, Digest: "sha256:ab"},
		{Name: "server_v2.0.0_plan9_mips.tar.gz"},
	}}
	got, err := ArtifactsOf(c, rel)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, a := range got {
		lines = append(lines, a.Role+" "+a.Name+" "+a.URL+" "+a.Digest+map[bool]string{true: " missing"}[a.Missing])
	}
	want := []string{
		"checksums SHA256SUMS https://example.com/SHA256SUMS ",
		"signature SHA256SUMS.minisig   missing",
		"backend " + backend + " https://example.com/" + backend + " sha256:ab",
		"frontend web_v2.0.0.tar.gz   missing",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("ArtifactsOf =\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestCheckVersion: the staged binary's --version must print the tag
// (with or without its v) as a word; anything else is a release that
// cannot be trusted, not a reason to retry.
func TestCheckVersion(t *testing.T) {
	dir := t.TempDir()
	script := func(body string) string {
		p := filepath.Join(dir, "server-"+strings.NewReplacer(" ", "_", "\"", "", "$", "", "/", "").Replace(body))
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		body, want string // want "" passes
	}{
		{`echo v1.2.3`, ""},
		{`echo "better-paas 1.2.3 (linux/amd64)"`, ""},
		{`echo v1.2.30`, `says it is "v1.2.30", not v1.2.3`},
		{`echo dev`, `says it is "dev"`},
		{`echo v1.2.3 >&2; exit 3`, "failed to print its version"},
	}
	for _, tt := range tests {
		err := checkVersion(context.Background(), script(tt.body), "server.tar.gz", "v1.2.3", dir)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.body, err)
		case tt.want != "" && (err == nil || !errors.Is(err, artifact.ErrUntrusted) || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: err = %v, want ErrUntrusted containing %q", tt.body, err, tt.want)
		}
	}
}
