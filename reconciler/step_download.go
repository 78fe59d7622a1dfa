package reconciler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/better-paas/updater/internal/artifact"
	"github.com/better-paas/updater/internal/command"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/internal/signedsums"
)

// downloadStep is the build of artifact: prebuilt: it downloads the
// release's backend (and frontend) assets, verifies them against the
// release's SHA256SUMS and its signature by prebuilt.publicKey, and stages
// them where a build would have written them: the binary as server.new,
// the frontend unpacked as dist.new. swapStep moves them into place, so
// the swap, the health gate and the rollback are those of a source build.
//
// It runs right after recoverStep, before the backup and the checkout: a
// release whose files cannot be trusted is refused before anything on the
// host changes. Refusals (ArtifactRejected) blame the release; a download
// that fails on the way (ArtifactUnavailable) is retried, resuming what it
// got.
type downloadStep struct{ h *Host }

var (
	_ Undoer    = downloadStep{}
	_ Timeouter = downloadStep{}
)

// versionTimeout bounds the new binary's --version.
const versionTimeout = 10 * time.Second

func (downloadStep) Name() string { return "download" }
func (s downloadStep) Timeout() time.Duration {
	return s.h.Config.Timeouts.Download.Duration + versionTimeout
}

// ReleaseFinder returns the published release of version with its assets.
type ReleaseFinder func(ctx context.Context, version string) (releases.Release, error)

// staged are the paths the step writes: the binary's and the frontend's
// ("" without one).
func (s downloadStep) staged() (bin, frontend string) {
	c := s.h.Config
	if dir := c.FrontendDir(); dir != "" {
		frontend = dir + ".new"
	}
	return c.BackendBinary() + ".new", frontend
}

func (s downloadStep) Do(ctx context.Context, req *Request) error {
	bin, frontend := s.staged()
	if err := s.Undo(ctx, req); err != nil { // stale files of an earlier try
		return failure(ReasonArtifactUnavailable, err)
	}
	err := s.stage(ctx, req.To.Version, bin, frontend)
	if err != nil {
		_ = s.Undo(ctx, req) // a failed Do cleans up after itself
		if errors.Is(err, artifact.ErrUntrusted) || errors.Is(err, artifact.ErrNoAsset) {
			return failure(ReasonArtifactRejected, err)
		}
		var f *Failure
		if errors.As(err, &f) {
			return err
		}
		return failure(ReasonArtifactUnavailable, err)
	}
	// Only now, with files worth installing: a refused release leaves
	// the host exactly as it was, not even a server.bak made.
	return s.h.keepOutputs(req) // the host's fault, not the release's: retried
}

// stage downloads, verifies and stages the assets of version.
func (s downloadStep) stage(ctx context.Context, version, bin, frontend string) error {
	c := s.h.Config
	if s.h.FindRelease == nil {
		return errors.New("no release source to download from")
	}
	rel, err := s.h.FindRelease(ctx, version)
	if err != nil {
		return err
	}
	key, err := signedsums.ParsePublicKey(c.Prebuilt.PublicKey)
	if err != nil {
		return fmt.Errorf("prebuilt.publicKey: %w", err) // validated at load: not expected
	}
	token, err := githubToken(c)
	if err != nil {
		return failure(ReasonInvalidUpdateRepo, err)
	}
	dir := layout.New(c).Artifacts
	if err := pruneArtifacts(dir, version); err != nil {
		return err
	}
	f := artifact.Fetcher{
		Downloader: artifact.Downloader{MaxSize: int64(c.Prebuilt.MaxSize), Token: token},
		Key:        key,
		Dir:        dir,
	}
	names, err := AssetNames(c, version)
	if err != nil {
		return err // validated at load: not expected
	}
	backend, err := f.Get(ctx, version, rel.Assets, names.Backend)
	if err != nil {
		return err
	}
	if err := stageBinary(ctx, backend, c.Prebuilt.Binary, bin); err != nil {
		return err
	}
	if err := checkVersion(ctx, bin, backend.Name, version, c.InstallDir); err != nil {
		return err
	}
	if frontend == "" {
		return nil
	}
	fe, err := f.Get(ctx, version, rel.Assets, names.Frontend)
	if err != nil {
		return err
	}
	return artifact.Unpack(ctx, fe.Path, frontend, artifact.Limits{})
}

// Assets are the asset names artifact: prebuilt downloads for a version
// on this host ("" Frontend: none).
type Assets struct{ Backend, Frontend string }

// AssetNames expands prebuilt's templates for version on this host's OS
// and architecture.
func AssetNames(c *config.Config, version string) (Assets, error) {
	vars := map[string]string{"version": version, "os": runtime.GOOS, "arch": runtime.GOARCH}
	var a Assets
	var err error
	if a.Backend, err = artifact.AssetName(c.Prebuilt.Backend, vars); err != nil {
		return Assets{}, fmt.Errorf("prebuilt.backend: %w", err)
	}
	if c.Prebuilt.Frontend != "" {
		if a.Frontend, err = artifact.AssetName(c.Prebuilt.Frontend, vars); err != nil {
			return Assets{}, fmt.Errorf("prebuilt.frontend: %w", err)
		}
	}
	return a, nil
}

