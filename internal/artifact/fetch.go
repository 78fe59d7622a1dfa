package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/internal/signedsums"
)

// Asset is one file of a release as the release source lists it: Name,
// Size, Digest ("sha256:<hex>", or "" when unknown) and download URL.
type Asset = releases.Asset

// maxListedNames bounds how many asset names an ErrNoAsset message lists.
const maxListedNames = 40

// Fetcher downloads and verifies the assets of signed releases.
type Fetcher struct {
	Downloader
	// Key is the only key trusted to sign SHA256SUMS: from the operator's
	// configuration, never from the release itself.
	Key minisign.PublicKey
	// Dir is the download cache (created 0700); verified files are kept
	// as Dir/<version>/<name>, partial ones beside them as <name>.part.
	Dir string
}

// Verified is an asset that passed verification.
type Verified struct {
	// Name is the asset name, Path the verified file in Dir, SHA256 its
	// lowercase hex SHA-256 (as SHA256SUMS lists it), URL where it was (or
	// would have been) downloaded from.
	Name, Path, SHA256, URL string
	Size                    int64
}

// Get verifies and returns the asset called name of release version, whose
// assets are listed in assets (the release source's listing).
//
// It downloads SHA256SUMS and SHA256SUMS.minisig (each capped at
// signedsums.MaxSize), checks the signature with Key and that it was made
// for version, parses the list, looks name up, cross-checks the asset's
// Digest when the listing gives one, and downloads the asset to
// Dir/<version>/<name> (resuming a partial download), checking its size and
// the SHA-256 of the whole file. A file already in Dir that verifies is
// reused without downloading it; one that fails verification is removed.
//
// Errors: name missing from assets wraps ErrNoAsset, naming the assets
// there are; a bad name or version, a missing or bad signature, another
// version's list, name missing from SHA256SUMS, a digest, size or checksum
// mismatch, or an oversized file wraps ErrUntrusted, and nothing is left at
// the final name; anything else (transport, disk, ctx) wraps neither and
// may be retried, resuming the download. Messages name the asset, its URL
// and what was expected and found.
//
// Get calls for one Dir, version and name must not run concurrently.
func (f Fetcher) Get(ctx context.Context, version string, assets []Asset, name string) (Verified, error) {
	if f.Dir == "" {
		return Verified{}, errors.New("cannot fetch release asset: no download folder configured (Fetcher.Dir)")
	}
	if !signedsums.ValidName(name) {
		return Verified{}, untrustedf("cannot fetch asset %q of %s: not a plain file name (must match %s)", name, version, signedsums.NamePattern)
	}
	if !signedsums.ValidName(version) {
		return Verified{}, untrustedf("cannot fetch asset %s: version %q is not usable as a folder name (must match %s)", name, version, signedsums.NamePattern)
	}
	asset, ok := findAsset(assets, name)
	if !ok {
		return Verified{}, fmt.Errorf("cannot fetch asset %s of %s: %w; the release has %s", name, version, ErrNoAsset, listNames(assets))
	}
	sumsAsset, ok := findAsset(assets, signedsums.SumsName)
	if !ok {
		return Verified{}, untrustedf("cannot verify asset %s of %s: the release has no %s; it must publish %s and %s", name, version, signedsums.SumsName, signedsums.SumsName, signedsums.SigName)
	}
	sigAsset, ok := findAsset(assets, signedsums.SigName)
	if !ok {
		return Verified{}, untrustedf("cannot verify asset %s of %s: the release has no %s (a missing signature); it must publish a minisign signature of %s", name, version, signedsums.SigName, signedsums.SumsName)
	}
	if limit := f.maxSize(); asset.Size > limit {
		return Verified{}, untrustedf("cannot fetch asset %s of %s from %s: it is %d bytes, larger than the limit of %d bytes (raise maxSize if it is expected)", name, version, redactURL(asset.URL), asset.Size, limit)
	}

	sums, err := f.small(ctx, version, sumsAsset)
	if err != nil {
		return Verified{}, err
	}
	sig, err := f.small(ctx, version, sigAsset)
	if err != nil {
		return Verified{}, err
	}
	if err := signedsums.Verify(f.Key, sums, sig, version); err != nil {
		return Verified{}, fmt.Errorf("cannot verify %s of %s from %s: %w", signedsums.SumsName, version, redactURL(sumsAsset.URL), err)
	}
	list, err := signedsums.Parse(sums)
	if err != nil {
		return Verified{}, fmt.Errorf("cannot read %s of %s from %s: %w", signedsums.SumsName, version, redactURL(sumsAsset.URL), err)
	}
	want, ok := list[name]
	if !ok {
		return Verified{}, untrustedf("cannot verify asset %s of %s: the signed %s does not list it", name, version, signedsums.SumsName)
	}
	if err := checkDigest(asset, want, signedsums.SumsName); err != nil {
		return Verified{}, fmt.Errorf("cannot verify asset %s of %s: %w", name, version, err)
	}

	dir := filepath.Join(f.Dir, version)
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return Verified{}, fmt.Errorf("cannot create download folder %s: %w", f.Dir, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return Verified{}, fmt.Errorf("cannot create download folder %s: %w", dir, err)
	}
	path := filepath.Join(dir, name)
	v := Verified{Name: name, Path: path, SHA256: want, URL: asset.URL}

	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().IsRegular() {
			if n, err := verifyFile(path, want, asset.Size); err == nil {
				v.Size = n
				return v, nil
			}
		}
		// Corrupt, truncated or of another release: download again.
		if err := os.RemoveAll(path); err != nil {
			return Verified{}, fmt.Errorf("cannot remove cached %s that failed verification: %w", path, err)
		}
	}

	if err := f.Fetch(ctx, asset.URL, path, asset.Size); err != nil {
		if errors.Is(err, ErrUntrusted) {
			removeBoth(path)
		}
		return Verified{}, fmt.Errorf("cannot fetch asset %s of %s: %w", name, version, err)
	}
	n, err := verifyFile(path, want, asset.Size)
	if err != nil {
		removeBoth(path)
		return Verified{}, fmt.Errorf("cannot verify asset %s of %s downloaded from %s: %w", name, version, redactURL(asset.URL), err)
	}
	v.Size = n
	return v, nil
}

