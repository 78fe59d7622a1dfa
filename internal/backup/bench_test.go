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
// does not slow the next. cp -a and tar do not sync; our backup does
// (one syncfs), so the comparison favours the baselines.
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
}

var benchShapes = []benchShape{
	{name: "1GiB-10files", files: 10, dirs: 1, total: 1 << 30},
	{name: "200MiB-50kfiles", files: 50_000, dirs: 500, total: 200 << 20},
}

func BenchmarkBackup(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) { benchBackup(b, sh) })
	}
}

func benchBackup(b *testing.B, sh benchShape) {
	if w := os.Getenv("WORKERS"); w != "" {
		fmt.Sscan(w, &workerCount)
		b.Logf("workers %d", workerCount)
	}
	work := b.TempDir()
	src := filepath.Join(work, "data")
	sh.generate(b, src)
	rsync, err := exec.LookPath("rsync")
	if err != nil {
		b.Logf("rsync not installed (apt-get install -y rsync): the rsync baseline is skipped")
	}
	ctx := context.Background()
	var cpA, cpSync, tarT, first, rs, incr, cold time.Duration
	var copied, linked, coldCopied int
	round := 0
	for b.Loop() {
		round++
		cpOut, tarOut, rsOut := filepath.Join(work, "cp"), filepath.Join(work, "x.tar"), filepath.Join(work, "rsync")
		root := filepath.Join(work, "backups")

		cpA += timeCmd(b, "cp", "-a", src, cpOut)
		mustRemove(b, cpOut)
		settle(b)
		// The same made durable, as a backup must be: cp -a, then
		// syncfs of the filesystem it wrote to.
		cpSync += timeIt(b, func() error {
			if out, err := exec.Command("cp", "-a", src, cpOut).CombinedOutput(); err != nil {
				return fmt.Errorf("cp: %v\n%s", err, out)
			}
			return syncfsOf(cpOut)
		})
		settle(b)
		tarT += timeCmd(b, "tar", "-cf", tarOut, "-C", src, ".")
		mustRemove(b, tarOut)
		settle(b)
		first += timeIt(b, func() error { _, err := Create(ctx, src, root, "first"); return err })
		settle(b)

		sh.change(b, src, 2*round)
		settle(b)
		if rsync != "" {
			rs += timeCmd(b, rsync, "-a", "--link-dest="+cpOut, src+"/", rsOut)
			settle(b)
		}
		var bk Backup
		incr += timeIt(b, func() (err error) { bk, err = Create(ctx, src, root, "incr"); return err })
		copied, linked = bk.Copied, bk.Linked
		settle(b)

		// The hot pass "incr" is taken; the app writes 1% more, stops,
		// and the cold pass runs.
		sh.change(b, src, 2*round+1)
		settle(b)
		cold += timeIt(b, func() (err error) { bk, err = Finish(ctx, src, root, "incr"); return err })
		coldCopied = bk.Copied
		if bk.FinishedAt.IsZero() {
			b.Fatal("Finish did not record the cold pass")
		}

		for _, p := range []string{cpOut, rsOut, root} {
			mustRemove(b, p)
		}
		settle(b)
	}
	n := float64(round)
	sec := func(d time.Duration) float64 { return d.Seconds() / n }
	b.ReportMetric(sec(first), "first-s")
	b.ReportMetric(sec(cpA), "cp-a-s")
	b.ReportMetric(sec(incr), "incr-s")
	b.ReportMetric(sec(cold), "cold-s")
	b.ReportMetric(sec(first)/sec(cpA), "first/cp-a")
	b.ReportMetric(sec(incr)/sec(first), "incr/first")
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-16s %9s  %-28s %9s  %s\n", sh.name, "ours (s)", "baseline", "base (s)", "ratio")
	row := func(what string, ours float64, base string, theirs float64) {
		fmt.Fprintf(&table, "%-16s %9.3f  %-28s %9.3f  %.2f\n", what, ours, base, theirs, ours/theirs)
	}
	b.ReportMetric(sec(first)/sec(cpSync), "first/cp-a+sync")
	row("first backup", sec(first), "cp -a", sec(cpA))
	row("first backup", sec(first), "cp -a && sync -f", sec(cpSync))
	row("first backup", sec(first), "tar -cf", sec(tarT))
	row("incr (1% chg)", sec(incr), "our first backup", sec(first))
	if rsync != "" {
		b.ReportMetric(sec(incr)/sec(rs), "incr/rsync")
		row("incr (1% chg)", sec(incr), "rsync -a --link-dest", sec(rs))
	}
	fmt.Fprintf(&table, "%-16s %9.3f  %-28s %9s  target < 0.2 s for 1 GiB\n", "cold (1% chg)", sec(cold), "-", "-")
	fmt.Fprintf(&table, "last incremental: %d copied, %d linked; last cold pass: %d copied; %d rounds", copied, linked, coldCopied, round)
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

func syncfsOf(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
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
// on many small files: fsync of every file and folder as it is written,
// or one syncfs(2) of the backup filesystem at the end (the default; see
// syncEachFile).
func BenchmarkSyncStrategy(b *testing.B) {
	sh := benchShape{name: "5k", files: 5000, dirs: 50, total: 5000 * 4096}
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
