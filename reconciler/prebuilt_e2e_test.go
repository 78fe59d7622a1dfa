package reconciler_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/github/githubtest"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/signedsums"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// The GitHub repository the prebuilt tests publish the example app's
// releases under (UPDATE_REPO).
const (
	prebuiltOwner = "better-paas"
	prebuiltRepo  = "example"
)

// keyLine is the "RW..." line of a minisign public key, as updater.yaml
// holds it.
func keyLine(t *testing.T, pub minisign.PublicKey) string {
	t.Helper()
	text, err := pub.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	return lines[len(lines)-1]
}

// tarGz packs entries, written as given (unsafe ones included), into a
// .tar.gz: what a hostile or broken release pipeline could publish.
func tarGz(t *testing.T, entries ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, h := range entries {
		body := []byte("#!/bin/sh\necho evil\n")
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(body))
		}
		if h.Mode == 0 {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// toolchainFree is a daemon's environment on a host that installs
// prebuilt releases: PATH holds git and nothing else (no go, node, npm or
// pnpm), and UPDATE_REPO names the app's GitHub repository.
func toolchainFree(t *testing.T) []string {
	t.Helper()
	bin := t.TempDir()
	git, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(git, filepath.Join(bin, "git")); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"go", "node", "npm", "pnpm"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err == nil {
			t.Fatalf("%s is on the daemon's PATH", tool)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "UPDATE_REPO=") {
			env = append(env, kv)
		}
	}
	return append(env, "PATH="+bin, "UPDATE_REPO="+prebuiltOwner+"/"+prebuiltRepo)
}

// updater runs the better-paas-updater command (built from this module)
// for the host h with the environment env, as an administrator would.
// Exit codes 0 and 2 (Ready, Stalled: both are answers) pass; it returns
// the output.
func (h *host) updater(bin string, env []string, args ...string) []byte {
	h.t.Helper()
	cmd := exec.Command(bin, append(args, "--config", h.cfg.Path())...)
	cmd.Env = env
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 2) {
		h.t.Fatalf("better-paas-updater %v: %v\n%s\n%s", args, err, out, stderrOf(err))
	}
	return out
}

func stderrOf(err error) []byte {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return nil
}

