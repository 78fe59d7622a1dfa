package spec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"golang.org/x/mod/semver"
	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/parsecache/parsecachetest"
	"github.com/better-paas/updater/internal/strictyaml/yamltest"
)

// parseDeadline is far above what any accepted input costs (a full 64 KiB
// document parses in milliseconds); it is there to catch exponential work,
// not to benchmark, and is longer under -race.
var parseDeadline = yamltest.TimeLimit(5 * time.Second)

// maxParseAlloc bounds the bytes one Parse may allocate. The densest alias
// document go.yaml.in/yaml/v2 lets through its own ratio check costs about
// 40 MB; an expanded alias bomb costs gigabytes.
const maxParseAlloc = 128 << 20

const fuzzHead = "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\n"

// utf16LE encodes s as UTF-16 little endian with a byte order mark, which
// go.yaml.in/yaml/v2 decodes.
func utf16LE(s string) string {
	b := []byte{0xff, 0xfe}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return string(b)
}

// padTo grows a document to exactly size bytes with a long annotation.
func padTo(size int) string {
	doc := fuzzHead + "spec:\n  version: v1.0.0\nmetadata:\n  annotations:\n    note: "
	return doc + strings.Repeat("x", size-len(doc)-1) + "\n"
}

// desiredSeeds is the seed corpus, built here rather than committed: the
// large seeds are a line of strings.Repeat each and follow MaxFileSize. The
// seeds marked "Regression" found a bug; keep them. A crasher go test -fuzz
// writes under testdata/fuzz becomes a named seed here once it is fixed.
func desiredSeeds() []yamltest.Seed {
	pinned := fuzzHead + "spec:\n  version: v1.4.2\n"
	s := yamltest.S
	return []yamltest.Seed{
		// Valid documents, in the shapes people and tools write.
		s("valid-pinned", pinned),
		s("valid-latest", fuzzHead+"spec:\n  version: latest\n"),
		s("valid-prerelease", fuzzHead+"spec:\n  version: v2.0.0-rc.1\n"),
		s("valid-commit", fuzzHead+"spec:\n  version: v1.0.0\n  commit: 0123456789ABCDEF0123456789abcdef01234567\n"),
		s("valid-metadata", fuzzHead+"metadata:\n  name: web-1\n  annotations:\n    owner: ansible\n    updates.better-paas.io/retry-at: \"2026-11-29T12:00:00Z\"\nspec:\n  version: v1.0.0\n"),
		s("valid-defaulted", "spec:\n  version: ' v1.0.0 '\n"),
		s("valid-flow", "{apiVersion: updates.better-paas.io/v1, kind: DesiredVersion, spec: {version: latest}}\n"),
		s("valid-json", `{"apiVersion":"updates.better-paas.io/v1","kind":"DesiredVersion","spec":{"version":"v1.0.0"}}`),
		s("valid-bom", "\ufeff"+pinned),
		s("valid-utf16", utf16LE(pinned)),
		s("valid-crlf-comments", "# pinned by ansible\r\n"+strings.ReplaceAll(pinned, "\n", "\r\n")),
		s("valid-block-scalar", fuzzHead+"spec:\n  version: |\n    v1.0.0\n"),
		s("valid-tab-after-colon", fuzzHead+"spec:\n  version:\tv1.0.0\n"),
		s("valid-small-alias", fuzzHead+"metadata:\n  annotations:\n    a: &o ops\n    b: *o\nspec:\n  version: v1.0.0\n"),
		s("valid-merge-key", fuzzHead+"spec:\n  <<: {version: v1.0.0}\n"),
		s("valid-document-markers", "---\n"+pinned+"...\n"),
		// Exactly MaxFileSize bytes, the largest file Load accepts; with
		// huge-over-limit it pins the limit to the byte.
		s("valid-at-limit", padTo(MaxFileSize)),
		// Regression: thousands of annotation keys under the limit, which
		// Write spelled out past it, so Write produced a file Load refuses.
		s("valid-grows-on-write", growsOnWrite()),
		// One scalar of nearly 64 KiB: long strings must pass whole.
		s("valid-huge-version", fuzzHead+"spec:\n  version: v1.0.0-"+strings.Repeat("a", MaxFileSize-200)+"\n"),
		// Policy: a hold, maintenance windows, a minimum release age.
		s("valid-policy", fuzzHead+"spec:\n  version: latest\n  hold: {until: \"2026-12-24T00:00:00+01:00\", reason: freeze}\n  windows:\n  - {schedule: \"0 2 * * 6\", duration: 4h, timeZone: Europe/Berlin}\n  - {schedule: \"@daily\", duration: 30m}\n  minReleaseAge: 72h\n"),
		s("valid-policy-empty", fuzzHead+"spec:\n  version: latest\n  hold: null\n  windows: []\n  minReleaseAge: 0s\n"),
		s("valid-hold-unquoted-time", fuzzHead+"spec:\n  version: v1.0.0\n  hold:\n    until: 2026-12-24T00:00:00Z\n"),
		s("policy-hold-no-until", fuzzHead+"spec:\n  version: v1.0.0\n  hold: {reason: freeze}\n"),
		s("policy-hold-bad-time", fuzzHead+"spec:\n  version: v1.0.0\n  hold: {until: tomorrow}\n"),
		s("policy-window-bad-cron", fuzzHead+"spec:\n  version: v1.0.0\n  windows: [{schedule: \"61 * * * *\", duration: 1h}]\n"),
		s("policy-window-every", fuzzHead+"spec:\n  version: v1.0.0\n  windows: [{schedule: \"@every 1h\", duration: 1h}]\n"),
		s("policy-window-never", fuzzHead+"spec:\n  version: v1.0.0\n  windows: [{schedule: \"0 0 30 2 *\", duration: 1h}]\n"),
		s("policy-window-zone", fuzzHead+"spec:\n  version: v1.0.0\n  windows: [{schedule: \"0 2 * * *\", duration: 1h, timeZone: Mars/Olympus}]\n"),
		s("policy-window-no-duration", fuzzHead+"spec:\n  version: v1.0.0\n  windows: [{schedule: \"0 2 * * *\"}]\n"),
		s("policy-window-number-duration", fuzzHead+"spec:\n  version: v1.0.0\n  windows: [{schedule: \"0 2 * * *\", duration: 3600}]\n"),
		s("policy-age-negative", fuzzHead+"spec:\n  version: latest\n  minReleaseAge: -1h\n"),
		s("policy-age-days", fuzzHead+"spec:\n  version: latest\n  minReleaseAge: 3d\n"),
		// Alias bombs: rejected, quickly. TestParseBoundsAliasExpansion
		// measures every alias-* seed.
		s("alias-laughs", yamltest.AliasBomb("lol", 9, 9, 0)),
		// Regression: this 21 KB document of aliases to a 20,000-byte string
		// took 6-9 s and 1.37 GB to parse before expansion was bounded.
		s("alias-strings", yamltest.AliasBomb(strings.Repeat("x", 20000), 4, 10, 400)),
		// The densest aliasing go.yaml.in/yaml/v2's own ratio check lets
		// through: the costliest bomb that is not ours to refuse.
		s("alias-maps", yamltest.AliasBomb("{k: v}", 5, 10, 4000)),
		s("alias-undefined", fuzzHead+"spec: *nope\n"),
		s("alias-recursive", "a: &a [*a]\n"),
		// Duplicate keys.
		s("dup-top", pinned+"kind: DesiredVersion\n"),
		s("dup-spec", fuzzHead+"spec:\n  version: v1.0.0\n  version: v1.0.1\n"),
		s("dup-case", fuzzHead+"spec:\n  version: v1.0.0\n  Version: v9.9.9\n"),
		s("dup-annotation", fuzzHead+"metadata:\n  annotations:\n    a: x\n    a: y\nspec:\n  version: v1.0.0\n"),
		s("dup-json", `{"apiVersion":"updates.better-paas.io/v1","kind":"DesiredVersion","spec":{"version":"v1.0.0","version":"v2.0.0"}}`),
		// Huge values: one byte over MaxFileSize is refused, whatever makes
		// it long, a value or a comment nothing decodes.
		s("huge-over-limit", padTo(MaxFileSize+1)),
		s("huge-comment", "# "+strings.Repeat("x", MaxFileSize)+"\n"+pinned),
		s("huge-version-over", fuzzHead+"spec:\n  version: v1.0.0-"+strings.Repeat("a", MaxFileSize)+"\n"),
		// Wrong kinds and apiVersions.
		s("wrong-kind", "apiVersion: updates.better-paas.io/v1\nkind: VersionStatus\nspec:\n  version: v1.0.0\n"),
		s("wrong-apiversion", "apiVersion: v1\nkind: DesiredVersion\nspec:\n  version: v1.0.0\n"),
		s("wrong-status-document", "apiVersion: updates.better-paas.io/v1\nkind: VersionStatus\nobservedGeneration: 1\n"),
		s("wrong-kind-case", "apiVersion: updates.better-paas.io/v1\nkind: desiredversion\nspec:\n  version: v1.0.0\n"),
		// Wrong types.
		s("type-version-list", fuzzHead+"spec:\n  version: [v1.0.0]\n"),
		s("type-version-map", fuzzHead+"spec:\n  version: {tag: v1.0.0}\n"),
		s("type-version-float", fuzzHead+"spec:\n  version: 1.0\n"),
		s("type-version-int", fuzzHead+"spec:\n  version: 1\n"),
		s("type-version-bignum", fuzzHead+"spec:\n  version: 123456789012345678901234567890\n"),
		s("type-version-null", fuzzHead+"spec:\n  version: null\n"),
		s("type-version-bool", fuzzHead+"spec:\n  version: yes\n"),
		s("type-version-binary", fuzzHead+"spec:\n  version: !!binary djEuMC4w\n"),
		s("type-version-timestamp", fuzzHead+"spec:\n  version: 2001-12-14\n"),
		s("type-spec-list", fuzzHead+"spec: [v1.0.0]\n"),
		s("type-spec-string", fuzzHead+"spec: v1.0.0\n"),
		s("type-spec-null", fuzzHead+"spec: ~\n"),
		s("type-metadata-list", fuzzHead+"metadata: [a]\nspec:\n  version: v1.0.0\n"),
		s("type-annotations-nested", fuzzHead+"metadata:\n  annotations:\n    a: {b: c}\nspec:\n  version: v1.0.0\n"),
		s("type-annotations-keys", fuzzHead+"metadata:\n  annotations: {1: 2, 1.5: x, true: null}\nspec:\n  version: v1.0.0\n"),
		s("type-apiversion-number", "apiVersion: 1\nkind: DesiredVersion\nspec:\n  version: v1.0.0\n"),
		s("type-top-list", "- "+strings.ReplaceAll(pinned, "\n", "\n  ")),
		s("type-top-scalar", "v1.0.0\n"),
		s("type-top-null", "null\n"),
		// Deep nesting: refused or parsed, without exhausting the stack.
		// 10,001 flow levels is one past go.yaml.in/yaml/v2's depth limit.
		s("deep-flow-over", strings.Repeat("[", 10001)+strings.Repeat("]", 10001)),
		s("deep-flow-annotation", fuzzHead+"metadata:\n  annotations:\n    a: "+strings.Repeat("[", 5000)+strings.Repeat("]", 5000)+"\nspec:\n  version: v1.0.0\n"),
		s("deep-block", deepBlock(300)),
		// Encodings and whitespace.
		s("utf8-invalid-value", fuzzHead+"spec:\n  version: v1.0.0-\xc3\x28\n"),
		s("utf8-lone-continuation", "\x80"+pinned),
		s("utf8-overlong", fuzzHead+"spec:\n  version: \"v1.0.0\xc0\xaf\"\n"),
		s("utf8-escaped-invalid", fuzzHead+"spec:\n  version: \"v1.0.0-\\xff\"\n"),
		s("control-char", fuzzHead+"spec:\n  version: \"v1.0.0\\a\"\n"),
		s("nul", "\x00"),
		// Every byte value once, after a valid head: what a torn or
		// overwritten file looks like, and an alphabet for the mutator.
		s("binary-all-bytes", fuzzHead+yamltest.AllBytes()),
		s("tab-indent", fuzzHead+"spec:\n\tversion: v1.0.0\n"),
		s("bom-middle", fuzzHead+"\ufeffspec:\n  version: v1.0.0\n"),
		// JSON that is not quite right, and empty input.
		s("json-trailing-comma", `{"apiVersion":"updates.better-paas.io/v1","kind":"DesiredVersion","spec":{"version":"v1.0.0",}}`),
		s("json-truncated", `{"apiVersion":"updates.better-paas.io/v1","kind":"DesiredVersion","spec":{"version":"v1.0.0"`),
		s("empty", ""),
		s("whitespace", " \n\t\n"),
		s("comment-only", "# nothing here\n"),
		s("document-marker-only", "---\n"),
		// Regression: more than one document, of which only the first was
		// read; a second document after --- must be refused, even an empty
		// one or one after the end marker.
		s("multi-garbage", pinned+"---\nspec: [\n"),
		s("multi-valid", pinned+"---\n"+fuzzHead+"spec:\n  version: v9.9.9\n"),
		s("multi-empty", pinned+"---\n"),
		s("multi-after-end", pinned+"...\n"+fuzzHead+"spec:\n  version: v9.9.9\n"),
	}
}

