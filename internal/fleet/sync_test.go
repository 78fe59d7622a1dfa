package fleet

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/format/idxfile"

	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

func loadStatus(t *testing.T, h host) *status.FleetStatus {
	t.Helper()
	st, err := status.Load(h.Status)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fleet == nil {
		t.Fatal("status.yaml has no fleet block")
	}
	return st.Fleet
}

func desiredVersion(t *testing.T, h host) string {
	t.Helper()
	d, err := spec.Load(h.Desired)
	if err != nil {
		t.Fatal(err)
	}
	return d.Spec.Version
}

// TestSyncPathOrder: a host's own file beats its group's, which beats the
// fleet's; a host without a group skips the group template.
func TestSyncPathOrder(t *testing.T) {
	t.Parallel()
	r := newFleetRepo(t)
	commit := r.commit(map[string]string{
		"hosts/web-1/desired.yaml": plainFile("v1.2.0"),
		"groups/eu/desired.yaml":   plainFile("v1.1.0"),
		"fleet/desired.yaml":       plainFile("v1.0.0"),
	})
	for _, tc := range []struct{ hostname, group, path, version string }{
		{"web-1", "eu", "hosts/web-1/desired.yaml", "v1.2.0"},
		{"web-2", "eu", "groups/eu/desired.yaml", "v1.1.0"},
		{"web-3", "", "fleet/desired.yaml", "v1.0.0"},
		{"web-4", "us", "fleet/desired.yaml", "v1.0.0"},
	} {
		t.Run(tc.hostname, func(t *testing.T) {
			t.Parallel()
			h := newHost(t, r.Bare, tc.hostname, tc.group)
			res := syncOK(t, h.syncer(t))
			if res.Result != status.FleetApplied || res.Path != tc.path || res.Commit != commit {
				t.Fatalf("sync = %+v, want Applied %s at %s", res, tc.path, commit)
			}
			if v := desiredVersion(t, h); v != tc.version {
				t.Errorf("desired.yaml asks for %s, want %s", v, tc.version)
			}
			d, _ := spec.Load(h.Desired)
			if got, want := d.Metadata.Annotations[SourceAnnotation], r.Bare+"#main:"+tc.path; got != want {
				t.Errorf("annotation %s = %q, want %q", SourceAnnotation, got, want)
			}
			fs := loadStatus(t, h)
			if fs.Result != status.FleetApplied || fs.Commit != commit || fs.Path != tc.path || fs.Repo != r.Bare ||
				fs.Applied == nil || fs.Applied.Version != tc.version || fs.Applied.Commit != commit || !strings.HasPrefix(fs.Applied.Generation, "sha256:") {
				t.Errorf("status fleet block = %+v (applied %+v)", fs, fs.Applied)
			}
		})
	}
}

// TestSyncUnchanged: a second sync of the same commit, or of a commit that
// asks for the same thing, writes nothing.
func TestSyncUnchanged(t *testing.T) {
	t.Parallel()
	r := newFleetRepo(t)
	first := r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.0.0")})
	h := newHost(t, r.Bare, "web-1", "")
	s := h.syncer(t)
	syncOK(t, s)
	before, err := os.ReadFile(h.Desired)
	if err != nil {
		t.Fatal(err)
	}
	fi1, _ := os.Stat(h.Desired)
	r.commit(map[string]string{"README.md": "unrelated change\n"})
	res := syncOK(t, s)
	if res.Result != status.FleetUnchanged {
		t.Fatalf("second sync = %s, want Unchanged", res.Result)
	}
	after, _ := os.ReadFile(h.Desired)
	fi2, _ := os.Stat(h.Desired)
	if !bytes.Equal(before, after) || !os.SameFile(fi1, fi2) {
		t.Error("desired.yaml was rewritten although the fleet asks for the same")
	}
	if fs := loadStatus(t, h); fs.Applied == nil || fs.Applied.Commit != first {
		t.Errorf("applied = %+v, want the first commit kept as the last write", fs.Applied)
	}
}

// packs returns the pack index files of a clone and their object counts.
func packs(t *testing.T, clone string) map[string]uint32 {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(clone, "objects", "pack", "*.idx"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint32{}
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			t.Fatal(err)
		}
		idx := idxfile.NewMemoryIndex()
		if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
			t.Fatal(err)
		}
		f.Close()
		c, _ := idx.Count()
		out[filepath.Base(n)] = uint32(c)
	}
	return out
}

