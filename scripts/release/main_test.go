package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/release"
	"github.com/better-paas/updater/internal/signedsums"
)

// env is a getenv for run: the variables given, nothing from the host.
func env(vars ...string) func(string) string {
	return func(k string) string {
		for i := 0; i+1 < len(vars); i += 2 {
			if vars[i] == k {
				return vars[i+1]
			}
		}
		return ""
	}
}

func runRelease(t *testing.T, getenv func(string) string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(context.Background(), args, &o, &e, getenv)
	return o.String(), e.String(), err
}

// gitRepo makes a checkout with one commit and a README.md and LICENSE.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{"README.md": "readme\n", "LICENSE": "license\n", "go.mod": "module x\n"} {
		os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// run refuses what cannot make a release before building anything.
func TestRunRefuses(t *testing.T) {
	repo := gitRepo(t)
	os.WriteFile(filepath.Join(repo, "README.md"), []byte("changed\n"), 0o644)
	out := filepath.Join(t.TempDir(), "dist")
	for _, tc := range []struct {
		name string
		env  func(string) string
		args []string
		want string
	}{
		{"no version", env(), []string{"-dir", repo}, "no -version given"},
		{"no v", env(), []string{"-version", "1.2.3"}, "not vMAJOR.MINOR.PATCH"},
		{"short", env(), []string{"-version", "v1.2"}, "not vMAJOR.MINOR.PATCH"},
		{"build metadata", env(), []string{"-version", "v1.2.3+meta"}, "not vMAJOR.MINOR.PATCH"},
		{"argument", env(), []string{"-version", "v1.2.3", "extra"}, "unexpected arguments"},
		{"dirty", env(), []string{"-version", "v1.2.3", "-dir", repo, "-out", out}, "would not match commit"},
		{"bad epoch", env("SOURCE_DATE_EPOCH", "yesterday"), []string{"-version", "v1.2.3", "-dir", repo, "-out", out, "-allow-dirty"}, "SOURCE_DATE_EPOCH"},
		{"missing key", env("MINISIGN_KEY_FILE", filepath.Join(repo, "nope")), []string{"-version", "v1.2.3", "-dir", repo, "-out", out, "-allow-dirty"}, "cannot read the signing key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runRelease(t, tc.env, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused run created %s: %v", out, err)
	}
	// A folder that is not empty is refused: a stale archive would be published.
	os.MkdirAll(out, 0o755)
	os.WriteFile(filepath.Join(out, "better-paas-updater_v0.0.1_linux_amd64.tar.gz"), nil, 0o644)
	_, _, err := runRelease(t, env(), "-version", "v1.2.3", "-dir", repo, "-out", out, "-allow-dirty")
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty -out: %v", err)
	}
}

func TestKeygenAndLoadKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "release.key")
	stdout, _, err := runRelease(t, env(), "-keygen", path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret key: %v, %v; want mode 0600", fi, err)
	}
	pubText, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pubText, []byte("untrusted comment: ")) || !bytes.HasSuffix(pubText, []byte("\n")) || bytes.Count(pubText, []byte("\n")) != 2 {
		t.Errorf("%s.pub is not a two-line minisign public key file:\n%s", path, pubText)
	}
	pub, err := signedsums.ParsePublicKey(string(pubText))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "public key: "+pub.String()) || !strings.Contains(stdout, "NOT encrypted") {
		t.Errorf("keygen output does not give the public key or say the key is unencrypted:\n%s", stdout)
	}
	key, err := loadKey(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if !key.Public().(minisign.PublicKey).Equal(pub) {
		t.Error("the secret key read back does not match the public key")
	}
	before, _ := os.ReadFile(path)
	if _, _, err := runRelease(t, env(), "-keygen", path); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Errorf("keygen over an existing key: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("keygen changed an existing key")
	}

	// An encrypted key (cheap scrypt parameters, random ciphertext: no
	// password opens it) needs MINISIGN_PASSWORD, and a wrong one is named.
	var b [158]byte
	binary.LittleEndian.PutUint16(b[0:], minisign.EdDSA)
	binary.LittleEndian.PutUint16(b[2:], 0x6353) // "Sc": scrypt
	binary.LittleEndian.PutUint16(b[4:], 0x3242) // "B2": BLAKE2b
	binary.LittleEndian.PutUint64(b[38:], 1<<15)
	binary.LittleEndian.PutUint64(b[46:], 1<<20)
	enc := filepath.Join(t.TempDir(), "enc.key")
	os.WriteFile(enc, []byte("untrusted comment: minisign encrypted secret key\n"+base64.StdEncoding.EncodeToString(b[:])+"\n"), 0o600)
	if _, err := loadKey(enc, ""); err == nil || !strings.Contains(err.Error(), "MINISIGN_PASSWORD is not set") {
		t.Errorf("encrypted key without a password: %v", err)
	}
	if _, err := loadKey(enc, "wrong"); err == nil || !strings.Contains(err.Error(), "is MINISIGN_PASSWORD right?") {
		t.Errorf("encrypted key with a wrong password: %v", err)
	}
	os.WriteFile(enc, []byte("not a key\n"), 0o600)
	if _, err := loadKey(enc, ""); err == nil || !strings.Contains(err.Error(), "want a minisign secret key file") {
		t.Errorf("garbage key file: %v", err)
	}
}

