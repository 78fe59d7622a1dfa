package yamltest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	yamlv2 "go.yaml.in/yaml/v2"
)

// Seed is one fuzz seed, built in code: Name says what it is (go test
// reports a seed added with f.Add only as seed#N; NameFailedSeed puts the
// name back), Data is the input.
type Seed struct {
	Name string
	Data []byte
}

// S builds a Seed from a string, which keeps seed tables short.
func S(name, data string) Seed { return Seed{name, []byte(data)} }

// ShortMaxLen is the largest seed AddSeeds adds under go test -short. Every
// desired.yaml seed fits (its limit is 64 KiB); the status.yaml seeds near
// its 1 MiB limit do not: each costs seconds under -race (10 s on two
// cores), and the smaller seeds cover the same parser paths.
const ShortMaxLen = 128 << 10

// AddSeeds adds every seed to f, except under -short those longer than
// ShortMaxLen.
func AddSeeds(f *testing.F, seeds []Seed) {
	for _, s := range seeds {
		if testing.Short() && len(s.Data) > ShortMaxLen {
			continue
		}
		f.Add(s.Data)
	}
}

// NameFailedSeed, called first in a fuzz body, logs the name of the seed
// data is when t fails, so a failing seed#N needs no counting. The lookup
// runs only after a failure.
func NameFailedSeed(t *testing.T, seeds []Seed, data []byte) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, s := range seeds {
			if bytes.Equal(s.Data, data) {
				t.Logf("seed %s (%d bytes)", s.Name, len(data))
				return
			}
		}
	})
}

// raceSlowdown is how much longer a time limit is under the race detector,
// which slows the parser 3-4x on the alias-maps seeds (5x and more on a
// loaded machine).
const raceSlowdown = 5

// TimeLimit returns d, or raceSlowdown times d under the race detector. A
// parse time limit is there to catch exponential work, which overshoots
// any constant factor; under -race an unscaled limit fails on load alone.
func TimeLimit(d time.Duration) time.Duration {
	if raceEnabled {
		return raceSlowdown * d
	}
	return d
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

// AllBytes returns every byte value, 0 to 255, once: appended to a valid
// head it is a torn or overwritten file, and it hands the mutator every byte.
func AllBytes() string {
	b := make([]byte, 256)
	for i := range b {
		b[i] = byte(i)
	}
	return string(b)
}

// Clip keeps failure messages readable when the input is a mebibyte of x:
// it returns s, cut to 2000 bytes plus its length when longer.
func Clip[T string | []byte](s T) string {
	if len(s) > 2000 {
		return string(s[:2000]) + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return string(s)
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
