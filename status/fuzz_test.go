package status

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/parsecache/parsecachetest"
	"github.com/better-paas/updater/internal/strictyaml/yamltest"
)

// parseDeadline is far above what any accepted input costs (a full 1 MiB
// document parses in well under a second); it catches exponential work,
// and is longer under -race.
var parseDeadline = yamltest.TimeLimit(5 * time.Second)

// maxParseAlloc bounds the bytes one Parse may allocate. The densest alias
// document go.yaml.in/yaml/v2 lets through its own ratio check costs about
// 40 MB; an expanded alias bomb costs gigabytes.
const maxParseAlloc = 128 << 20

const fuzzHead = "apiVersion: updates.better-paas.io/v1\nkind: VersionStatus\n"

// fuzzValid is a full status.yaml: every field set, times in several zones.
const fuzzValid = fuzzHead + `observedGeneration: 3
observedSpecDigest: sha256:abc
desiredVersion: latest
targetVersion: v1.2.0
currentVersion: v1.1.0
currentCommit: "1111111111111111111111111111111111111111"
lastKnownGood: {version: v1.1.0, commit: "1111111111111111111111111111111111111111", binarySHA256: feed}
previousGood: {version: v1.0.0, commit: "0000000000000000000000000000000000000000"}
serviceRestarts: 2
lastServiceRestart: "2026-11-29T08:00:00+01:00"
operation:
  id: 20261129T120000Z-v1.2.0
  from: {version: v1.1.0}
  to: {version: v1.2.0, commit: "2222222222222222222222222222222222222222"}
  step: health
  phase: Undo
  attempt: 2
  done: [backup, fetch, checkout]
  failure: {step: health, reason: HealthCheckFailed, message: "GET /api/health: 503"}
  startedAt: "2026-11-29T14:00:00.123456789+02:00"
knownTags: {v1.1.0: "1111111111111111111111111111111111111111"}
policy: {reason: WindowClosed, message: "next window opens at 02:00", version: v1.3.0, until: "2026-12-05T02:00:00+01:00"}
conditions:
- {type: Ready, status: "False", observedGeneration: 3, lastTransitionTime: "2026-11-29T12:00:00Z", reason: Progressing}
- {type: Reconciling, status: "True", lastTransitionTime: "2026-11-29T07:00:00-05:00", reason: Progressing, message: "updating *v1.2.0* & more"}
history:
- {id: op1, from: v1.0.0, to: v1.1.0, result: Succeeded, startedAt: "2026-11-29T12:00:00Z", finishedAt: "2026-11-29T12:01:00Z"}
failedVersions:
- {version: v0.9.0, step: build, reason: BuildFailed, failedAt: "2026-11-28T12:00:00Z", generation: 2}
updater:
  version: v0.3.0
  previousVersion: v0.2.0
  lastCheck: "2026-11-29T09:00:00+03:00"
  lastSelfUpdate: {from: v0.3.0, to: v0.4.0, result: Failed, reason: TrialFailed, message: "plan exited 1", time: "2026-11-29T09:00:01-02:00"}
  failedVersions:
  - {version: v0.4.0, reason: TrialFailed, message: "plan exited 1", failedAt: "2026-11-29T09:00:01+05:30"}
fleet:
  repo: https://git.example.com/ops/fleet.git
  branch: main
  commit: "3333333333333333333333333333333333333333"
  path: hosts/web-1/desired.yaml
  cohort: 42
  result: Refused
  reason: Unsigned
  message: "refusing commit 3333333: commit is not signed"
  syncedAt: "2026-11-29T10:00:00+01:00"
  applied: {commit: "2222222222222222222222222222222222222222", path: fleet/desired.yaml, version: v1.2.0, generation: "sha256:ab", at: "2026-11-29T08:00:00-03:00"}
`

// messageOf grows a valid document to exactly size bytes with a long
// condition message.
func messageOf(size int) string {
	doc := fuzzHead + "conditions:\n- type: Ready\n  status: \"False\"\n  lastTransitionTime: \"2026-11-29T12:00:00Z\"\n  reason: BuildFailed\n  message: "
	return doc + strings.Repeat("x", size-len(doc)-1) + "\n"
}

// manyKnownTags is a valid document with n knownTags, each a tag and a
// commit: about 55 bytes a tag.
func manyKnownTags(n int) string {
	var b strings.Builder
	b.WriteString(fuzzHead + "knownTags:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  v1.%d.%d: \"%040x\"\n", i/100, i%100, i)
	}
	return b.String()
}