// runOnce is `better-paas-updater run --once`: reconcile until Ready or
// Stalled, in a process of its own.
func (h *host) runOnce(bin string, env []string) *status.VersionStatus {
	h.t.Helper()
	h.updater(bin, env, "run", "--once")
	st, err := status.Load(filepath.Join(h.cfg.StateDir, "status.yaml"))
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// TestPrebuiltReleases: with artifact: prebuilt a host without Go or Node
// installs, updates and rolls back releases from their signed assets, and
// refuses, changing nothing, every release whose files cannot be trusted.
// The releases are the example app's, built by the test, published on a
// local server speaking GitHub's release API.
func TestPrebuiltReleases(t *testing.T) {
	t.Parallel()
	skipEndToEnd(t)
	pub, key, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, otherKey, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	gh := githubtest.New(t)
	const maxSize = 32 << 20
	h := newHostWith(t, func(o *sandbox.Options) {
		o.Prebuilt = &sandbox.PrebuiltSource{APIURL: gh.APIURL(), PublicKey: keyLine(t, pub), MaxSize: maxSize,
			CacheTTL: time.Millisecond} // releases are published as the test goes
	})

	// The releases as their pipeline builds them, with this machine's Go
	// and Node (the host will not have them).
	built := map[string]sandbox.BuiltRelease{}
	for _, tag := range []string{"v1.0.0", "v1.1.0", "v1.2.0"} {
		b, err := sandbox.BuildRelease(context.Background(), h.origin, tag)
		if err != nil {
			t.Fatal(err)
		}
		built[tag] = b
		assets, err := b.Assets(key)
		if err != nil {
			t.Fatal(err)
		}
		gh.AddRelease(prebuiltOwner, prebuiltRepo, tag, assets)
	}
	bin, err := sandbox.UpdaterBinary()
	if err != nil {
		t.Fatal(err)
	}
	env := toolchainFree(t)

	t.Run("fresh install", func(t *testing.T) {
		h.set("v1.0.0")
		st := h.runOnce(bin, env)
		if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.0.0" {
			t.Fatalf("Ready %s, running %q", condition(st, status.TypeReady), st.CurrentVersion)
		}
		h.serving("v1.0.0")
	})

	t.Run("update resumes a cut download and verifies it whole", func(t *testing.T) {
		gh.FailNextFor(sandbox.PrebuiltNames("v1.1.0").Backend, 1, githubtest.CutBodyAfter(64<<10))
		h.set("v1.1.0")
		// plan says what would be downloaded, and from where.
		var p reconciler.Plan
		if err := json.Unmarshal(h.updater(bin, env, "plan", "-o", "json"), &p); err != nil {
			t.Fatal(err)
		}
		var planned []string
		for _, a := range p.Artifacts {
			if a.Missing || !strings.HasPrefix(a.URL, gh.APIURL()) {
				t.Errorf("planned artifact %+v: missing, or not from the release server", a)
			}
			planned = append(planned, a.Role+"="+a.Name)
		}
		want := []string{"checksums=SHA256SUMS", "signature=SHA256SUMS.minisig",
			"backend=" + sandbox.PrebuiltNames("v1.1.0").Backend, "frontend=" + sandbox.PrebuiltNames("v1.1.0").Frontend}
		if strings.Join(planned, " ") != strings.Join(want, " ") || p.ArtifactsError != "" {
			t.Errorf("plan artifacts = %v (%s), want %v", planned, p.ArtifactsError, want)
		}
		st := h.runOnce(bin, env)
		if !st.IsTrue(status.TypeReady) || st.CurrentVersion != "v1.1.0" {
			t.Fatalf("Ready %s, running %q", condition(st, status.TypeReady), st.CurrentVersion)
		}
		h.serving("v1.1.0")
		if got := fileSum(t, h.cfg.BackendBinary()); got != signedsums.Sum(built["v1.1.0"].Server) {
			t.Error("the running binary is not the released one")
		}
		if _, err := os.Stat(filepath.Join(h.cfg.FrontendDir(), "index.html")); err != nil {
			t.Errorf("frontend not installed: %v", err)
		}
		resumed := false
		for _, r := range gh.Requests() {
			if strings.Contains(r, sandbox.PrebuiltNames("v1.1.0").Backend) || strings.Contains(r, "/objects/") {
				resumed = resumed || strings.Contains(r, "Range: bytes=")
			}
		}
		if !resumed {
			t.Errorf("no Range request after the cut download: %v", gh.Requests())
		}
		if logs, _ := filepath.Glob(filepath.Join(h.cfg.StateDir, "logs", "build-*")); len(logs) > 0 {
			t.Errorf("a build step ran: %v", logs)
		}
		if _, err := os.Stat(h.cfg.BackendBinary() + ".bak"); err != nil {
			t.Errorf("server.bak not kept: %v", err)
		}
	})

	t.Run("a release failing its health gate rolls back", func(t *testing.T) {
		h.set("v1.2.0")
		st := h.runOnce(bin, env)
		if st.CurrentVersion != "v1.1.0" || len(st.FailedVersions) != 1 || st.FailedVersions[0].Reason != reconciler.ReasonHealthCheckFailed {
			t.Fatalf("running %q, failed %+v", st.CurrentVersion, st.FailedVersions)
		}
		h.serving("v1.1.0")
	})

	// Every refusal is its own release, tagged on the commit of v1.1.0.
	good := built["v1.1.0"]
	names := func(tag string) sandbox.PrebuiltAssetNames { return sandbox.PrebuiltNames(tag) }
	packed, err := good.Assets(key)
	if err != nil {
		t.Fatal(err)
	}
	// goodAssets are v1.1.0's archives published as tag, signed for tag:
	// every check but the binary's --version passes. The archives are
	// packed once (gzip is slow under the race detector) and renamed.
	goodAssets := func(tag string) map[string][]byte {
		return sandbox.SignAssets(map[string][]byte{
			names(tag).Backend:  packed[names("v1.1.0").Backend],
			names(tag).Frontend: packed[names("v1.1.0").Frontend],
		}, tag, key)
	}
	tests := []struct {
		name, tag string
		assets    func(tag string) map[string][]byte
		want      []string
	}{
		{"tampered binary", "v1.3.1", func(tag string) map[string][]byte {
			a := goodAssets(tag)
			a[names(tag).Backend] = tarGz(t, tar.Header{Name: "server", Typeflag: tar.TypeReg})
			return a
		}, []string{names("v1.3.1").Backend, "sha256"}},
		{"wrong checksum", "v1.3.2", func(tag string) map[string][]byte {
			a := goodAssets(tag)
			sums := strings.Replace(string(a[signedsums.SumsName]), signedsums.Sum(a[names(tag).Backend]), strings.Repeat("0", 64), 1)
			a[signedsums.SumsName] = []byte(sums)
			a[signedsums.SigName] = signedsums.Sign(key, []byte(sums), tag, sandbox.PrebuiltSignTime)
			return a
		}, []string{names("v1.3.2").Backend, "sha256"}},
		{"signed by another key", "v1.3.3", func(tag string) map[string][]byte {
			return sandbox.SignAssets(goodAssets(tag), tag, otherKey)
		}, []string{signedsums.SigName}},
		{"no signature", "v1.3.4", func(tag string) map[string][]byte {
			a := goodAssets(tag)
			delete(a, signedsums.SigName)
			return a
		}, []string{signedsums.SigName}},
		{"SHA256SUMS of another version", "v1.3.5", func(tag string) map[string][]byte {
			a := goodAssets(tag)
			a[signedsums.SigName] = signedsums.Sign(key, a[signedsums.SumsName], "v1.1.0", sandbox.PrebuiltSignTime)
			return a
		}, []string{"v1.1.0", "v1.3.5"}},
		{"../ entry", "v1.3.6", func(tag string) map[string][]byte {
			a := goodAssets(tag)
			a[names(tag).Backend] = tarGz(t, tar.Header{Name: "../evil", Typeflag: tar.TypeReg}, tar.Header{Name: "server", Typeflag: tar.TypeReg})
			return sandbox.SignAssets(a, tag, key)
		}, []string{"../evil"}},
		{"absolute entry", "v1.3.7", func(tag string) map[string][]byte {
			a := goodAssets(tag)
			a[names(tag).Backend] = tarGz(t, tar.Header{Name: "/tmp/evil", Typeflag: tar.TypeReg})
			return sandbox.SignAssets(a, tag, key)
		}, []string{"/tmp/evil"}},
		{"symlink out", "v1.3.8", func(tag string) map[string][]byte {
			a := goodAssets(tag)
			a[names(tag).Backend] = tarGz(t, tar.Header{Name: "server", Typeflag: tar.TypeSymlink, Linkname: "/usr/bin/true"})
			return sandbox.SignAssets(a, tag, key)
		}, []string{"server", "/usr/bin/true"}},
		{"oversized asset", "v1.3.9", func(tag string) map[string][]byte {
			a := goodAssets(tag)
			a[names(tag).Backend] = make([]byte, maxSize+1)
			return sandbox.SignAssets(a, tag, key)
		}, []string{names("v1.3.9").Backend, "larger"}},
		{"no asset for this host", "v1.3.10", func(tag string) map[string][]byte {
			a := goodAssets(tag)
			a["server_"+tag+"_plan9_mips.tar.gz"] = a[names(tag).Backend]
			delete(a, names(tag).Backend)
			return sandbox.SignAssets(a, tag, key)
		}, []string{names("v1.3.10").Backend, "plan9"}},
		{"binary of another version", "v1.3.11", goodAssets, []string{"v1.1.0", "not v1.3.11"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if out, err := exec.Command("git", "-C", h.origin, "tag", tt.tag, "v1.1.0^{commit}").CombinedOutput(); err != nil {
				t.Fatalf("git tag: %v\n%s", err, out)
			}
			var opts []githubtest.ReleaseOption
			if tt.tag == "v1.3.1" {
				// Uploaded before GitHub computed digests: only SHA256SUMS
				// can tell the binary was tampered with.
				opts = append(opts, githubtest.WithoutDigests())
			}
			gh.AddRelease(prebuiltOwner, prebuiltRepo, tt.tag, tt.assets(tt.tag), opts...)
			tree := snapshot(t, h.install)
			data := h.precious()
			pid := h.pid()
			h.set(tt.tag)
			st := h.runOnce(bin, env)
			if st.CurrentVersion != "v1.1.0" {
				t.Fatalf("running %q", st.CurrentVersion)
			}
			var f status.FailedVersion
			for _, fv := range st.FailedVersions {
				if fv.Version == tt.tag {
					f = fv
				}
			}
			if f.Reason != reconciler.ReasonArtifactRejected || f.Step != "download" {
				t.Fatalf("last failure = %+v, want %s ArtifactRejected at download", f, tt.tag)
			}
			for _, w := range tt.want {
				if !strings.Contains(f.Message, w) {
					t.Errorf("message %q does not mention %q", f.Message, w)
				}
			}
			if after := snapshot(t, h.install); len(after) != len(tree) {
				t.Errorf("install tree changed: %d -> %d entries", len(tree), len(after))
			} else {
				preserved(t, "install", tree, after)
			}
			preserved(t, "data", data, h.precious())
			if h.pid() != pid {
				t.Error("service restarted")
			}
			h.serving("v1.1.0")
		})
	}
}