// stageBinary writes the backend binary of a verified asset to dst: the
// asset itself, or the entry binary of the archive it is.
func stageBinary(ctx context.Context, asset artifact.Verified, binary, dst string) error {
	src := asset.Path
	if artifact.IsArchive(asset.Name) {
		tmp := dst + ".unpack"
		if err := os.RemoveAll(tmp); err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := artifact.Unpack(ctx, asset.Path, tmp, artifact.Limits{}); err != nil {
			return err
		}
		src = filepath.Join(tmp, filepath.FromSlash(path.Clean(binary)))
		info, err := os.Lstat(src)
		if err != nil || !info.Mode().IsRegular() {
			return fmt.Errorf("%w: %s has no file %s (prebuilt.binary); it holds %s", artifact.ErrUntrusted, asset.Name, binary, listFiles(tmp))
		}
		// Same filesystem as dst (both beside the live binary): a rename.
		if err := os.Chmod(src, 0o755); err != nil {
			return err
		}
		return os.Rename(src, dst)
	}
	if err := copyFile(src, dst); err != nil {
		return fmt.Errorf("cannot stage %s as %s: %w", asset.Name, dst, err)
	}
	return os.Chmod(dst, 0o755)
}

// listFiles names up to 10 files under dir, for a message.
func listFiles(dir string) string {
	var names []string
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() && len(names) < 10 {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(names) == 0 {
		return "no files"
	}
	return strings.Join(names, ", ")
}

// checkVersion runs bin --version and requires it to print version (or
// the version without its "v") as a word of its output: a binary built
// from another tag is refused before it replaces anything.
func checkVersion(ctx context.Context, bin, asset, version, dir string) error {
	var out bytes.Buffer
	err := command.Run(ctx, command.Cmd{Argv: []string{bin, "--version"}, Dir: dir, Timeout: versionTimeout, Output: &out})
	printed := strings.TrimSpace(out.String())
	if len(printed) > 200 {
		printed = printed[:200] + "..."
	}
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		return fmt.Errorf("%w: the binary in %s failed to print its version (%s --version): %v; it printed %q", artifact.ErrUntrusted, asset, filepath.Base(bin), err, printed)
	}
	for _, w := range strings.Fields(printed) {
		if w == version || w == strings.TrimPrefix(version, "v") {
			return nil
		}
	}
	return fmt.Errorf("%w: the binary in %s says it is %q, not %s: the asset was built from another version", artifact.ErrUntrusted, asset, printed, version)
}

// pruneArtifacts removes the downloads of versions other than keep: one
// release's assets are kept at a time.
func pruneArtifacts(dir, keep string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != keep {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s downloadStep) Undo(context.Context, *Request) error {
	bin, frontend := s.staged()
	for _, p := range []string{bin, bin + ".unpack", frontend} {
		if p == "" {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("cannot remove %s: %w", p, err)
		}
	}
	return nil
}

// ArtifactInfo is one asset artifact: prebuilt would download for a
// release, for `plan`, `check` and the dashboard.
type ArtifactInfo struct {
	// Role is "backend", "frontend", "checksums" (SHA256SUMS) or
	// "signature" (SHA256SUMS.minisig).
	Role string `json:"role"`
	Name string `json:"name"`
	// URL is where it would be downloaded from; Size and Digest are what
	// the release source says of it (Digest "" when it does not say).
	URL    string `json:"url,omitempty"`
	Size   int64  `json:"size,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Missing is true when the release has no such asset: the update
	// would be refused (ArtifactRejected).
	Missing bool `json:"missing,omitempty"`
}

// ArtifactsOf lists what artifact: prebuilt would download to install
// rel on this host, in the order it would: the checksums, their signature,
// the backend, the frontend.
func ArtifactsOf(c *config.Config, rel releases.Release) ([]ArtifactInfo, error) {
	names, err := AssetNames(c, rel.Version)
	if err != nil {
		return nil, err
	}
	wanted := []ArtifactInfo{
		{Role: "checksums", Name: signedsums.SumsName},
		{Role: "signature", Name: signedsums.SigName},
		{Role: "backend", Name: names.Backend},
	}
	if names.Frontend != "" {
		wanted = append(wanted, ArtifactInfo{Role: "frontend", Name: names.Frontend})
	}
	for i := range wanted {
		a := &wanted[i]
		a.Missing = true
		for _, as := range rel.Assets {
			if as.Name == a.Name {
				a.URL, a.Size, a.Digest, a.Missing = as.URL, as.Size, as.Digest, false
			}
		}
	}
	return wanted, nil
}
