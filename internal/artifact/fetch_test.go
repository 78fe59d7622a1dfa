package artifact

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/github/githubtest"
	"github.com/better-paas/updater/internal/signedsums"
)

const (
	version = "v1.2.3"
	binName = "server_v1.2.3_linux_amd64.tar.gz"
)

type fixture struct {
	priv minisign.PrivateKey
	srv  *githubtest.Server
	f    Fetcher
	data []byte
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pub, priv := newKey(t)
	srv := githubtest.New(t)
	data := payload(300<<10, 1)
	srv.AddSignedRelease("acme", "app", version, priv, map[string][]byte{
		binName:                             data,
		"server_v1.2.3_darwin_arm64.tar.gz": payload(1000, 2),
	})
	return &fixture{priv: priv, srv: srv, data: data, f: Fetcher{Key: pub, Dir: filepath.Join(t.TempDir(), "cache")}}
}

func (fx *fixture) objectRequests() int {
	n := 0
	for _, r := range fx.srv.Log() {
		if r.Host == "objects" {
			n++
		}
	}
	return n
}

func TestGetVerifiesAndCaches(t *testing.T) {
	fx := newFixture(t)
	assets := assetsOf(t, fx.srv, version)
	v, err := fx.f.Get(context.Background(), version, assets, binName)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	want := Verified{Name: binName, Path: cachePath(fx.f.Dir, version, binName), SHA256: signedsums.Sum(fx.data),
		URL: fx.srv.DownloadURL("acme", "app", version, binName), Size: int64(len(fx.data))}
	if v != want {
		t.Fatalf("Get = %+v\nwant %+v", v, want)
	}
	wantFile(t, v.Path, fx.data)
	wantAbsent(t, v.Path+PartSuffix)
	for _, d := range []string{fx.f.Dir, filepath.Dir(v.Path)} {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("cache folder %s: %v %v, want mode 0700", d, fi.Mode(), err)
		}
	}

	// Cached: verified again, not downloaded (only the two small files).
	before := fx.objectRequests()
	if _, err := fx.f.Get(context.Background(), version, assets, binName); err != nil {
		t.Fatalf("second Get: %v", err)
	}
	if got := fx.objectRequests() - before; got != 2 {
		t.Errorf("second Get made %d downloads, want 2 (SHA256SUMS and signature only)", got)
	}

	// A corrupted cache file is replaced by a fresh, verified download.
	corrupt := append([]byte(nil), fx.data...)
	corrupt[10] ^= 1
	if err := os.WriteFile(v.Path, corrupt, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.f.Get(context.Background(), version, assets, binName); err != nil {
		t.Fatalf("Get after corruption: %v", err)
	}
	wantFile(t, v.Path, fx.data)
}

func TestGetResumesAfterCutBody(t *testing.T) {
	fx := newFixture(t)
	assets := assetsOf(t, fx.srv, version)
	fx.srv.FailNextFor(binName, 1, githubtest.CutBodyAfter(100<<10))
	path := cachePath(fx.f.Dir, version, binName)

	_, err := fx.f.Get(context.Background(), version, assets, binName)
	wantClass(t, err, false, false)
	wantAbsent(t, path)
	part, perr := os.ReadFile(path + PartSuffix)
	if perr != nil || len(part) == 0 || len(part) >= len(fx.data) {
		t.Fatalf("partial file: %d bytes (%v), want some but not all of %d", len(part), perr, len(fx.data))
	}

	v, err := fx.f.Get(context.Background(), version, assets, binName)
	if err != nil {
		t.Fatalf("resumed Get: %v", err)
	}
	wantFile(t, v.Path, fx.data)
	wantAbsent(t, path+PartSuffix)
	wantRange := "Range: bytes=" + strconv.Itoa(len(part)) + "-"
	if log := strings.Join(fx.srv.Requests(), "\n"); !strings.Contains(log, wantRange) {
		t.Errorf("no %q request in the log:\n%s", wantRange, log)
	}
}