// TestSyncFetchesIncrementally: the second sync keeps the clone and its
// packs and fetches only the new commit's objects; a sync with nothing
// new fetches nothing.
func TestSyncFetchesIncrementally(t *testing.T) {
	t.Parallel()
	r := newFleetRepo(t)
	files := map[string]string{"fleet/desired.yaml": plainFile("v1.0.0")}
	for i := range 30 {
		files[filepath.ToSlash(filepath.Join("hosts", "h"+string(rune('a'+i%26))+strings.Repeat("x", i/26), "desired.yaml"))] = plainFile("v1.0." + strconv.Itoa(i))
	}
	r.commit(files)
	r.commit(map[string]string{"notes.txt": "second\n"})
	h := newHost(t, r.Bare, "web-1", "")
	s := h.syncer(t)
	syncOK(t, s)
	clone := CloneDir(h.State)
	first := packs(t, clone)
	if len(first) != 1 {
		t.Fatalf("first sync left packs %v, want one", first)
	}
	var total uint32
	for _, n := range first {
		total = n
	}
	if total < 30 {
		t.Fatalf("first pack holds %d objects; the fixture has more", total)
	}
	syncOK(t, s) // nothing new
	if got := packs(t, clone); !mapsEqual(got, first) {
		t.Fatalf("a sync with nothing new changed the packs: %v → %v", first, got)
	}
	r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.1.0")})
	if res := syncOK(t, s); res.Result != status.FleetApplied {
		t.Fatalf("sync after the new commit = %+v", res)
	}
	second := packs(t, clone)
	for name, n := range first {
		if second[name] != n {
			t.Errorf("pack %s of the first fetch is gone or changed: the clone was made again", name)
		}
	}
	if len(second) != 2 {
		t.Fatalf("packs after the second fetch: %v, want the first and one new", second)
	}
	for name, n := range second {
		// commit, root tree, fleet/ tree, the blob
		if _, old := first[name]; !old && n > 4 {
			t.Errorf("the second fetch brought %d objects (pack %s); the new commit has 4", n, name)
		}
	}
	if v := desiredVersion(t, h); v != "v1.1.0" {
		t.Errorf("desired.yaml asks for %s, want v1.1.0", v)
	}
}

func mapsEqual(a, b map[string]uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestSyncRefusals: whatever is wrong with the fleet repo, desired.yaml
// stays byte for byte as it was, and status says which.
func TestSyncRefusals(t *testing.T) {
	t.Parallel()
	const local = "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: v0.9.0 # set by hand\n"
	for _, tc := range []struct {
		name   string
		setup  func(r *fleetRepo, h *host)
		err    error
		reason string
		msg    string
	}{
		{"unreachable", func(r *fleetRepo, h *host) { h.Source.URL = filepath.Join(h.State, "no-such.git") }, ErrUnreachable, ReasonUnreachable, "no-such.git"},
		{"empty repo", func(r *fleetRepo, h *host) {}, ErrBranchMissing, ReasonBranchMissing, "main"},
		{"missing branch", func(r *fleetRepo, h *host) {
			r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.0.0")})
			h.Source.Branch = "production"
		}, ErrBranchMissing, ReasonBranchMissing, "production"},
		{"missing path", func(r *fleetRepo, h *host) {
			r.commit(map[string]string{"other/desired.yaml": plainFile("v1.0.0")})
		}, ErrPathMissing, ReasonPathMissing, "hosts/web-1/desired.yaml, fleet/desired.yaml"},
		{"folder at path", func(r *fleetRepo, h *host) {
			r.commit(map[string]string{"hosts/web-1/desired.yaml/x": "x\n", "fleet/desired.yaml": plainFile("v1.0.0")})
		}, ErrInvalidFile, ReasonInvalidFile, "not a regular file"},
		{"not yaml", func(r *fleetRepo, h *host) {
			r.commit(map[string]string{"fleet/desired.yaml": "spec: [\n"})
		}, ErrInvalidFile, ReasonInvalidFile, "fleet/desired.yaml"},
		{"unknown field", func(r *fleetRepo, h *host) {
			r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.0.0") + "rollot: {percent: 5}\n"})
		}, ErrInvalidFile, ReasonInvalidFile, "rollot"},
		{"bad version", func(r *fleetRepo, h *host) {
			r.commit(map[string]string{"fleet/desired.yaml": plainFile("1.0")})
		}, spec.ErrInvalidVersion, ReasonInvalidFile, "fleet/desired.yaml"},
		{"rollout in DesiredVersion", func(r *fleetRepo, h *host) {
			r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.0.0") + "rollout: {percent: 5}\n"})
		}, ErrInvalidFile, ReasonInvalidFile, "kind FleetDesiredVersion"},
		{"percent out of range", func(r *fleetRepo, h *host) {
			r.commit(map[string]string{"fleet/desired.yaml": fleetFile("v1.0.0", 150)})
		}, ErrInvalidFile, ReasonInvalidFile, "rollout.percent 150"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newFleetRepo(t)
			h := newHost(t, r.Bare, "web-1", "")
			tc.setup(r, &h)
			if err := os.WriteFile(h.Desired, []byte(local), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := h.syncer(t).Sync(context.Background())
			if !errors.Is(err, tc.err) {
				t.Fatalf("Sync error = %v, want %v", err, tc.err)
			}
			if res.Result != status.FleetRefused || res.Reason != tc.reason || !strings.Contains(res.Message, tc.msg) {
				t.Errorf("result = %s %s %q, want Refused %s mentioning %q", res.Result, res.Reason, res.Message, tc.reason, tc.msg)
			}
			if got, _ := os.ReadFile(h.Desired); string(got) != local {
				t.Errorf("desired.yaml changed:\n%s", got)
			}
			if fs := loadStatus(t, h); fs.Reason != tc.reason || fs.Result != status.FleetRefused {
				t.Errorf("status fleet block = %+v", fs)
			}
		})
	}
}

// TestRefusalKeepsLastWrite: a refused commit after a good one leaves
// desired.yaml and status' applied record as the good one made them.
func TestRefusalKeepsLastWrite(t *testing.T) {
	t.Parallel()
	r := newFleetRepo(t)
	good := r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.0.0")})
	h := newHost(t, r.Bare, "web-1", "")
	s := h.syncer(t)
	syncOK(t, s)
	bad := r.commit(map[string]string{"fleet/desired.yaml": "kind: Nonsense\n"})
	res, err := s.Sync(context.Background())
	if !errors.Is(err, ErrInvalidFile) || res.Commit != bad || res.Path != "fleet/desired.yaml" {
		t.Fatalf("Sync = %+v, %v", res, err)
	}
	if !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), r.Bare) {
		t.Errorf("error %q does not name the repo and commit", err)
	}
	fs := loadStatus(t, h)
	if fs.Applied == nil || fs.Applied.Commit != good || fs.Commit != bad {
		t.Errorf("status = %+v applied %+v; want commit %s, applied %s", fs, fs.Applied, bad, good)
	}
	if v := desiredVersion(t, h); v != "v1.0.0" {
		t.Errorf("desired.yaml asks for %s", v)
	}
}