// statusSeeds is the seed corpus, built here rather than committed: the
// megabyte seeds are a line of strings.Repeat each and follow MaxFileSize.
// The seeds marked "Regression" found a bug; keep them. A crasher go test
// -fuzz writes under testdata/fuzz becomes a named seed here once it is
// fixed. Under -short the seeds over yamltest.ShortMaxLen are left out.
func statusSeeds() []yamltest.Seed {
	minimal := fuzzHead + "observedGeneration: 0\n"
	s := yamltest.S
	return []yamltest.Seed{
		// Valid documents.
		s("valid-full", fuzzValid),
		s("valid-minimal", minimal),
		s("valid-head-only", fuzzHead),
		s("valid-json", `{"apiVersion":"updates.better-paas.io/v1","kind":"VersionStatus","observedGeneration":7,"history":[{"id":"a","to":"v1.0.0","result":"Succeeded","startedAt":"2026-01-02T03:04:05Z","finishedAt":"2026-01-02T03:04:06Z"}]}`),
		s("valid-bom", "\ufeff"+fuzzValid),
		s("valid-crlf", strings.ReplaceAll(fuzzValid, "\n", "\r\n")),
		s("valid-empty-lists", fuzzHead+"conditions: []\nhistory: []\nfailedVersions: []\nknownTags: {}\noperation: {done: []}\nupdater: {failedVersions: []}\n"),
		s("valid-null-fields", fuzzHead+"operation: null\nlastKnownGood: ~\nconditions: null\n"),
		s("valid-policy-no-until", fuzzHead+"policy: {reason: WindowClosed, message: \"no window opens again\"}\n"),
		s("type-policy-until", fuzzHead+"policy: {reason: Held, until: next week}\n"),
		s("valid-zero-time", fuzzHead+"operation: {startedAt: \"0001-01-01T00:00:00Z\"}\n"),
		s("valid-time-edges", fuzzHead+"history:\n- {startedAt: \"0000-01-01T00:00:00+01:00\", finishedAt: \"9999-12-31T23:59:59.999999999-23:59\"}\n"),
		s("valid-max-int", fuzzHead+"observedGeneration: 9223372036854775807\noperation: {attempt: -1}\n"),
		s("valid-small-alias", fuzzHead+"lastKnownGood: &r {version: v1.0.0}\noperation: {from: *r, to: *r}\n"),
		// 1 KiB under MaxFileSize: a long message Save writes back whole.
		s("valid-near-limit", messageOf(MaxFileSize-1024)),
		// Regression: exactly MaxFileSize, which Load accepts and Save
		// spells out 22 bytes longer; Save wrote a file Load refuses.
		s("valid-at-limit", messageOf(MaxFileSize)),
		s("valid-block-message", fuzzHead+"conditions:\n- type: Ready\n  message: |\n    line one\n    line two\n"),
		// Alias bombs: refused, quickly. TestParseBoundsAliasExpansion
		// measures every alias-* seed.
		s("alias-laughs", yamltest.AliasBomb("lol", 9, 9, 0)),
		// Regression: the 21 KB alias document that took 6-9 s and 1.37 GB
		// as desired.yaml; status.yaml goes through the same strict parser.
		s("alias-strings", yamltest.AliasBomb(strings.Repeat("x", 20000), 4, 10, 400)),
		// The same scaled to status.yaml's larger bounds (1 MiB files,
		// 4 MiB expanded): a 200 KB leaf.
		s("alias-strings-large", yamltest.AliasBomb(strings.Repeat("x", 200000), 4, 10, 400)),
		// The densest aliasing go.yaml.in/yaml/v2's own ratio check lets
		// through: the costliest bomb that is not ours to refuse.
		s("alias-maps", yamltest.AliasBomb("{k: v}", 5, 10, 4000)),
		s("alias-undefined", fuzzHead+"operation: *nope\n"),
		s("alias-recursive", "a: &a [*a]\n"),
		// Duplicate keys.
		s("dup-top", fuzzHead+"kind: VersionStatus\n"),
		s("dup-nested", fuzzHead+"operation: {step: a, step: b}\n"),
		s("dup-case", fuzzHead+"observedGeneration: 1\nObservedGeneration: 2\n"),
		s("dup-known-tags", fuzzHead+"knownTags:\n  v1.0.0: a\n  v1.0.0: b\n"),
		// Huge values. One byte over MaxFileSize is refused.
		s("huge-over-limit", messageOf(MaxFileSize+1)),
		// Long lists and maps, the shapes status.yaml grows in: history
		// entries, and one knownTags key per release tag the daemon used.
		s("huge-history", fuzzHead+"history:\n"+strings.Repeat("- {id: x, to: v1.0.0, result: Succeeded}\n", 500)),
		s("many-known-tags", manyKnownTags(1000)),
		// Wrong kinds and apiVersions.
		s("wrong-kind", "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\n"),
		s("wrong-desired-document", "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: v1.0.0\n"),
		s("wrong-apiversion", "apiVersion: updates.better-paas.io/v2\nkind: VersionStatus\n"),
		s("wrong-missing-kind", "apiVersion: updates.better-paas.io/v1\nobservedGeneration: 1\n"),
		// Wrong types.
		s("type-generation-string", fuzzHead+"observedGeneration: three\n"),
		s("type-generation-float", fuzzHead+"observedGeneration: 1.5\n"),
		s("type-generation-overflow", fuzzHead+"observedGeneration: 1e30\n"),
		s("type-generation-list", fuzzHead+"observedGeneration: [1]\n"),
		s("type-attempt-null", fuzzHead+"operation: {attempt: null}\n"),
		s("type-time-invalid", fuzzHead+"operation: {startedAt: yesterday}\n"),
		s("type-time-number", fuzzHead+"operation: {startedAt: 1700000000}\n"),
		s("type-time-unquoted", fuzzHead+"operation: {startedAt: 2026-11-29T12:00:00Z}\n"),
		s("type-time-date", fuzzHead+"operation: {startedAt: 2026-11-29}\n"),
		s("type-conditions-string", fuzzHead+"conditions: Ready\n"),
		s("type-conditions-map", fuzzHead+"conditions: {type: Ready}\n"),
		s("type-history-map", fuzzHead+"history: {a: 1}\n"),
		s("type-operation-list", fuzzHead+"operation: [step]\n"),
		s("type-known-tags-list", fuzzHead+"knownTags: [v1.0.0]\n"),
		s("type-known-tags-keys", fuzzHead+"knownTags: {1: 2, true: x, null: y}\n"),
		s("type-version-number", fuzzHead+"currentVersion: 1.10\n"),
		s("type-top-list", "- apiVersion: updates.better-paas.io/v1\n  kind: VersionStatus\n"),
		s("type-top-scalar", "VersionStatus\n"),
		s("type-top-null", "~\n"),
		// Deep nesting: refused or parsed, without exhausting the stack.
		// 10,001 flow levels is one past go.yaml.in/yaml/v2's depth limit.
		s("deep-flow-over", strings.Repeat("[", 10001)+strings.Repeat("]", 10001)),
		s("deep-flow", fuzzHead+"history: "+strings.Repeat("[", 9000)+strings.Repeat("]", 9000)+"\n"),
		s("deep-block", fuzzHead+"operation:\n"+yamltest.DeepBlock(1000)),
		// Encodings and whitespace.
		s("utf8-invalid", fuzzHead+"currentVersion: v1.0.0\xff\n"),
		s("utf8-escaped-invalid", fuzzHead+"conditions:\n- message: \"\\xff\\xfe\"\n"),
		s("utf8-truncated", fuzzHead+"currentVersion: \xe2\x82\n"),
		s("control-char", fuzzHead+"currentVersion: \"\\0\\b\"\n"),
		s("nul", "\x00\x01\x02"),
		// Every byte value once, after a valid head: a torn or overwritten
		// file, and an alphabet for the mutator.
		s("binary-all-bytes", fuzzHead+yamltest.AllBytes()),
		s("tab-indent", fuzzHead+"operation:\n\tstep: a\n"),
		s("bom-middle", fuzzHead+"\ufeffobservedGeneration: 1\n"),
		// JSON that is not quite right, empty input, more than one document.
		s("json-truncated", `{"apiVersion":"updates.better-paas.io/v1","kind":"VersionStatus"`),
		s("json-string", `"{\"apiVersion\":\"updates.better-paas.io/v1\"}"`),
		s("empty", ""),
		s("whitespace", "\n\n   \n"),
		s("truncated", fuzzValid[:len(fuzzValid)/2]),
		// Regression: more than one document, of which only the first was
		// read; a second document after --- must be refused, even an empty
		// one or one after the end marker.
		s("multi-garbage", fuzzValid+"---\nconditions: [\n"),
		s("multi-valid", minimal+"---\n"+minimal),
		s("multi-empty", minimal+"---\n"),
		s("multi-after-end", minimal+"...\n"+minimal),
	}
}

