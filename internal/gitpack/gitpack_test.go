package gitpack

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// gitEnv isolates the git CLI from the machine's configuration.
func gitEnv() []string {
	return append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Fixture", "GIT_AUTHOR_EMAIL=fixture@example.invalid",
		"GIT_COMMITTER_NAME=Fixture", "GIT_COMMITTER_EMAIL=fixture@example.invalid")
}

func git(t *testing.T, dir string, stdin io.Reader, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, gitEnv(), stdin
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// history builds a repository of similar files over several commits, so
// a repack stores most blobs as deltas (chains of them), and returns it.
func history(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	git(t, filepath.Dir(dir), nil, "init", "-q", "-b", "main", dir)
	var s bytes.Buffer
	for c := range 6 {
		fmt.Fprintf(&s, "commit refs/heads/main\ncommitter F <f@example.invalid> %d +0000\ndata 2\nc%d", 1700000000+c, c)
		s.WriteString("\n") // each commit continues the branch
		for i := range 60 {
			if c > 0 && i%(c+1) != 0 {
				continue
			}
			body := text(i, c)
			fmt.Fprintf(&s, "M 100644 inline f%02d.txt\ndata %d\n%s\n", i, len(body), body)
		}
	}
	fmt.Fprintf(&s, "M 100644 inline big.bin\ndata %d\n%s\n", 200000, strings.Repeat("0123456789abcdef", 12500))
	git(t, dir, &s, "fast-import", "--quiet")
	return dir
}

// text is file i at revision c: lines that compress badly (so a repack
// stores revisions as deltas, not whole), the line c differing.
func text(i, c int) string {
	var b strings.Builder
	for line := range 40 + i {
		rev := 0
		if line == c {
			rev = c
		}
		fmt.Fprintf(&b, "%x\n", sha1.Sum(fmt.Appendf(nil, "%d %d %d", i, line, rev)))
	}
	return b.String()
}

// blobs returns every blob of the repository at dir, as git reads it.
func blobs(t *testing.T, dir string) map[Hash][]byte {
	t.Helper()
	list := git(t, dir, nil, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)")
	var names bytes.Buffer
	for line := range strings.Lines(string(list)) {
		if name, typ, _ := strings.Cut(strings.TrimSpace(line), " "); typ == "blob" {
			names.WriteString(name + "\n")
		}
	}
	out := git(t, dir, &names, "cat-file", "--batch")
	rd := bufio.NewReader(bytes.NewReader(out))
	got := map[Hash][]byte{}
	for {
		header, err := rd.ReadString('\n')
		if errors.Is(err, io.EOF) {
			return got
		}
		f := strings.Fields(header)
		size, _ := strconv.Atoi(f[2])
		data := make([]byte, size+1) // and the newline after it
		if _, err := io.ReadFull(rd, data); err != nil {
			t.Fatal(err)
		}
		got[name(t, f[0])] = data[:size]
	}
}

func name(t *testing.T, s string) Hash {
	t.Helper()
	var h Hash
	if b, err := hex.DecodeString(s); err != nil || len(b) != 20 {
		t.Fatalf("bad object name %q", s)
	} else {
		copy(h[:], b)
	}
	return h
}

// readAll reads every blob of want through one Reader of dir's store and
// fails on any difference.
func readAll(t *testing.T, dir string, want map[Hash][]byte) {
	t.Helper()
	s, err := Open(filepath.Join(dir, ".git", "objects"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := s.NewReader()
	for h, data := range want {
		got, err := r.Blob(h)
		if err != nil {
			t.Fatalf("blob %x: %v", h, err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("blob %x: %d bytes differ from git's %d", h, len(got), len(data))
		}
	}
}

// TestBlobsMatchGit: every blob of a repacked history (delta chains with
// the base by offset, then by name, then with a 64-bit offset table) reads
// as git reads it.
func TestBlobsMatchGit(t *testing.T) {
	t.Parallel()
	dir := history(t)
	git(t, dir, nil, "repack", "-a", "-d", "-f", "-q", "--depth=20")
	want := blobs(t, dir)
	if len(want) < 140 {
		t.Fatalf("only %d blobs", len(want))
	}
	deltas := 0
	verify := git(t, dir, nil, "verify-pack", "-v", mustGlob(t, dir, "*.idx"))
	for line := range strings.Lines(string(verify)) {
		if f := strings.Fields(line); len(f) >= 7 && f[1] == "blob" {
			deltas++ // "<name> blob <size> <size in pack> <offset> <depth> <base>"
		}
	}
	if deltas < 50 {
		t.Fatalf("the pack holds %d blobs as deltas; the fixture must make chains", deltas)
	}
	readAll(t, dir, want)

	t.Run("bases by name", func(t *testing.T) {
		git(t, dir, nil, "-c", "repack.useDeltaBaseOffset=false", "repack", "-a", "-d", "-f", "-q")
		readAll(t, dir, want)
	})
	t.Run("64-bit offsets", func(t *testing.T) {
		idx := mustGlob(t, dir, "*.idx")
		if err := os.Remove(idx); err != nil {
			t.Fatal(err)
		}
		git(t, dir, nil, "index-pack", "--index-version=2,256", strings.TrimSuffix(idx, ".idx")+".pack")
		readAll(t, dir, want)
	})
}

func mustGlob(t *testing.T, dir, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", pattern))
	if err != nil || len(m) != 1 {
		t.Fatalf("%s: %v %v", pattern, m, err)
	}
	return m[0]
}

// TestBlobRefuses: an object not in a pack is ErrNotFound (loose objects
// are read elsewhere), a tree is not a blob, and a damaged pack gives an
// error or the right content, never other bytes.
func TestBlobRefuses(t *testing.T) {
	t.Parallel()
	dir := history(t)
	git(t, dir, nil, "repack", "-a", "-d", "-q")
	want := blobs(t, dir)
	loose := name(t, strings.TrimSpace(string(git(t, dir, strings.NewReader("not packed\n"), "hash-object", "-w", "--stdin"))))
	tree := name(t, strings.TrimSpace(string(git(t, dir, nil, "rev-parse", "HEAD^{tree}"))))

	s, err := Open(filepath.Join(dir, ".git", "objects"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := s.NewReader()
	if _, err := r.Blob(loose); !errors.Is(err, ErrNotFound) {
		t.Errorf("loose object: %v, want ErrNotFound", err)
	}
	if _, err := r.Blob(tree); err == nil || !strings.Contains(err.Error(), "not a blob") {
		t.Errorf("tree: %v, want not a blob", err)
	}

	packPath := strings.TrimSuffix(mustGlob(t, dir, "*.idx"), ".idx") + ".pack"
	data, err := os.ReadFile(packPath)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, at := range []int{len(data) / 5, len(data) / 3, len(data) / 2, 2 * len(data) / 3} {
		damaged := bytes.Clone(data)
		damaged[at] ^= 0x55
		if err := os.WriteFile(packPath, damaged, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(filepath.Join(dir, ".git", "objects"))
		if err != nil {
			t.Fatal(err)
		}
		r := s.NewReader()
		for h, w := range want {
			got, err := r.Blob(h)
			if err != nil {
				failed++
				continue
			}
			if !bytes.Equal(got, w) {
				t.Fatalf("damaged at %d: blob %x read as other bytes", at, h)
			}
		}
		s.Close()
	}
	if failed == 0 {
		t.Fatal("no read of a damaged pack failed")
	}
}

// TestApplyDeltaRefusesMalformed: a delta that does not fit its base or
// its stated size is an error, never a panic or a short result.
func TestApplyDeltaRefusesMalformed(t *testing.T) {
	base := []byte("0123456789")
	good := []byte{10, 6, 0x91, 2, 4, 2, 'x', 'y'} // copy 4 bytes from 2, insert "xy"
	if out, err := applyDelta(base, good); err != nil || string(out) != "2345xy" {
		t.Fatalf("applyDelta = %q, %v", out, err)
	}
	for name, d := range map[string][]byte{
		"wrong base size":   {9, 6, 0x91, 2, 4, 2, 'x', 'y'},
		"copy past base":    {10, 6, 0x91, 8, 4, 2, 'x', 'y'},
		"longer than said":  {10, 5, 0x91, 2, 4, 2, 'x', 'y'},
		"shorter than said": {10, 7, 0x91, 2, 4, 2, 'x', 'y'},
		"insert cut short":  {10, 6, 0x91, 2, 4, 3, 'x', 'y'},
		"reserved command":  {10, 6, 0},
		"copy cut short":    {10, 6, 0x91, 2},
		"size cut short":    {0x80},
	} {
		if out, err := applyDelta(base, d); err == nil {
			t.Errorf("%s: %q, want an error", name, out)
		}
	}
}

// TestOpenLeavesOutWhatItCannotRead: a version 1 index, or an index whose
// pack is gone, is left out: its objects are ErrNotFound (for the caller's
// other reader), and Open does not fail.
func TestOpenLeavesOutWhatItCannotRead(t *testing.T) {
	t.Parallel()
	dir := history(t)
	git(t, dir, nil, "repack", "-a", "-d", "-q")
	var some Hash
	for h := range blobs(t, dir) {
		some = h
		break
	}
	idx := mustGlob(t, dir, "*.idx")
	pack := strings.TrimSuffix(idx, ".idx") + ".pack"
	if err := os.Remove(idx); err != nil {
		t.Fatal(err)
	}
	git(t, dir, nil, "index-pack", "--index-version=1", pack)
	for _, c := range []struct {
		name    string
		prepare func() error
	}{
		{"version 1 index", func() error { return nil }},
		{"pack gone", func() error { return os.Rename(pack, pack+".gone") }},
	} {
		name := c.name
		if err := c.prepare(); err != nil {
			t.Fatal(err)
		}
		s, err := Open(filepath.Join(dir, ".git", "objects"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := s.NewReader().Blob(some); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
		s.Close()
	}
}