// growsOnWrite is a valid document under MaxFileSize whose annotations
// Write spells out longer (block style, "1" quoted): about 80 KiB.
func growsOnWrite() string {
	var b strings.Builder
	b.WriteString(fuzzHead + "spec: {version: v1.0.0}\nmetadata:\n  annotations: {")
	for i := 0; b.Len() < MaxFileSize-100; i++ {
		fmt.Fprintf(&b, "k%d: 1, ", i)
	}
	b.WriteString("k: 1}\n")
	return b.String()
}

// deepBlock nests block mappings depth deep under metadata.
func deepBlock(depth int) string {
	return fuzzHead + "spec:\n  version: v1.0.0\nmetadata:\n" + yamltest.DeepBlock(depth)
}

// sentinels are the errors Parse may wrap; every failure wraps one.
var sentinels = []error{ErrInvalidYAML, ErrWrongType, ErrMissingVersion, ErrInvalidVersion, ErrInvalidCommit, ErrTooLarge,
	ErrInvalidChannel, ErrInvalidHold, ErrInvalidWindow, ErrInvalidMinReleaseAge}

// FuzzParseDesired checks Parse's contract on any input: it never panics,
// stays bounded in time, fails with an error that wraps a sentinel and names
// the file, and what it accepts is one valid document that survives Write
// and Load unchanged.
func FuzzParseDesired(f *testing.F) {
	seeds := desiredSeeds()
	yamltest.AddSeeds(f, seeds)
	f.Fuzz(func(t *testing.T, data []byte) {
		yamltest.NameFailedSeed(t, seeds, data)
		const name = "fuzz/desired.yaml"
		start := time.Now()
		d, err := Parse(name, data)
		if took := time.Since(start); took > parseDeadline {
			t.Errorf("Parse took %v on %d bytes", took, len(data))
		}
		if err != nil {
			checkParseError(t, name, d, err)
			return
		}
		checkAccepted(t, data, d)
		checkRemembered(t, data, d)
		checkRoundTrip(t, d)
	})
}