// FuzzParseStatus checks Parse's contract on any input: it never panics,
// stays bounded in time, fails with an error that wraps ErrCorrupt (or
// ErrNewer, for a document of a newer updater) and names the file, and what it accepts is one status.yaml document that
// survives Save and Load unchanged.
func FuzzParseStatus(f *testing.F) {
	seeds := statusSeeds()
	yamltest.AddSeeds(f, seeds)
	f.Fuzz(func(t *testing.T, data []byte) {
		yamltest.NameFailedSeed(t, seeds, data)
		const name = "fuzz/status.yaml"
		start := time.Now()
		s, err := Parse(name, data)
		if took := time.Since(start); took > parseDeadline {
			t.Errorf("Parse took %v on %d bytes", took, len(data))
		}
		if err != nil {
			if s != nil {
				t.Errorf("Parse returned a document with error %v", err)
			}
			if !(errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNewer)) || !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not wrap ErrCorrupt or ErrNewer and name %s", err, name)
			}
			return
		}
		checkAccepted(t, data, s)
		checkRemembered(t, data, s)
		checkRoundTrip(t, s)
	})
}

// checkRemembered: Load of bytes it parsed before returns what Parse
// returns for them (status.Load's parsecache relies on it).
func checkRemembered(t *testing.T, data []byte, s *VersionStatus) {
	t.Helper()
	parsecachetest.Check(t, data, s, Load,
		func(path string, data []byte) bool { return parsed.Get(path, data) != nil },
		func(a, b *VersionStatus) bool { return reflect.DeepEqual(normalised(a), normalised(b)) },
		func(got *VersionStatus) {
			got.CurrentVersion, got.KnownTags = "changed by the caller", map[string]string{"v9.9.9": "x"}
		})
}

