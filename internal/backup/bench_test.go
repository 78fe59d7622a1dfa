package backup

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The benchmarks compare backups with the tools an operator would use
// instead, measured in the same run on the same disk, and report ratios:
//
//	make bench     (go test -run '^$' -bench . -benchtime 3x ./...)
//
// Every figure is seconds per operation, page cache warm for all
// contenders (the data was just written or read). Outputs are synced and
// removed between measurements, untimed, so one contender's write-back
// does not slow the next. cp -a, tar and rsync do not sync; our backup
// does, so "cp -a && sync -f" is the like-for-like baseline. rsync starts
// from our first backup's copy (--link-dest), as our incremental does.
// The benchmark is not a timed test: it reports and never fails on speed.
//
// Targets (issue "Takes a backup of your data/ directory first"):
//
//	first/cp-a  <= 1    first backup no slower than cp -a
//	incr/first  <= 0.25 an incremental backup after a 1% change at least 4x faster than a full one
//	incr/rsync  <= 1    and no slower than rsync -a --link-dest
//	cold-s      < 0.2   the cold pass adds under 0.2 s of downtime for a 1% change of 1 GiB

type benchShape struct {
	name  string
	files int
	dirs  int
	total int64
	// baselineRounds is how many rounds measure cp -a and tar: they
	// take most of the time of the many-files shape.
	baselineRounds int
}

var benchShapes = []benchShape{
	{name: "1GiB-10files", files: 10, dirs: 1, total: 1 << 30, baselineRounds: 3},
	{name: "200MiB-50kfiles", files: 50_000, dirs: 500, total: 200 << 20, baselineRounds: 1},
}

func BenchmarkBackup(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) { benchBackup(b, sh) })
	}
}

// timings sums the seconds each contender took and how often it ran.
type timings map[string]*struct {
	d time.Duration
	n int
}

func (t timings) add(what string, d time.Duration) {
	if t[what] == nil {
		t[what] = &struct {
			d time.Duration
			n int
		}{}
	}
	t[what].d += d
	t[what].n++
}

// sec is the mean in seconds, 0 when what never ran.
func (t timings) sec(what string) float64 {
	if t[what] == nil || t[what].n == 0 {
		return 0
	}
	return t[what].d.Seconds() / float64(t[what].n)
}

func benchBackup(b *testing.B, sh benchShape) {
	work := b.TempDir()
	src := filepath.Join(work, "data")
	sh.generate(b, src)
	rsync, err := exec.LookPath("rsync")
	if err != nil {
		b.Logf("rsync not installed (apt-get install -y rsync): the rsync baseline is skipped")
	}
	ctx := context.Background()
	t := timings{}
	var incr, cold Backup
	round := 0
	for b.Loop() {
		round++
		cpOut, tarOut, rsOut := filepath.Join(work, "cp"), filepath.Join(work, "x.tar"), filepath.Join(work, "rsync")
		root := filepath.Join(work, "backups")

		if round <= sh.baselineRounds {
			// cp -a, and the same made durable as a backup must be:
			// then syncfs of the filesystem it wrote to.
			d := timeCmd(b, "cp", "-a", src, cpOut)
			t.add("cp -a", d)
			t.add("cp -a && sync -f", d+timeIt(b, func() error { return syncfsOf(cpOut) }))
			mustRemove(b, cpOut)
			settle(b)
			t.add("tar -cf", timeCmd(b, "tar", "-cf", tarOut, "-C", src, "."))
			mustRemove(b, tarOut)
			settle(b)
		}
		t.add("first", timeIt(b, func() error { _, err := Create(ctx, src, root, "first"); return err }))
		settle(b)

		// 1% changes; rsync and our incremental start from the same copy.
		sh.change(b, src, 2*round)
		settle(b)
		if rsync != "" {
			t.add("rsync", timeCmd(b, rsync, "-a", "--link-dest="+filepath.Join(root, "first", DataDir), src+"/", rsOut))
			mustRemove(b, rsOut)
			settle(b)
		}
		t.add("incr", timeIt(b, func() (err error) { incr, err = Create(ctx, src, root, "incr"); return err }))
		settle(b)

		// The hot pass "incr" is taken; the app writes 1% more, stops,
		// and the cold pass runs.
		sh.change(b, src, 2*round+1)
		settle(b)
		t.add("cold", timeIt(b, func() (err error) { cold, err = Finish(ctx, src, root, "incr"); return err }))
		if cold.FinishedAt.IsZero() || cold.Copied == 0 {
			b.Fatalf("the cold pass did not run: %+v", cold)
		}
		mustRemove(b, root)
		settle(b)
	}

	first := t.sec("first")
	b.ReportMetric(first, "first-s")
	b.ReportMetric(t.sec("incr"), "incr-s")
	b.ReportMetric(t.sec("cold"), "cold-s")
	b.ReportMetric(first/t.sec("cp -a"), "first/cp-a")
	b.ReportMetric(first/t.sec("cp -a && sync -f"), "first/cp-a+sync")
	b.ReportMetric(t.sec("incr")/first, "incr/first")
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-15s %9s  %-22s %9s  %s\n", sh.name, "ours (s)", "baseline, same run", "base (s)", "ratio")
	row := func(what, ours, base string) {
		fmt.Fprintf(&table, "%-15s %9.3f  %-22s %9.3f  %.2f\n", what, t.sec(ours), base, t.sec(base), t.sec(ours)/t.sec(base))
	}
	t["our first"] = t["first"]
	row("first backup", "first", "cp -a")
	row("first backup", "first", "cp -a && sync -f")
	row("first backup", "first", "tar -cf")
	row("incr (1% chg)", "incr", "our first")
	if rsync != "" {
		b.ReportMetric(t.sec("incr")/t.sec("rsync"), "incr/rsync")
		row("incr (1% chg)", "incr", "rsync")
	}
	fmt.Fprintf(&table, "%-15s %9.3f  (target < 0.2 s for 1%% of 1 GiB)\n", "cold (1% chg)", t.sec("cold"))
	fmt.Fprintf(&table, "incremental: %d copied, %d linked, %d hashed; cold pass: %d copied, %d kept; %d rounds, baselines in %d",
		incr.Copied, incr.Linked, incr.Hashed, cold.Copied, cold.Linked, round, min(round, sh.baselineRounds))
	b.Log(table.String())
}