// small downloads SHA256SUMS or its signature into memory and checks it
// against the listing's digest, when given.
func (f Fetcher) small(ctx context.Context, version string, a Asset) ([]byte, error) {
	data, err := f.fetchBytes(ctx, a.URL, signedsums.MaxSize)
	if err != nil {
		return nil, fmt.Errorf("cannot fetch %s of %s: %w", a.Name, version, err)
	}
	sum := sha256.Sum256(data)
	if err := checkDigest(a, hex.EncodeToString(sum[:]), "the downloaded file"); err != nil {
		return nil, fmt.Errorf("cannot verify %s of %s downloaded from %s: %w", a.Name, version, redactURL(a.URL), err)
	}
	return data, nil
}

// checkDigest compares a listing's "sha256:<hex>" digest with want (what
// source says). Digests of other algorithms are ignored; an empty one is
// unknown.
func checkDigest(a Asset, want, source string) error {
	algo, got, ok := strings.Cut(a.Digest, ":")
	if a.Digest == "" || !strings.EqualFold(algo, "sha256") {
		return nil
	}
	got = strings.ToLower(got)
	if !ok || got != want {
		return untrustedf("the release listing gives %s the digest %q, but %s says sha256:%s", a.Name, a.Digest, source, want)
	}
	return nil
}

// verifyFile checks that path is a regular file of size bytes (when size
// > 0) whose SHA-256 is want, and returns its size. Mismatches wrap
// ErrUntrusted.
func verifyFile(path, want string, size int64) (int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("cannot open %s: %w", path, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return 0, fmt.Errorf("cannot inspect %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, untrustedf("%s is not a regular file", path)
	}
	if size > 0 && fi.Size() != size {
		return 0, untrustedf("%s is %d bytes, the release lists %d", path, fi.Size(), size)
	}
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return 0, fmt.Errorf("cannot read %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return 0, untrustedf("sha256 of %s is %s, %s lists %s (the file was modified)", path, got, signedsums.SumsName, want)
	}
	return n, nil
}

func removeBoth(path string) {
	_ = os.Remove(path)
	_ = os.Remove(path + PartSuffix)
}

func findAsset(assets []Asset, name string) (Asset, bool) {
	for _, a := range assets {
		if a.Name == name {
			return a, true
		}
	}
	return Asset{}, false
}

func listNames(assets []Asset) string {
	if len(assets) == 0 {
		return "no assets"
	}
	names := make([]string, 0, min(len(assets), maxListedNames))
	for i, a := range assets {
		if i == maxListedNames {
			names = append(names, fmt.Sprintf("and %d more", len(assets)-maxListedNames))
			break
		}
		names = append(names, a.Name)
	}
	return "these assets: " + strings.Join(names, ", ")
}