// checkAccepted asserts what a successful Parse promises about s and data.
func checkAccepted(t *testing.T, data []byte, s *VersionStatus) {
	t.Helper()
	if len(data) > MaxFileSize {
		t.Errorf("accepted %d bytes, limit %d", len(data), MaxFileSize)
	}
	if s.APIVersion != APIVersion || s.Kind != Kind {
		t.Errorf("accepted apiVersion %q kind %q", s.APIVersion, s.Kind)
	}
	yamltest.CheckOneStrictDocument(t, data)
}

// checkRoundTrip saves s and loads it back: the document is unchanged up to
// time zones and empty-versus-missing lists and maps.
func checkRoundTrip(t *testing.T, s *VersionStatus) {
	t.Helper()
	want := normalised(s)
	b, err := yaml.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "status.yaml")
	if err := Save(path, s); err != nil {
		// Save may spell a document out longer than it was read; what
		// Load would refuse, it must refuse too, and leave no file.
		if _, statErr := os.Stat(path); !errors.Is(err, ErrTooLarge) || len(b) <= MaxFileSize || statErr == nil {
			t.Fatalf("cannot save an accepted document (%d bytes encoded): %v", len(b), err)
		}
		return
	}
	got, err := Load(path) // remembered by Save
	if err != nil {
		t.Fatalf("cannot load what Save wrote: %v\n%s", err, yamltest.Clip(b))
	}
	if g := normalised(got); !reflect.DeepEqual(g, want) {
		t.Errorf("round trip changed the document:\n%s\n->\n%s", yamltest.Clip(fmt.Sprintf("%#v", want)), yamltest.Clip(fmt.Sprintf("%#v", g)))
	}
	written, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, b) {
		t.Errorf("Save wrote other bytes than yaml.Marshal:\n%s\n%s", yamltest.Clip(string(written)), yamltest.Clip(string(b)))
	}
	fromFile, err := Parse(path, written)
	if err != nil {
		t.Fatalf("cannot parse what Save wrote: %v", err)
	}
	if g, p := normalised(got), normalised(fromFile); !reflect.DeepEqual(g, p) {
		t.Errorf("Load after Save differs from parsing the file:\n%s\n->\n%s", yamltest.Clip(fmt.Sprintf("%#v", p)), yamltest.Clip(fmt.Sprintf("%#v", g)))
	}
}

