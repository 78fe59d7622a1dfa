package artifact

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/github"
	"github.com/better-paas/updater/internal/github/githubtest"
)

// signTime is the release commit's time the test releases are signed at.
var signTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newKey(t *testing.T) (minisign.PublicKey, minisign.PrivateKey) {
	t.Helper()
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// assetsOf lists the assets of a release through the real GitHub client,
// as the reconciler and self-update do.
func assetsOf(t *testing.T, srv *githubtest.Server, version string) []Asset {
	t.Helper()
	c := &github.Client{BaseURL: srv.APIURL(), Owner: "acme", Name: "app", Prerelease: true,
		HTTPClient: &http.Client{Timeout: 10 * time.Second}}
	l, err := c.Refresh(context.Background())
	if err != nil || l.Stale != nil {
		t.Fatalf("cannot list releases: %v %v", err, l.Stale)
	}
	for _, r := range l.Releases {
		if r.Version == version {
			return r.Assets
		}
	}
	t.Fatalf("release %s not listed", version)
	return nil
}

// payload is deterministic, incompressible-looking bytes.
func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	return b
}

func wantClass(t *testing.T, err error, untrusted, noAsset bool) {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want an error")
	}
	if got := errors.Is(err, ErrUntrusted); got != untrusted {
		t.Errorf("errors.Is(err, ErrUntrusted) = %t, want %t; err: %v", got, untrusted, err)
	}
	if got := errors.Is(err, ErrNoAsset); got != noAsset {
		t.Errorf("errors.Is(err, ErrNoAsset) = %t, want %t; err: %v", got, noAsset, err)
	}
}

func wantAbsent(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists (err %v), want it absent", p, err)
		}
	}
}

func wantFile(t *testing.T, path string, data []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("%s: %d bytes, not the %d expected", path, len(got), len(data))
	}
}

func cachePath(dir, version, name string) string { return filepath.Join(dir, version, name) }

var modTime = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
