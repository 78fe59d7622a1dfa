package gitrepo

import (
	"bytes"
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
