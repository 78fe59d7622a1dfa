package spec

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	const head = "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\n"
	tests := []struct {
		name    string
		in      string
		version string
		err     error
		msg     string // substring the error must carry so a person can act on it
	}{
		{name: "pinned", in: head + "spec:\n  version: v1.4.2\n", version: "v1.4.2"},
		{name: "latest", in: head + "spec:\n  version: latest\n", version: "latest"},
		{name: "prerelease", in: head + "spec:\n  version: v2.0.0-rc.1\n", version: "v2.0.0-rc.1"},
		{name: "padded", in: head + "spec:\n  version: ' v1.0.0 '\n", version: "v1.0.0"},
		{name: "metadata kept", in: head + "metadata:\n  name: web-1\nspec:\n  version: v1.0.0\n", version: "v1.0.0"},
		{name: "no v", in: head + "spec:\n  version: 1.4.2\n", err: ErrInvalidVersion, msg: `did you mean "v1.4.2"`},
		{name: "shorthand", in: head + "spec:\n  version: v1.4\n", err: ErrInvalidVersion, msg: `write the full tag "v1.4.0"`},
		{name: "garbage", in: head + "spec:\n  version: banana\n", err: ErrInvalidVersion, msg: "vMAJOR.MINOR.PATCH"},
		{name: "build metadata", in: head + "spec:\n  version: v1.0.0+abc\n", err: ErrInvalidVersion, msg: "build metadata"},
		{name: "empty version", in: head + "spec: {}\n", err: ErrMissingVersion, msg: "spec.version"},
		{name: "unknown field", in: head + "spec:\n  version: v1.0.0\n  verison: v1.0.1\n", err: ErrInvalidYAML, msg: "verison"},
		{name: "key in the wrong case", in: head + "spec:\n  Version: v9.9.9\n  version: v1.0.0\n", err: ErrInvalidYAML, msg: "did you mean spec.version?"},
		{name: "duplicate key", in: head + "spec:\n  version: v1.0.0\n  version: v1.0.1\n", err: ErrInvalidYAML, msg: "version"},
		{name: "wrong kind", in: "apiVersion: updates.better-paas.io/v1\nkind: VersionStatus\nspec:\n  version: v1.0.0\n", err: ErrWrongType, msg: "VersionStatus"},
		{name: "wrong apiVersion", in: "apiVersion: v1\nkind: DesiredVersion\nspec:\n  version: v1.0.0\n", err: ErrWrongType, msg: "updates.better-paas.io/v1"},
		{name: "not yaml", in: "spec: [", err: ErrInvalidYAML},
		{name: "wrong type", in: head + "spec:\n  version: [1, 2]\n", err: ErrInvalidYAML},
		{name: "commit", in: head + "spec:\n  version: v1.0.0\n  commit: 0123456789ABCDEF0123456789abcdef01234567\n", version: "v1.0.0"},
		{name: "short commit", in: head + "spec:\n  version: v1.0.0\n  commit: 0123abc\n", err: ErrInvalidCommit, msg: "git rev-parse v1.0.0^{commit}"},
		{name: "commit with latest", in: head + "spec:\n  version: latest\n  commit: 0123456789abcdef0123456789abcdef01234567\n", err: ErrInvalidCommit, msg: "cannot go with"},
		{name: "prerelease channel", in: head + "spec:\n  version: latest\n  channel: prerelease\n", version: "latest"},
		{name: "unknown channel", in: head + "spec:\n  version: latest\n  channel: nightly\n", err: ErrInvalidChannel, msg: `use "stable" or "prerelease"`},
		{name: "too large", in: head + "# " + strings.Repeat("x", MaxFileSize) + "\nspec:\n  version: v1.0.0\n", err: ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse("desired.yaml", []byte(tt.in))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if !strings.Contains(err.Error(), "desired.yaml") || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("error %q does not name the file and %q", err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d.Spec.Version != tt.version {
				t.Errorf("version = %q, want %q", d.Spec.Version, tt.version)
			}
		})
	}
}

func TestDigestIgnoresLayoutButNotContent(t *testing.T) {
	a, err := Parse("a", []byte("apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: v1.0.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b", []byte("# pinned by ansible\nkind: DesiredVersion\napiVersion: updates.better-paas.io/v1\nspec: {version: \"v1.0.0\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest() != b.Digest() {
		t.Errorf("same spec, different digests: %s %s", a.Digest(), b.Digest())
	}
	if a.Digest() == New("v1.0.1").Digest() {
		t.Error("different versions share a digest")
	}
	c := New("v1.0.0")
	c.Metadata.Annotations = map[string]string{"owner": "ansible"}
	if c.Digest() != a.Digest() {
		t.Error("an unrelated annotation changed the digest")
	}
	c.Metadata.Annotations[RetryAnnotation] = "2026-11-29T12:00:00Z"
	if c.Digest() == a.Digest() {
		t.Error("the retry annotation did not change the digest")
	}
}

func TestWriteRoundTripAndRefusesInvalid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "etc", "desired.yaml")
	if err := Write(path, New("v1.2.3")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	d, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if d.Spec.Version != "v1.2.3" || d.APIVersion != APIVersion || d.Kind != Kind {
		t.Errorf("round trip = %+v", d)
	}
	before, _ := os.ReadFile(path)
	if err := Write(path, New("1.2.4")); !errors.Is(err, ErrInvalidVersion) {
		t.Fatalf("Write invalid: err = %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Errorf("invalid write changed the file:\n%s\n->\n%s", before, after)
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "desired.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
}

// TestMessagesSayWhatIsWrongOnce: an error names the problem once, in the
// words a person needs, and a size as it really is.
func TestMessagesSayWhatIsWrongOnce(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	_, err := Load(write("bad.yaml", "spec: ["))
	if !errors.Is(err, ErrInvalidYAML) || strings.Count(err.Error(), "invalid YAML") != 1 {
		t.Errorf("bad YAML: %v; want ErrInvalidYAML, said once", err)
	}
	_, err = Load(write("typo.yaml", "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  versoin: v1.0.0\n"))
	if !errors.Is(err, ErrInvalidYAML) || !strings.Contains(err.Error(), `unknown field "versoin"`) ||
		strings.Contains(err.Error(), "JSON") || strings.Count(err.Error(), "invalid YAML") > 1 {
		t.Errorf("unknown field: %v; want `unknown field \"versoin\"` without the JSON decoder's words", err)
	}
	_, err = Load(write("big.yaml", strings.Repeat("a", 1<<20)))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "1 MiB") || !strings.Contains(err.Error(), "limit 64 KiB") {
		t.Errorf("too large: %v; want the true size (1 MiB) and the limit (64 KiB)", err)
	}
}
