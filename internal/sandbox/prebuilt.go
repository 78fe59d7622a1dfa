package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/release"
	"github.com/better-paas/updater/internal/signedsums"
)

// Prebuilt asset name templates of the example app, as a sandbox's
// updater.yaml names them (Options.Prebuilt).
const (
	PrebuiltBackend  = "server_{version}_{os}_{arch}.tar.gz"
	PrebuiltFrontend = "frontend_{version}.tar.gz"
)

// PrebuiltSignTime is the time in the trusted comment of a sandbox
// release's signature: fixed, so the same release signs to the same bytes.
var PrebuiltSignTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// BuiltRelease is one release of the example app built the way its
// release pipeline would, before it is packed: the backend binary and the
// frontend's files.
type BuiltRelease struct {
	Tag      string
	Server   []byte
	Frontend []release.File
}

// BuildRelease clones tag from origin into a temporary folder and builds
// it as a release pipeline would, with the toolchain of the machine
// running the test (go, node): the backend with the version stamped, the
// frontend with VERSION set.
func BuildRelease(ctx context.Context, origin, tag string) (BuiltRelease, error) {
	work, err := os.MkdirTemp("", "sandbox-prebuilt-")
	if err != nil {
		return BuiltRelease{}, err
	}
	defer os.RemoveAll(work)
	src := filepath.Join(work, "src")
	if err := Clone(ctx, origin, src, tag); err != nil {
		return BuiltRelease{}, err
	}
	server := filepath.Join(work, "server")
	dist := filepath.Join(work, "dist")
	run := func(env []string, argv ...string) error {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("cannot build %s (%v): %w\n%s", tag, argv, err, out)
		}
		return nil
	}
	if err := run(append(goEnv(true), "CGO_ENABLED=0"), "go", "build", "-ldflags", "-s -w -X main.version="+tag, "-o", server, "./backend"); err != nil {
		return BuiltRelease{}, err
	}
	if err := run([]string{"VERSION=" + tag}, "node", "frontend/build.mjs", dist); err != nil {
		return BuiltRelease{}, err
	}
	b := BuiltRelease{Tag: tag}
	if b.Server, err = os.ReadFile(server); err != nil {
		return BuiltRelease{}, err
	}
	err = filepath.WalkDir(dist, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dist, p)
		if err != nil {
			return err
		}
		b.Frontend = append(b.Frontend, release.File{Name: filepath.ToSlash(rel), Data: data, Mode: 0o644})
		return nil
	})
	return b, err
}

// Assets packs b as the assets artifact: prebuilt downloads on this host:
// the backend archive (the binary "server" at its root), the frontend
// archive (the built files at its root), SHA256SUMS, and
// SHA256SUMS.minisig signed with key for b.Tag. Tests change the result
// to make a release that must be refused.
func (b BuiltRelease) Assets(key minisign.PrivateKey) (map[string][]byte, error) {
	names := PrebuiltNames(b.Tag)
	files := map[string][]byte{}
	var buf bytes.Buffer
	if err := release.WriteArchive(&buf, "", []release.File{{Name: "server", Data: b.Server, Mode: 0o755}}, PrebuiltSignTime); err != nil {
		return nil, err
	}
	files[names.Backend] = bytes.Clone(buf.Bytes())
	buf.Reset()
	if err := release.WriteArchive(&buf, "", b.Frontend, PrebuiltSignTime); err != nil {
		return nil, err
	}
	files[names.Frontend] = bytes.Clone(buf.Bytes())
	return SignAssets(files, b.Tag, key), nil
}

// SignAssets returns files plus SHA256SUMS of them and its signature by
// key for version.
func SignAssets(files map[string][]byte, version string, key minisign.PrivateKey) map[string][]byte {
	sums := signedsums.Sums{}
	out := map[string][]byte{}
	for name, data := range files {
		if name == signedsums.SumsName || name == signedsums.SigName {
			continue
		}
		sums[name] = signedsums.Sum(data)
		out[name] = data
	}
	out[signedsums.SumsName] = sums.Format()
	out[signedsums.SigName] = signedsums.Sign(key, out[signedsums.SumsName], version, PrebuiltSignTime)
	return out
}

// PrebuiltAssetNames are the asset names of a release of the example app
// on this host.
type PrebuiltAssetNames struct{ Backend, Frontend string }

// PrebuiltNames returns the asset names the templates give for tag on
// this host.
func PrebuiltNames(tag string) PrebuiltAssetNames {
	return PrebuiltAssetNames{
		Backend:  "server_" + tag + "_" + runtime.GOOS + "_" + runtime.GOARCH + ".tar.gz",
		Frontend: "frontend_" + tag + ".tar.gz",
	}
}