// checkRemembered: Load of bytes it parsed before returns what Parse
// returns for them (Load's parsecache relies on it).
func checkRemembered(t *testing.T, data []byte, d *DesiredVersion) {
	t.Helper()
	parsecachetest.Check(t, data, d, Load,
		func(path string, data []byte) bool { return parsed.Get(path, data) != nil },
		func(a, b *DesiredVersion) bool {
			return reflect.DeepEqual(normalised(a), normalised(b)) && a.Digest() == b.Digest()
		},
		func(got *DesiredVersion) {
			got.Spec.Version, got.Metadata.Annotations = "v9.9.9", map[string]string{"changed": "by the caller"}
		})
}

func checkParseError(t *testing.T, name string, d *DesiredVersion, err error) {
	t.Helper()
	if d != nil {
		t.Errorf("Parse returned a document with error %v", err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Errorf("error %q does not name %s", err, name)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Errorf("error %q wraps no sentinel", err)
}

// checkAccepted asserts what a successful Parse promises about d and data.
func checkAccepted(t *testing.T, data []byte, d *DesiredVersion) {
	t.Helper()
	if len(data) > MaxFileSize {
		t.Errorf("accepted %d bytes, limit %d", len(data), MaxFileSize)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("accepted an invalid document: %v", err)
	}
	if v := d.Spec.Version; v != Latest && (!semver.IsValid(v) || semver.Canonical(v) != v || semver.Build(v) != "") {
		t.Errorf("accepted version %q, which is neither %q nor a canonical tag", v, Latest)
	}
	yamltest.CheckOneStrictDocument(t, data)
}

// checkRoundTrip writes d and loads it back: the spec, its digest and the
// whole document (empty and missing annotations being the same) survive.
func checkRoundTrip(t *testing.T, d *DesiredVersion) {
	t.Helper()
	b, err := yaml.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "desired.yaml")
	if err := Write(path, d); err != nil {
		// Write may spell a document out longer than it was read; what
		// Load would refuse, it must refuse too, and leave no file.
		if _, statErr := os.Stat(path); !errors.Is(err, ErrTooLarge) || len(b) <= MaxFileSize || statErr == nil {
			t.Fatalf("cannot write an accepted document (%d bytes encoded): %v", len(b), err)
		}
		return
	}
	got, err := Load(path)
	if err != nil {
		t.Fatalf("cannot load what Write wrote: %v\n%s", err, yamltest.Clip(b))
	}
	if !reflect.DeepEqual(got.Spec, d.Spec) || got.Digest() != d.Digest() {
		t.Errorf("round trip changed the spec: %+v %s -> %+v %s", d.Spec, d.Digest(), got.Spec, got.Digest())
	}
	if !reflect.DeepEqual(normalised(got), normalised(d)) {
		t.Errorf("round trip changed the document:\n%s\n->\n%s", yamltest.Clip(fmt.Sprintf("%#v", d)), yamltest.Clip(fmt.Sprintf("%#v", got)))
	}
}

// normalised treats an empty annotation map like a missing one: omitempty
// drops it on write, and nothing reads the difference.
func normalised(d *DesiredVersion) DesiredVersion {
	c := *d
	if len(c.Metadata.Annotations) == 0 {
		c.Metadata.Annotations = nil
	}
	return c
}

// TestParseBoundsAliasExpansion measures the alias bombs: each must be
// refused with an error naming the file, allocate under maxParseAlloc and
// finish under parseDeadline. Run with -v for the numbers.
func TestParseBoundsAliasExpansion(t *testing.T) {
	parse := func(data []byte) error {
		_, err := Parse("bomb.yaml", data)
		return err
	}
	yamltest.CheckAliasBombs(t, desiredSeeds(), maxParseAlloc, parseDeadline, parse, func(t *testing.T, err error) {
		if err == nil || !strings.Contains(err.Error(), "bomb.yaml") {
			t.Errorf("err = %v, want an error naming bomb.yaml", err)
		}
	})
}