// TestReleaseIsReproducible builds the real release of this checkout twice
// (4 targets each) with a test key and checks: identical bytes, a signature
// that verifies for this version only, the archive layout, and the host's
// binary reporting the version, commit and date it was stamped with.
func TestReleaseIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles the updater 8 times")
	}
	start := time.Now()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err := minisign.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	keyText, _ := priv.MarshalText()
	keyFile := filepath.Join(t.TempDir(), "test.key")
	os.WriteFile(keyFile, keyText, 0o600)
	const version = "v9.8.7-test.1"

	dirs := []string{filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b", "dist")}
	for i, dir := range dirs {
		// The second run takes the key from the flag, the first from the
		// environment.
		getenv, args := env("MINISIGN_KEY_FILE", keyFile), []string{"-version", version, "-out", dir, "-dir", root, "-allow-dirty"}
		if i == 1 {
			getenv, args = env(), append(args, "-key", keyFile)
		}
		stdout, stderr, err := runRelease(t, getenv, args...)
		if err != nil {
			t.Fatalf("release into %s: %v\n%s%s", dir, err, stdout, stderr)
		}
		if strings.Contains(stdout, "not signed") || !strings.Contains(stdout, "key "+pub.String()) {
			t.Errorf("run %d does not say it signed with the test key:\n%s", i, stdout)
		}
	}
	t.Logf("two releases built in %v", time.Since(start).Round(time.Millisecond))

	read := func(dir, name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sums, sig := read(dirs[0], signedsums.SumsName), read(dirs[0], signedsums.SigName)
	if !bytes.Equal(sums, read(dirs[1], signedsums.SumsName)) || !bytes.Equal(sig, read(dirs[1], signedsums.SigName)) {
		t.Fatalf("two builds of one commit differ:\n%s\n%s", sums, read(dirs[1], signedsums.SumsName))
	}
	if err := signedsums.Verify(pub, sums, sig, version); err != nil {
		t.Errorf("Verify for %s: %v", version, err)
	}
	if err := signedsums.Verify(pub, sums, sig, "v9.8.8"); !errors.Is(err, signedsums.ErrUntrusted) {
		t.Errorf("Verify for another version: %v, want ErrUntrusted", err)
	}
	list, err := signedsums.Parse(sums)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dirs[0])
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	var want []string
	for _, tg := range release.Targets {
		want = append(want, release.ArchiveName(release.Name, version, tg))
	}
	want = append(want, signedsums.SumsName, signedsums.SigName)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("dist has %q, want %q", names, want)
	}

	co, err := release.ReadCheckout(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	license := read(root, "LICENSE")
	for _, tg := range release.Targets {
		name := release.ArchiveName(release.Name, version, tg)
		data := read(dirs[0], name)
		if list[name] != signedsums.Sum(data) {
			t.Errorf("%s: SHA256SUMS says %s, the file is %s", name, list[name], signedsums.Sum(data))
		}
		files := untar(t, data)
		stem := release.ArchiveStem(release.Name, version, tg)
		var got []string
		for n := range files {
			got = append(got, n)
		}
		slices.Sort(got)
		if want := []string{stem + "/", stem + "/LICENSE", stem + "/README.md", release.BinaryPath(version, tg)}; !slices.Equal(got, want) {
			t.Errorf("%s holds %q, want %q", name, got, want)
		}
		if !bytes.Equal(files[stem+"/LICENSE"], license) {
			t.Errorf("%s: LICENSE is not the repository's", name)
		}
		if tg.OS != runtime.GOOS || tg.Arch != runtime.GOARCH {
			continue
		}
		bin := filepath.Join(t.TempDir(), release.Name)
		os.WriteFile(bin, files[release.BinaryPath(version, tg)], 0o755)
		out, err := exec.Command(bin, "version", "-o", "json").Output()
		if err != nil {
			t.Fatalf("%s version -o json: %v", tg, err)
		}
		var v struct {
			Version, Commit, BuildDate string
			Dev                        bool
		}
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if v.Version != version || v.Dev || v.Commit != co.Commit || v.BuildDate != co.Time.Format(time.RFC3339) {
			t.Errorf("the %s binary says %+v, want version %s, commit %s, date %s", tg, v, version, co.Commit, co.Time.Format(time.RFC3339))
		}
	}
	t.Logf("whole test: %v", time.Since(start).Round(time.Millisecond))
}

// untar returns the entries of a .tar.gz by name (folders with no data).
func untar(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = b
	}
}