// generate writes the shape below dir with random content from a fixed
// seed, so every run backs up the same bytes.
func (sh benchShape) generate(b *testing.B, dir string) {
	b.Helper()
	rng := rand.NewChaCha8([32]byte{1})
	size := sh.total / int64(sh.files)
	buf := make([]byte, min(size, 4<<20))
	for i := 0; i < sh.files; i++ {
		p := sh.path(dir, i)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		for left := size; left > 0; {
			chunk := buf[:min(left, int64(len(buf)))]
			_, _ = rng.Read(chunk)
			if _, err := f.Write(chunk); err != nil {
				b.Fatal(err)
			}
			left -= int64(len(chunk))
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	settle(b)
}

func (sh benchShape) path(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("d%03d", i%sh.dirs), fmt.Sprintf("f%05d", i))
}

// change rewrites 1% of the data, chosen by round: for a few big files
// 1% of the bytes in place in one file, for many small files 1% of the
// files.
func (sh benchShape) change(b *testing.B, dir string, round int) {
	b.Helper()
	rng := rand.NewChaCha8([32]byte{byte(round), 2})
	if sh.files < 100 {
		p := sh.path(dir, round%sh.files)
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		chunk := make([]byte, sh.total/100)
		_, _ = rng.Read(chunk)
		if _, err := f.WriteAt(chunk, sh.total/int64(sh.files)/3); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		return
	}
	size := sh.total / int64(sh.files)
	chunk := make([]byte, size)
	for i := round % 100; i < sh.files; i += 100 {
		_, _ = rng.Read(chunk)
		if err := os.WriteFile(sh.path(dir, i), chunk, 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

func timeIt(b *testing.B, f func() error) time.Duration {
	b.Helper()
	start := time.Now()
	if err := f(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

func timeCmd(b *testing.B, name string, args ...string) time.Duration {
	b.Helper()
	return timeIt(b, func() error {
		if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v\n%s", name, err, out)
		}
		return nil
	})
}

// syncfsOf syncs the filesystem of dir the way a backup does (syncFS).
func syncfsOf(dir string) error {
	f, err := openSyncFS(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return syncFS(f)
}

// settle flushes dirty pages so the next measurement does not pay for
// the previous one's write-back.
func settle(b *testing.B) {
	b.Helper()
	unix.Sync()
}

func mustRemove(b *testing.B, p string) {
	b.Helper()
	if err := os.RemoveAll(p); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSyncStrategy compares the two ways of making a backup durable
// on 2,000 small files: fsync of every file and folder as it is written,
// or one syncfs(2) of the backup filesystem at the end (the default; see
// syncEachFile).
func BenchmarkSyncStrategy(b *testing.B) {
	sh := benchShape{name: "2k", files: 2000, dirs: 20, total: 2000 * 4096}
	src := filepath.Join(b.TempDir(), "data")
	sh.generate(b, src)
	for _, mode := range []struct {
		name     string
		syncEach bool
	}{{"fsync-each", true}, {"syncfs", false}} {
		b.Run(mode.name, func(b *testing.B) {
			old := syncEachFile
			syncEachFile = mode.syncEach
			defer func() { syncEachFile = old }()
			root := b.TempDir()
			i := 0
			for b.Loop() {
				i++
				bk, err := Create(context.Background(), src, filepath.Join(root, fmt.Sprint(i)), "b")
				if err != nil {
					b.Fatal(err)
				}
				if bk.Files != sh.files {
					b.Fatalf("Files = %d", bk.Files)
				}
			}
		})
	}
}