// TestGetRefusals: each way a release can be untrustworthy or incomplete
// gives the right error class, and nothing is left at the final name.
func TestGetRefusals(t *testing.T) {
	_, otherPriv := newKey(t)
	tests := []struct {
		name      string
		setup     func(t *testing.T, fx *fixture)
		asset     string
		maxSize   int64
		untrusted bool
		noAsset   bool
		wantMsg   []string
	}{
		{
			name: "tampered asset, digest kept",
			setup: func(t *testing.T, fx *fixture) {
				bad := append([]byte(nil), fx.data...)
				bad[len(bad)-1] ^= 0xff
				fx.srv.SetAsset("acme", "app", version, binName, bad, true)
			},
			untrusted: true, wantMsg: []string{binName, "sha256", signedsums.Sum(payload(300<<10, 1))},
		},
		{
			name: "digest mismatch (asset re-uploaded)",
			setup: func(t *testing.T, fx *fixture) {
				fx.srv.SetAsset("acme", "app", version, binName, []byte("re-uploaded"), false)
			},
			untrusted: true, wantMsg: []string{binName, "digest"},
		},
		{
			name: "wrong checksum line",
			setup: func(t *testing.T, fx *fixture) {
				sums := signedsums.Sums{binName: signedsums.Sum([]byte("something else"))}.Format()
				fx.srv.SetAsset("acme", "app", version, signedsums.SumsName, sums, false)
				fx.srv.SetAsset("acme", "app", version, signedsums.SigName, signedsums.Sign(fx.priv, sums, version, signTime), false)
				// A listing without digests, so only SHA256SUMS can catch it.
				fx.srv.AddRelease("acme", "app", version, map[string][]byte{binName: fx.data,
					signedsums.SumsName: sums, signedsums.SigName: signedsums.Sign(fx.priv, sums, version, signTime)}, githubtest.WithoutDigests())
			},
			untrusted: true, wantMsg: []string{binName},
		},
		{
			name: "bad signature (another key)",
			setup: func(t *testing.T, fx *fixture) {
				sums := signedsums.Sums{binName: signedsums.Sum(fx.data)}.Format()
				fx.srv.SetAsset("acme", "app", version, signedsums.SumsName, sums, false)
				fx.srv.SetAsset("acme", "app", version, signedsums.SigName, signedsums.Sign(otherPriv, sums, version, signTime), false)
			},
			untrusted: true, wantMsg: []string{signedsums.SumsName, "key"},
		},
		{
			name: "SHA256SUMS modified after signing",
			setup: func(t *testing.T, fx *fixture) {
				sums := signedsums.Sums{binName: signedsums.Sum(fx.data), "extra": signedsums.Sum(nil)}.Format()
				fx.srv.SetAsset("acme", "app", version, signedsums.SumsName, sums, false)
			},
			untrusted: true, wantMsg: []string{signedsums.SumsName},
		},
		{
			name: "missing signature",
			setup: func(t *testing.T, fx *fixture) {
				fx.srv.RemoveAsset("acme", "app", version, signedsums.SigName)
			},
			untrusted: true, wantMsg: []string{signedsums.SigName},
		},
		{
			name: "SHA256SUMS signed for another version",
			setup: func(t *testing.T, fx *fixture) {
				sums := signedsums.Sums{binName: signedsums.Sum(fx.data)}.Format()
				fx.srv.SetAsset("acme", "app", version, signedsums.SumsName, sums, false)
				fx.srv.SetAsset("acme", "app", version, signedsums.SigName, signedsums.Sign(fx.priv, sums, "v1.0.0", signTime), false)
			},
			untrusted: true, wantMsg: []string{"v1.0.0"},
		},
		{
			name:      "oversized asset",
			maxSize:   100 << 10,
			untrusted: true, wantMsg: []string{binName, "larger than"},
		},
		{
			name: "served larger than listed",
			setup: func(t *testing.T, fx *fixture) {
				fx.srv.SetAsset("acme", "app", version, binName, append(append([]byte(nil), fx.data...), 'x'), true)
			},
			untrusted: true, wantMsg: []string{binName, "announces"},
		},
		{
			name:    "missing asset for the arch",
			asset:   "server_v1.2.3_linux_riscv64.tar.gz",
			noAsset: true, wantMsg: []string{"server_v1.2.3_linux_riscv64.tar.gz", binName, "server_v1.2.3_darwin_arm64.tar.gz"},
		},
		{
			name:      "bad asset name",
			asset:     "../evil",
			untrusted: true, wantMsg: []string{"../evil"},
		},
		{
			name: "not listed in SHA256SUMS",
			setup: func(t *testing.T, fx *fixture) {
				fx.srv.SetAsset("acme", "app", version, "unlisted.bin", []byte("x"), false)
			},
			asset:     "unlisted.bin",
			untrusted: true, wantMsg: []string{"unlisted.bin", "does not list"},
		},
		{
			name: "server error is transient",
			setup: func(t *testing.T, fx *fixture) {
				fx.srv.FailNextFor(binName, 1, githubtest.Status(503))
			},
			wantMsg: []string{"503", "/releases/download/" + version + "/" + binName},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture(t)
			if tt.setup != nil {
				tt.setup(t, fx)
			}
			fx.f.MaxSize = tt.maxSize
			name := tt.asset
			if name == "" {
				name = binName
			}
			_, err := fx.f.Get(context.Background(), version, assetsOf(t, fx.srv, version), name)
			t.Logf("error: %v", err)
			wantClass(t, err, tt.untrusted, tt.noAsset)
			for _, m := range tt.wantMsg {
				if err != nil && !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
			if err != nil && strings.Contains(err.Error(), "X-Amz-Signature") {
				t.Errorf("error %q leaks the pre-signed query", err)
			}
			if strings.Contains(name, "/") {
				return
			}
			wantAbsent(t, cachePath(fx.f.Dir, version, name))
			if tt.untrusted {
				wantAbsent(t, cachePath(fx.f.Dir, version, name)+PartSuffix)
			}
		})
	}
}
