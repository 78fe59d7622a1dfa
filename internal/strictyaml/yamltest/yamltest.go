package yamltest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	yamlv2 "go.yaml.in/yaml/v2"
)

// Seed is one fuzz seed: Name is its file name under testdata/fuzz/<Fuzz
// target>, Data the input.
type Seed struct {
	Name string
	Data []byte
}

// S builds a Seed from a string, which keeps seed tables short.
func S(name, data string) Seed { return Seed{name, []byte(data)} }

// AddSeeds adds to f every seed of at most maxLen bytes. Larger seeds still
// run from the committed corpus files; adding them too would run them twice.
func AddSeeds(f *testing.F, seeds []Seed, maxLen int) {
	for _, s := range seeds {
		if len(s.Data) <= maxLen {
			f.Add(s.Data)
		}
	}
}

// AliasBomb nests aliases levels deep, fan per level, over leaf. pad plain
// scalars come first so the alias share stays under the 99% go.yaml.in/yaml/v2
// tolerates, which is what an attacker would do.
func AliasBomb(leaf string, levels, fan, pad int) string {
	var b strings.Builder
	if pad > 0 {
		b.WriteString("pad: [0" + strings.Repeat(",0", pad-1) + "]\n")
	}
	b.WriteString("a0: &a0 " + leaf + "\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [*a%d%s]\n", i, i, i-1, strings.Repeat(fmt.Sprintf(", *a%d", i-1), fan-1))
	}
	return b.String()
}

// DeepBlock nests block mappings depth deep, one space per level, starting
// one space in: append it after a line that opens a mapping ("key:\n").
func DeepBlock(depth int) string {
	var b strings.Builder
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "%sk%d:\n", strings.Repeat(" ", i), i)
	}
	return b.String()
}

// Clip keeps failure messages readable when the input is a mebibyte of x:
// it returns s, cut to 2000 bytes plus its length when longer.
func Clip[T string | []byte](s T) string {
	if len(s) > 2000 {
		return string(s[:2000]) + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return string(s)
}

// CheckCorpus fails t unless every seed has a file dir/<Name> in go's fuzz
// corpus format holding exactly its Data. With update it first (re)writes
// the files, creating dir. Files in dir that no seed names are left alone:
// they may be crashers go test -fuzz found.
func CheckCorpus(t testing.TB, dir string, seeds []Seed, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range seeds {
		path := filepath.Join(dir, s.Name)
		want := []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s.Data))
		if update {
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%v (run go test -run TestFuzzCorpusIsCurrent -args -update-corpus)", err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale (run go test -run TestFuzzCorpusIsCurrent -args -update-corpus)", path)
		}
	}
}

// CheckAliasBombs runs parse, in a subtest each, on every seed whose Name
// starts with "alias-", and fails the subtest when parse allocates more than
// maxAlloc bytes or takes longer than deadline. checkErr judges the error
// parse returned (a bomb must be refused). Run with -v for the numbers.
// Subtests must not run in parallel: allocation is measured process-wide.
func CheckAliasBombs(t *testing.T, seeds []Seed, maxAlloc uint64, deadline time.Duration, parse func(data []byte) error, checkErr func(t *testing.T, err error)) {
	t.Helper()
	n := 0
	for _, s := range seeds {
		if !strings.HasPrefix(s.Name, "alias-") {
			continue
		}
		n++
		t.Run(s.Name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			err := parse(s.Data)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes: %v, %.1f MB allocated: %v", len(s.Data), took, float64(alloc)/(1<<20), err)
			checkErr(t, err)
			if alloc > maxAlloc {
				t.Errorf("allocated %d bytes, limit %d", alloc, maxAlloc)
			}
			if took > deadline {
				t.Errorf("took %v, limit %v", took, deadline)
			}
		})
	}
	if n == 0 {
		t.Error("no seed is named alias-*: nothing was measured")
	}
}

// CheckOneStrictDocument checks, independently of the parser under test,
// that data is one well-formed YAML document without duplicate keys; call it
// on input the parser accepted.
func CheckOneStrictDocument(t testing.TB, data []byte) {
	t.Helper()
	dec := yamlv2.NewDecoder(bytes.NewReader(data))
	dec.SetStrict(true)
	if err := dec.Decode(new(any)); err != nil {
		t.Errorf("accepted input that strict YAML decoding refuses: %v", err)
	}
	if err := dec.Decode(new(any)); !errors.Is(err, io.EOF) {
		t.Errorf("accepted input holding more than one YAML document (next: %v)", err)
	}
}