// normalised returns a deep copy of s with every time in UTC (a parsed
// offset becomes a fresh *time.Location, which DeepEqual compares by
// pointer) and empty lists and maps nil (omitempty drops them on save).
func normalised(s *VersionStatus) VersionStatus {
	c := *s
	utc := func(t *time.Time) { *t = t.UTC() }
	if c.LastKnownGood != nil {
		r := *c.LastKnownGood
		c.LastKnownGood = &r
	}
	if c.PreviousGood != nil {
		r := *c.PreviousGood
		c.PreviousGood = &r
	}
	if c.LastServiceRestart != nil {
		t := c.LastServiceRestart.UTC()
		c.LastServiceRestart = &t
	}
	if c.Operation != nil {
		op := *c.Operation
		utc(&op.StartedAt)
		if len(op.Done) == 0 {
			op.Done = nil
		}
		if op.Failure != nil {
			f := *op.Failure
			op.Failure = &f
		}
		c.Operation = &op
	}
	if len(c.KnownTags) == 0 {
		c.KnownTags = nil
	}
	if c.Policy != nil {
		p := *c.Policy
		if p.Until != nil {
			t := p.Until.UTC()
			p.Until = &t
		}
		c.Policy = &p
	}
	c.Conditions = append([]Condition(nil), c.Conditions...)
	for i := range c.Conditions {
		utc(&c.Conditions[i].LastTransitionTime)
	}
	c.History = append([]HistoryEntry(nil), c.History...)
	for i := range c.History {
		utc(&c.History[i].StartedAt)
		utc(&c.History[i].FinishedAt)
	}
	c.FailedVersions = append([]FailedVersion(nil), c.FailedVersions...)
	for i := range c.FailedVersions {
		utc(&c.FailedVersions[i].FailedAt)
	}
	if c.Updater != nil {
		u := *c.Updater
		if u.LastCheck != nil {
			t := u.LastCheck.UTC()
			u.LastCheck = &t
		}
		if u.LastSelfUpdate != nil {
			r := *u.LastSelfUpdate
			utc(&r.Time)
			u.LastSelfUpdate = &r
		}
		u.FailedVersions = append([]FailedSelfUpdate(nil), u.FailedVersions...)
		for i := range u.FailedVersions {
			utc(&u.FailedVersions[i].FailedAt)
		}
		if len(u.FailedVersions) == 0 {
			u.FailedVersions = nil
		}
		c.Updater = &u
	}
	if c.Fleet != nil {
		f := *c.Fleet
		utc(&f.SyncedAt)
		if f.Applied != nil {
			a := *f.Applied
			utc(&a.At)
			f.Applied = &a
		}
		c.Fleet = &f
	}
	return c
}

// TestNormalisedCoversEveryTime guards normalised against new time fields:
// a VersionStatus with every time in a non-UTC zone must come out all UTC.
func TestNormalisedCoversEveryTime(t *testing.T) {
	s, err := Parse("valid", []byte(fuzzValid))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		case reflect.Struct:
			if tm, ok := v.Interface().(time.Time); ok {
				if tm.Location() != time.UTC {
					t.Errorf("%s is in %v after normalised", path, tm.Location())
				}
				return
			}
			for i := 0; i < v.NumField(); i++ {
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		}
	}
	n := normalised(s)
	walk(reflect.ValueOf(n), "status")
	if s.Operation.StartedAt.Location() == time.UTC {
		t.Error("fuzzValid should carry a non-UTC time, or this test proves nothing")
	}
}

// TestParseBoundsAliasExpansion measures the alias bombs: each must be
// refused with ErrCorrupt naming the file, allocate under maxParseAlloc and
// finish under parseDeadline. Run with -v for the numbers.
func TestParseBoundsAliasExpansion(t *testing.T) {
	parse := func(data []byte) error {
		_, err := Parse("bomb.yaml", data)
		return err
	}
	yamltest.CheckAliasBombs(t, statusSeeds(), maxParseAlloc, parseDeadline, parse, func(t *testing.T, err error) {
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bomb.yaml") {
			t.Errorf("err = %v, want ErrCorrupt naming bomb.yaml", err)
		}
	})
}
