package config

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"aead.dev/minisign"
)

// prebuiltYAML is an updater.yaml with artifact: prebuilt and no build
// command: a host without Go or Node.
func prebuiltYAML(t *testing.T, prebuilt string) string {
	t.Helper()
	pub, _, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	text, err := pub.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	// The key line, "RW...", as a README tells people to paste it.
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	key := lines[len(lines)-1]
	return `apiVersion: updates.better-paas.io/v1
kind: UpdaterConfig
installDir: app
stateDir: state
service:
  exec:
    env: ["ADDR=127.0.0.1:8080"]
artifact: prebuilt
prebuilt:
  publicKey: "` + key + `"
` + prebuilt
}

// TestPrebuiltDefaults: artifact: prebuilt needs no build command; the
// backend's asset, binary and size cap have defaults, and a frontend
// asset turns on the frontend folder.
func TestPrebuiltDefaults(t *testing.T) {
	c, err := Parse("/etc/bp/updater.yaml", []byte(prebuiltYAML(t, "")))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	p := c.Prebuilt
	if !c.IsPrebuilt() || p.Backend != DefaultPrebuiltBackend || p.Binary != "server" || p.MaxSize != DefaultPrebuiltMaxSize {
		t.Errorf("defaults = %+v (artifact %q)", p, c.Artifact)
	}
	if c.FrontendDir() != "" {
		t.Errorf("FrontendDir() = %q without prebuilt.frontend", c.FrontendDir())
	}
	if c.Timeouts.Download.Duration == 0 {
		t.Error("timeouts.download has no default")
	}

	c, err = Parse("/etc/bp/updater.yaml", []byte(prebuiltYAML(t, "  frontend: web_{version}.tar.gz\n  maxSize: 64MiB\n")))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.FrontendDir() != "/etc/bp/app/frontend/dist" || c.Prebuilt.MaxSize != 64<<20 {
		t.Errorf("FrontendDir() = %q, maxSize %d", c.FrontendDir(), c.Prebuilt.MaxSize)
	}

	// A source config is what it was: no prebuilt block, artifact source.
	c, err = Parse("/etc/bp/updater.yaml", []byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if c.IsPrebuilt() || c.Artifact != ArtifactSource || c.Prebuilt != (Prebuilt{}) {
		t.Errorf("source config: artifact %q, prebuilt %+v", c.Artifact, c.Prebuilt)
	}
}

// TestPrebuiltRefusesBadSettings: each mistake is refused at load, naming
// the field and the fix.
func TestPrebuiltRefusesBadSettings(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"no key", strings.Replace(prebuiltYAML(t, ""), "  publicKey:", "  x-publicKey:", 1), []string{"unknown field"}},
		{"bad key", prebuiltYAML(t, "")[:0] + strings.Replace(prebuiltYAML(t, ""), `publicKey: "RW`, `publicKey: "XX`, 1), []string{"prebuilt.publicKey"}},
		{"unknown variable", prebuiltYAML(t, "  backend: server_{tag}.tar.gz\n"), []string{"prebuilt.backend", "{tag}", "{arch}, {os}, {version}"}},
		{"slash in name", prebuiltYAML(t, "  backend: bin/{version}/server\n"), []string{"prebuilt.backend", "no slash"}},
		{"unclosed brace", prebuiltYAML(t, "  backend: server_{version\n"), []string{"prebuilt.backend", "unclosed {"}},
		{"frontend not an archive", prebuiltYAML(t, "  frontend: web_{version}.zip\n"), []string{"prebuilt.frontend", ".tar.gz"}},
		{"binary leaves the archive", prebuiltYAML(t, "  binary: ../server\n"), []string{"prebuilt.binary", "clean relative path"}},
		{"absolute binary", prebuiltYAML(t, "  binary: /usr/bin/server\n"), []string{"prebuilt.binary"}},
		{"bad size", prebuiltYAML(t, "  maxSize: lots\n"), []string{"is not a size"}},
		{"git tags have no assets", prebuiltYAML(t, "") + "releases:\n  source: git-tags\n", []string{"releases.source", "only GitHub Releases"}},
		{"unknown kind", strings.Replace(prebuiltYAML(t, ""), "artifact: prebuilt", "artifact: docker", 1), []string{"artifact", `"docker"`, "prebuilt"}},
		{"prebuilt block without prebuilt", base + "prebuilt:\n  backend: x\n", []string{"prebuilt", "only used with artifact: prebuilt"}},
		{"a build command that would not run", prebuiltYAML(t, "") + "build:\n  frontend:\n    command: [pnpm, build, $(OUTPUT)]\n", []string{"build.frontend.command", "not run with artifact: prebuilt"}},
		{"a backend command that would not run", prebuiltYAML(t, "") + "build:\n  backend:\n    command: [go, build, -o, $(OUTPUT)]\n", []string{"build.backend.command", "remove it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("/etc/bp/updater.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tt.yaml)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}