// TestSyncKeepsOtherStatus: the fleet block is added to status.yaml, the
// reconciler's records left as they were.
func TestSyncKeepsOtherStatus(t *testing.T) {
	t.Parallel()
	r := newFleetRepo(t)
	r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.0.0")})
	h := newHost(t, r.Bare, "web-1", "")
	st := status.New()
	st.CurrentVersion, st.ObservedGeneration = "v0.9.0", 7
	st.RecordFailure(status.FailedVersion{Version: "v0.8.0", Step: "build", Reason: "BuildFailed"})
	if err := status.Save(h.Status, st); err != nil {
		t.Fatal(err)
	}
	syncOK(t, h.syncer(t))
	got, err := status.Load(h.Status)
	if err != nil {
		t.Fatal(err)
	}
	if got.CurrentVersion != "v0.9.0" || got.ObservedGeneration != 7 || len(got.FailedVersions) != 1 || got.Fleet == nil {
		t.Errorf("status after sync = %+v", got)
	}
}

// TestCredentialsRedacted: a token in the URL never reaches status.
func TestCredentialsRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:s3cret@git.example.com/ops/fleet.git": "https://git.example.com/ops/fleet.git",
		"https://tok3n@git.example.com/ops/fleet.git":       "https://git.example.com/ops/fleet.git",
		"ssh://git@git.example.com/ops/fleet.git":           "ssh://git@git.example.com/ops/fleet.git",
		"/srv/fleet.git": "/srv/fleet.git",
	} {
		if got := redact(in); got != want {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
	if got := redactIn("cannot reach https://user:s3cret@h/x", "https://user:s3cret@h/x"); strings.Contains(got, "s3cret") {
		t.Errorf("redactIn kept the secret: %s", got)
	}
}

// TestPaths: placeholders replaced; {group} templates skipped without one.
func TestPaths(t *testing.T) {
	h := newHost(t, "/x", "web-1", "")
	h.Source.HostID = "id-9"
	h.Source.Paths = []string{"by-id/{hostID}.yaml", "groups/{group}/desired.yaml", "hosts/{hostname}/desired.yaml"}
	if got, want := h.syncer(t).Paths(), []string{"by-id/id-9.yaml", "hosts/web-1/desired.yaml"}; !slices.Equal(got, want) {
		t.Errorf("Paths = %v, want %v", got, want)
	}
	h.Source.Group = "eu"
	if got := h.syncer(t).Paths(); len(got) != 3 || got[1] != "groups/eu/desired.yaml" {
		t.Errorf("Paths with a group = %v", got)
	}
}
