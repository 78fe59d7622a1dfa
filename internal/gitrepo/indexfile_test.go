package gitrepo

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/format/index"
)

// randomEntries returns n index entries of distinct names whose lengths
// cover every padding (1 to 8 NULs) and the 12-bit limit of the flags,
// with every mode a checkout writes and zero and non-zero times.
func randomEntries(rng *rand.Rand, n int) []*index.Entry {
	modes := []filemode.FileMode{filemode.Regular, filemode.Executable, filemode.Symlink, filemode.Submodule, filemode.Deprecated}
	var out []*index.Entry
	for i := range n {
		name := fmt.Sprintf("d%02d/f%05d", i%17, i)
		if extra := rng.IntN(12); extra > 0 {
			name += "." + strings.Repeat("x", extra)
		}
		switch i {
		case 1:
			name = strings.Repeat("n", indexNameMask-1) // the longest length the flags hold
		case 2:
			name = strings.Repeat("m", indexNameMask) // stored as 0xfff
		case 3:
			name = strings.Repeat("l", indexNameMask+300)
		}
		var h plumbing.Hash
		for j := range h {
			h[j] = byte(rng.UintN(256))
		}
		e := &index.Entry{Name: name, Hash: h, Mode: modes[i%len(modes)],
			Dev: rng.Uint32(), Inode: rng.Uint32(), UID: rng.Uint32(), GID: rng.Uint32(), Size: rng.Uint32()}
		if i%5 != 0 {
			e.CreatedAt = time.Unix(int64(rng.Uint32()), int64(rng.IntN(1e9)))
			e.ModifiedAt = time.Unix(int64(rng.Uint32()), int64(rng.IntN(1e9)))
		}
		out = append(out, e)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

func cloneEntries(es []*index.Entry) []*index.Entry {
	out := make([]*index.Entry, len(es))
	for i, e := range es {
		c := *e
		out[i] = &c
	}
	return out
}

// TestEncodeIndexMatchesGoGit: the checkout's encoder writes the bytes
// go-git's encoder writes for the same entries, and go-git reads them back.
func TestEncodeIndexMatchesGoGit(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 2))
	for _, n := range []int{0, 1, 4, 9, 1000} {
		entries := randomEntries(rng, n)
		var want bytes.Buffer
		if err := index.NewEncoder(&want).Encode(&index.Index{Version: 2, Entries: cloneEntries(entries)}); err != nil {
			t.Fatal(err)
		}
		got, err := encodeIndexV2(cloneEntries(entries))
		if err != nil {
			t.Fatalf("%d entries: %v", n, err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("%d entries: %d bytes differ from go-git's %d (first difference at %d)", n, len(got), want.Len(), firstDiff(got, want.Bytes()))
		}
		var back index.Index
		if err := index.NewDecoder(bytes.NewReader(got)).Decode(&back); err != nil {
			t.Fatalf("%d entries: go-git cannot read the index back: %v", n, err)
		}
		if len(back.Entries) != n {
			t.Fatalf("%d entries: read back %d", n, len(back.Entries))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestEncodeIndexReadByGit: git reads the index the encoder writes for a
// real tree as clean (no staged change, no modified file), and refuses
// nothing about it (git fsck checks the index against the objects).
func TestEncodeIndexReadByGit(t *testing.T) {
	f := newFixture(t)
	r := open(t, f.install)
	s, err := r.readSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var entries []*index.Entry
	for p, st := range s.head {
		e, err := r.indexEntryFor(p, st)
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	data, err := encodeIndexV2(entries)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.install, ".git", "index"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := git(t, f.install, "status", "--porcelain", "--untracked-files=no"); out != "" {
		t.Fatalf("git sees changes in the encoded index:\n%s", out)
	}
	git(t, f.install, "fsck", "--no-progress", "--no-dangling")
	var want []string
	for p := range s.head {
		want = append(want, p)
	}
	slices.Sort(want)
	if got := strings.Split(git(t, f.install, "ls-files"), "\n"); !slices.Equal(got, want) || len(want) == 0 {
		t.Fatalf("git lists %q, want %q", got, want)
	}
}

// TestEncodeIndexRefusesWhatV2CannotHold: entries that need version 3, a
// conflict stage or a time before 1970 are refused, with no index.
func TestEncodeIndexRefusesWhatV2CannotHold(t *testing.T) {
	for name, e := range map[string]index.Entry{
		"intent-to-add": {Name: "a", IntentToAdd: true},
		"skip-worktree": {Name: "a", SkipWorktree: true},
		"stage":         {Name: "a", Stage: index.TheirMode},
		"before 1970":   {Name: "a", ModifiedAt: time.Unix(-5, 0)},
	} {
		data, err := encodeIndexV2([]*index.Entry{&e})
		if err == nil || data != nil {
			t.Errorf("%s: got %d bytes, err %v; want a refusal", name, len(data), err)
		}
		if name == "intent-to-add" && !errors.Is(err, errIndexExtendedFlags) {
			t.Errorf("%s: %v, want errIndexExtendedFlags", name, err)
		}
	}
}

// decodeWithGoGit decodes data with go-git's decoder, the reference.
func decodeWithGoGit(data []byte) (*index.Index, error) {
	idx := &index.Index{}
	err := index.NewDecoder(bytes.NewReader(data)).Decode(idx)
	return idx, err
}

// sameEntries reports how got differs from want, "" when the entries are
// the same in the same order.
func sameEntries(got, want []*index.Entry) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d entries, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := *got[i], *want[i]
		if !g.CreatedAt.Equal(w.CreatedAt) || !g.ModifiedAt.Equal(w.ModifiedAt) {
			return fmt.Sprintf("entry %d (%s): times %v %v, want %v %v", i, w.Name, g.CreatedAt, g.ModifiedAt, w.CreatedAt, w.ModifiedAt)
		}
		g.CreatedAt, g.ModifiedAt, w.CreatedAt, w.ModifiedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if g != w {
			return fmt.Sprintf("entry %d: %+v, want %+v", i, g, w)
		}
	}
	return ""
}

// gitIndexes builds, with the git CLI, the index files a checkout meets:
// each version git writes (2, 3 with extended flags, 4 with compressed
// names), with conflicts, long names, symlinks, executables, gitlinks and
// the optional extensions (cached tree, resolve-undo, untracked cache,
// end of entries).
func gitIndexes(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	read := func(name, dir string) {
		data, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = data
	}
	dir := filepath.Join(t.TempDir(), "repo")
	git(t, filepath.Dir(dir), "init", "-q", "-b", "main", dir)
	writeFile(t, dir, "a.txt", "a\n", 0o644)
	writeFile(t, dir, "a-b/c.txt", "c\n", 0o644)
	writeFile(t, dir, "run.sh", "#!/bin/sh\n", 0o755)
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "update-index", "--add", "--cacheinfo", "160000,"+strings.Repeat("ab", 20)+",vendor/sub")
	git(t, dir, "commit", "-q", "-m", "one")
	read("v2 after commit (cached tree)", dir)

	writeFile(t, dir, "later.txt", "later\n", 0o644)
	git(t, dir, "add", "-N", "later.txt")
	git(t, dir, "update-index", "--skip-worktree", "a.txt")
	read("v3 with intent-to-add and skip-worktree", dir)
	git(t, dir, "update-index", "--no-skip-worktree", "a.txt")
	git(t, dir, "rm", "-q", "--cached", "later.txt")

	git(t, dir, "update-index", "--index-version", "4")
	read("v4 with compressed names", dir)
	git(t, dir, "update-index", "--index-version", "2")

	git(t, dir, "-c", "core.untrackedCache=true", "update-index", "--untracked-cache")
	git(t, dir, "-c", "core.untrackedCache=true", "-c", "index.recordEndOfIndexEntries=true", "status", "--porcelain")
	read("v2 with untracked cache and end of entries", dir)
	git(t, dir, "update-index", "--no-untracked-cache")

	mergeConflict(t, dir, "a.txt")
	read("v2 with conflict stages", dir)
	writeFile(t, dir, "a.txt", "resolved\n", 0o644)
	git(t, dir, "add", "a.txt")
	read("v2 with resolve-undo", dir)
	// A name over 4095 bytes, which no file system here can hold: the
	// index only.
	blob := git(t, dir, "hash-object", "-w", "a.txt")
	git(t, dir, "update-index", "--add", "--cacheinfo", "100644,"+blob+","+strings.Repeat("long/", 900)+"name.txt")
	read("v2 with a name over 4095 bytes", dir)
	return out
}

// TestDecodeIndexMatchesGoGit: for every index git writes, and for the
// encoder's, the checkout's decoder returns the entries go-git's does.
func TestDecodeIndexMatchesGoGit(t *testing.T) {
	t.Parallel()
	indexes := gitIndexes(t)
	rng := rand.New(rand.NewPCG(15, 3))
	for _, n := range []int{0, 1, 9, 1000} {
		data, err := encodeIndexV2(randomEntries(rng, n))
		if err != nil {
			t.Fatal(err)
		}
		indexes[fmt.Sprintf("encoded, %d entries", n)] = data
	}
	for name, data := range indexes {
		want, err := decodeWithGoGit(data)
		if err != nil {
			t.Fatalf("%s: go-git: %v", name, err)
		}
		got, err := decodeIndex(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got.Version != want.Version {
			t.Errorf("%s: version %d, want %d", name, got.Version, want.Version)
		}
		if diff := sameEntries(got.Entries, want.Entries); diff != "" {
			t.Errorf("%s: %s", name, diff)
		}
	}
	// The fixtures hold what their names say.
	for name, sig := range map[string]string{
		"v2 after commit (cached tree)":              "TREE",
		"v2 with untracked cache and end of entries": "UNTR",
		"v2 with resolve-undo":                       "REUC",
	} {
		if !bytes.Contains(indexes[name], []byte(sig)) {
			t.Errorf("%s: no %s extension", name, sig)
		}
	}
	if !bytes.Contains(indexes["v2 with untracked cache and end of entries"], []byte("EOIE")) {
		t.Errorf("no EOIE extension")
	}
	if v := binary.BigEndian.Uint32(indexes["v4 with compressed names"][4:]); v != 4 {
		t.Errorf("the version 4 fixture is version %d", v)
	}
	v3 := indexes["v3 with intent-to-add and skip-worktree"]
	got, _ := decodeIndex(v3)
	var ita, skip int
	for _, e := range got.Entries {
		if e.IntentToAdd {
			ita++
		}
		if e.SkipWorktree {
			skip++
		}
	}
	if ita != 1 || skip != 1 || got.Version != 3 {
		t.Errorf("version 3 index: version %d, %d intent-to-add and %d skip-worktree entries, want 3, 1, 1", got.Version, ita, skip)
	}
}

// TestDecodeIndexRefuses: a damaged index, or one git marks as needing an
// extension the decoder lacks (a split index), is refused with an error
// that says what to do, never read wrong.
func TestDecodeIndexRefuses(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "repo")
	git(t, filepath.Dir(dir), "init", "-q", dir)
	writeFile(t, dir, "a.txt", "a\n", 0o644)
	git(t, dir, "add", "a.txt")
	good, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	git(t, dir, "update-index", "--split-index")
	split, err := os.ReadFile(filepath.Join(dir, ".git", "index"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[20] ^= 1
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"split index":      {split, "split-index"},
		"damaged":          {flipped, "checksum"},
		"not an index":     {[]byte("not an index at all, but long enough"), "DIRC"},
		"version 5":        {withChecksum(append([]byte("DIRC\x00\x00\x00\x05\x00\x00\x00\x00"), make([]byte, 0)...)), "version 5"},
		"too many entries": {withChecksum([]byte("DIRC\x00\x00\x00\x02\x00\x00\x10\x00")), "claims 4096 entries"},
	} {
		idx, err := decodeIndex(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) || idx != nil {
			t.Errorf("%s: got %v, %v; want an error saying %q", name, idx, err, c.want)
		}
	}
	// Every prefix of a good index, checksum recomputed, is refused or
	// read in part; none panics.
	for n := 12; n < len(good)-20; n++ {
		_, _ = decodeIndex(withChecksum(good[:n]))
	}
}

// withChecksum appends the SHA-1 trailer of data.
func withChecksum(data []byte) []byte {
	sum := sha1.Sum(data)
	return append(bytes.Clone(data), sum[:]...)
}

// FuzzDecodeIndex: no input makes the decoder panic, and what it reads
// go-git reads the same.
func FuzzDecodeIndex(f *testing.F) {
	rng := rand.New(rand.NewPCG(15, 4))
	for _, n := range []int{0, 1, 5} {
		data, err := encodeIndexV2(randomEntries(rng, n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeIndex(data)
		if err != nil {
			return
		}
		if want, werr := decodeWithGoGit(data); werr == nil {
			if diff := sameEntries(got.Entries, want.Entries); diff != "" {
				t.Fatalf("differs from go-git: %s", diff)
			}
		}
	})
}
