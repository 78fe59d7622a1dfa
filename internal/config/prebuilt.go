package config

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/better-paas/updater/internal/artifact"
	"github.com/better-paas/updater/internal/signedsums"
)

// Artifact kinds for Config.Artifact.
const (
	// ArtifactSource builds the backend and frontend from the checked-out
	// tag with build.backend and build.frontend.
	ArtifactSource = "source"
	// ArtifactPrebuilt downloads them from the release's assets, verified
	// against the release's signed SHA256SUMS (see Prebuilt).
	ArtifactPrebuilt = "prebuilt"
)

// Default asset name templates and size cap of artifact: prebuilt.
const (
	DefaultPrebuiltBackend = "server_{version}_{os}_{arch}.tar.gz"
	DefaultPrebuiltMaxSize = 512 << 20
)

// Prebuilt configures artifact: prebuilt: which assets of a release hold
// the backend binary and the frontend, and the one key their checksums
// must be signed with.
//
// An update then downloads SHA256SUMS and SHA256SUMS.minisig from the
// release, verifies the signature with PublicKey (its trusted comment must
// name the release's version), downloads the assets named by the
// templates for this host's OS and architecture, checks them against
// SHA256SUMS (and GitHub's own digest when the API gives one), unpacks
// them without letting any entry leave its folder, requires the binary's
// --version to print the tag, and swaps them in exactly as a build's
// outputs: server.new → server (server.bak kept), dist.new → dist. The
// checkout is still fetched and checked out; nothing is compiled.
type Prebuilt struct {
	// PublicKey is the minisign public key (the "RW..." line, or the whole
	// .pub file) that must have signed each release's SHA256SUMS. It is
	// the only key trusted: never one from desired.yaml or the release.
	// Required.
	PublicKey string `json:"publicKey,omitempty"`
	// Backend names the backend's asset: a template over {version} (the
	// tag, "v1.4.2"), {os} and {arch} (Go's GOOS and GOARCH: linux,
	// darwin; amd64, arm64). A name ending in .tar.gz or .tgz is an
	// archive holding Binary; any other name is the binary itself.
	// Default DefaultPrebuiltBackend.
	Backend string `json:"backend,omitempty"`
	// Binary is the path of the backend binary inside its archive,
	// slash-separated. Default: the base name of build.backend.output.
	Binary string `json:"binary,omitempty"`
	// Frontend names the frontend's asset, a .tar.gz or .tgz whose
	// content becomes build.frontend.output (default frontend/dist), with
	// the same variables as Backend. Default: none, no frontend.
	Frontend string `json:"frontend,omitempty"`
	// MaxSize caps each download ("512MiB", the default): a bigger asset
	// is refused before and while it downloads.
	MaxSize Size `json:"maxSize,omitempty"`
}

// Prebuilt reports whether artifact: prebuilt is set.
func (c *Config) IsPrebuilt() bool { return c.Artifact == ArtifactPrebuilt }

// defaultPrebuilt fills in prebuilt's defaults when artifact: prebuilt.
func (c *Config) defaultPrebuilt() {
	if !c.IsPrebuilt() {
		return
	}
	p := &c.Prebuilt
	if p.Backend == "" {
		p.Backend = DefaultPrebuiltBackend
	}
	if p.Binary == "" && c.Build.Backend.Output != "" {
		p.Binary = path.Base(filepath.ToSlash(c.Build.Backend.Output))
	}
	if p.Binary == "" {
		p.Binary = "server"
	}
	if p.MaxSize == 0 {
		p.MaxSize = DefaultPrebuiltMaxSize
	}
	if p.Frontend != "" && c.Build.Frontend.Output == "" {
		c.Build.Frontend.Output = "frontend/dist"
	}
}

// prebuiltVars are the variables an asset name template may use.
var prebuiltVars = []string{"version", "os", "arch"}

// validatePrebuilt checks artifact and prebuilt.
func (c *Config) validatePrebuilt(bad func(field, format string, a ...any)) {
	switch c.Artifact {
	case ArtifactSource:
		if c.Prebuilt != (Prebuilt{}) {
			bad("prebuilt", "is only used with artifact: %s; set artifact: %s or remove the block", ArtifactPrebuilt, ArtifactPrebuilt)
		}
		return
	case ArtifactPrebuilt:
	default:
		bad("artifact", "%q is not an artifact kind; use %q (build from the checkout) or %q (download signed release assets)", c.Artifact, ArtifactSource, ArtifactPrebuilt)
		return
	}
	p := c.Prebuilt
	if strings.TrimSpace(p.PublicKey) == "" {
		bad("prebuilt.publicKey", "required with artifact: prebuilt: the minisign public key (\"RW...\") the app's releases sign SHA256SUMS with")
	} else if _, err := signedsums.ParsePublicKey(p.PublicKey); err != nil {
		bad("prebuilt.publicKey", "%v", err)
	}
	if c.Releases.Source == SourceGitTags {
		bad("releases.source", "is %s, but artifact: prebuilt downloads release assets, which only GitHub Releases have; use %q or %q", SourceGitTags, SourceAuto, SourceGitHub)
	}
	checkTemplate := func(field, tmpl string) {
		if err := validTemplate(tmpl); err != nil {
			bad(field, "%v", err)
		}
	}
	checkTemplate("prebuilt.backend", p.Backend)
	if p.Frontend != "" {
		checkTemplate("prebuilt.frontend", p.Frontend)
		if !artifact.IsArchive(p.Frontend) {
			bad("prebuilt.frontend", "%q must name a .tar.gz or .tgz archive: its content becomes the frontend folder", p.Frontend)
		}
	}
	if b := p.Binary; b == "" || path.IsAbs(b) || path.Clean(b) != b || b == "." || strings.HasPrefix(b, "../") || b == ".." {
		bad("prebuilt.binary", "%q must be a clean relative path inside the backend archive, such as \"server\"", b)
	}
	// A command that would silently not run is a mistake waiting to
	// be believed: the outputs stay (where the downloads go), the
	// commands go.
	if c.Build.Backend.Enabled() {
		bad("build.backend.command", "is not run with artifact: prebuilt, which downloads the binary; remove it (build.backend.output stays: where the binary goes)")
	}
	if c.Build.Frontend.Enabled() {
		bad("build.frontend.command", "is not run with artifact: prebuilt; remove it, and set prebuilt.frontend to the frontend's asset (build.frontend.output stays: where it goes)")
	}
}

// validTemplate checks an asset name template: known variables only, and
// a name that, expanded, is one asset name (no slash).
func validTemplate(tmpl string) error {
	if tmpl == "" {
		return fmt.Errorf("must not be empty")
	}
	vars := map[string]string{}
	for _, v := range prebuiltVars {
		vars[v] = "x"
	}
	if _, err := artifact.AssetName(tmpl, vars); err != nil {
		return fmt.Errorf("%w (letters, digits, . _ + -; no slash)", err)
	}
	return nil
}
