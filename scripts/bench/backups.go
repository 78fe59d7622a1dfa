package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/better-paas/updater/internal/backup"
)

// The backup figures of internal/backup's BenchmarkBackup (and the targets
// the backups work set, see its bench_test.go), measured here beside the
// same tools in the same run: the first backup against cp -a, an
// incremental backup after a 1% change against a full one and against
// rsync -a --link-dest, and the cold pass that runs while the app is
// stopped.
func init() {
	register(Measure{Group: "Backups", Name: "backups of data/ beside cp -a and rsync", Run: runBackups})
}

// backupShape is one data/ folder: Files files of Total/Files bytes of
// random content (incompressible, as uploads are) in Dirs folders.
type backupShape struct {
	Name        string
	Files, Dirs int
	Total       int64
	ColdTarget  bool // the cold-pass target (< 0.2 s) is set for this shape
}

var backupShapes = []backupShape{
	{Name: "1 GiB in 10 files", Files: 10, Dirs: 1, Total: 1 << 30, ColdTarget: true},
	{Name: "200 MiB in 50,000 files", Files: 50_000, Dirs: 500, Total: 200 << 20},
}

func runBackups(ctx context.Context, env *Env) ([]Result, error) {
	rsync, err := exec.LookPath("rsync")
	if err != nil {
		env.Log.Printf("backups: rsync is not installed (scripts/ensure-deps.sh rsync): its baseline is left out")
	}
	var rows []Result
	for i, sh := range backupShapes {
		r, err := benchBackupShape(ctx, env, filepath.Join(env.WorkDir, fmt.Sprintf("backups-%d", i)), sh, rsync)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", sh.Name, err)
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

func benchBackupShape(ctx context.Context, env *Env, work string, sh backupShape, rsync string) ([]Result, error) {
	src := filepath.Join(work, "data")
	if err := sh.generate(src); err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	settleDisk()
	var cp, cpSync, first, incr, rs, cold []float64
	var lastIncr, lastCold backup.Backup
	for round := range env.Runs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Every round writes to folders of its own, and nothing is
		// removed before the shape is done: on ext4 without a journal
		// (this project's VM) the inode allocator skips inodes freed in
		// the last 60 s (360 s while their inode table block is dirty),
		// testing them one by one, so creating 20,000 files right after
		// 20,000 were removed took 200 µs of kernel time each instead of
		// 87. Removing cp -a's copy just before our first backup charged
		// that to the backup alone; now no contender follows a mass
		// removal.
		cpOut := filepath.Join(work, fmt.Sprint("cp-", round))
		rsOut := filepath.Join(work, fmt.Sprint("rsync-", round))
		root := filepath.Join(work, fmt.Sprint("backups-", round))

		// Each pair runs in the order of the round, the other way round
		// in the next (alternate), so neither contender always meets the
		// file system as the other left it.
		cpA := func() (time.Duration, error) {
			d, err := runTool(ctx, "", nil, "cp", "-a", src, cpOut)
			if err != nil {
				return 0, err
			}
			// A backup is durable when it is done; cp -a is not: "cp -a
			// && sync -f" is the like-for-like figure.
			if runtime.GOOS == "linux" {
				s, err := runTool(ctx, "", nil, "sync", "-f", cpOut)
				if err != nil {
					return 0, err
				}
				cpSync = append(cpSync, (d + s).Seconds())
			}
			return d, nil
		}
		ours := func() (time.Duration, error) {
			return timed(func() error { _, err := backup.Create(ctx, src, root, "first"); return err })
		}
		settleDisk()
		dc, t, err := alternate(round, cpA, ours)
		if err != nil {
			return nil, err
		}
		cp, first = append(cp, dc.Seconds()), append(first, t.Seconds())

		// 1% changes; rsync and the incremental start from the same copy.
		if err := sh.change(src, 2*round); err != nil {
			return nil, err
		}
		settleDisk()
		incremental := func() (time.Duration, error) {
			return timed(func() (err error) { lastIncr, err = backup.Create(ctx, src, root, "incr"); return err })
		}
		if rsync != "" {
			rsyncA := func() (time.Duration, error) {
				return runTool(ctx, "", nil, rsync, "-a", "--link-dest="+filepath.Join(root, "first", backup.DataDir), src+"/", rsOut)
			}
			dr, t, err := alternate(round, rsyncA, incremental)
			if err != nil {
				return nil, err
			}
			rs, incr = append(rs, dr.Seconds()), append(incr, t.Seconds())
		} else {
			t, err := incremental()
			if err != nil {
				return nil, err
			}
			incr = append(incr, t.Seconds())
			settleDisk()
		}

		// The hot pass is taken; the app writes 1% more, stops, and the
		// cold pass runs.
		if err := sh.change(src, 2*round+1); err != nil {
			return nil, err
		}
		settleDisk()
		t, err = timed(func() (err error) { lastCold, err = backup.Finish(ctx, src, root, "incr"); return err })
		if err != nil {
			return nil, err
		}
		if lastCold.FinishedAt.IsZero() || lastCold.Copied == 0 {
			return nil, fmt.Errorf("the cold pass did not run: %+v", lastCold)
		}
		cold = append(cold, t.Seconds())
		settleDisk()
	}
	how := fmt.Sprintf("%s of random content; %d runs, each pair of contenders in alternating order; outputs synced between measurements, untimed, and kept until the shape is done; page cache warm for every contender.", sh.Name, env.Runs)
	rows := []Result{{
		Group: "Backups", Name: "first backup, " + sh.Name, Unit: "s",
		Runs: first, Baseline: "cp -a", BaselineRuns: cp,
		Target: "<= 1x", Pass: boolPtr(median(first) <= median(cp)),
		Note: "backup.Create with no earlier backup (copies, sha256 manifest, syncfs) vs cp -a, which neither hashes nor syncs; " +
			fmt.Sprintf("cp -a && sync -f took %s s. ", summary(cpSync, "")) + how,
	}}
	if len(cpSync) > 0 {
		rows = append(rows, Result{
			Group: "Backups", Name: "first backup vs a durable cp -a, " + sh.Name, Unit: "s",
			Runs: first, Baseline: "cp -a && sync -f", BaselineRuns: cpSync,
			Target: "<= 1x", Pass: boolPtr(median(first) <= median(cpSync)),
			Note: "The like-for-like comparison: backup.Create returns with the backup durable, so cp -a is timed with the syncfs that makes its copy durable; " +
				"cp -a still neither hashes (sha256 of every byte: 0.5 s of CPU per GiB at SHA-NI's 2 GB/s, on the critical path of each file) nor writes a manifest. " + how,
		})
	}
	rows = append(rows, Result{
		Group: "Backups", Name: "incremental after a 1% change, " + sh.Name, Unit: "s",
		Runs: incr, Baseline: "our first backup", BaselineRuns: first,
		Target: "<= 0.25x", Pass: boolPtr(median(incr) <= 0.25*median(first)),
		Note: fmt.Sprintf("backup.Create hard-linking unchanged files to the previous backup (last run: %d copied, %d linked, %d hashed) "+
			"vs a full first backup. ", lastIncr.Copied, lastIncr.Linked, lastIncr.Hashed) + how,
	})
	if len(rs) > 0 {
		rows = append(rows, Result{
			Group: "Backups", Name: "incremental after a 1% change vs rsync, " + sh.Name, Unit: "s",
			Runs: incr, Baseline: "rsync -a --link-dest", BaselineRuns: rs,
			Target: "<= 1x", Pass: boolPtr(median(incr) <= median(rs)),
			Note: "rsync starts from our first backup's copy (--link-dest), as our incremental does; rsync does not sync. " + how,
		})
	}
	coldRow := Result{
		Group: "Backups", Name: "cold pass after a 1% change, " + sh.Name, Unit: "s", Runs: cold,
		Note: fmt.Sprintf("backup.Finish while the app is stopped (downtime): copies what changed since the hot pass (last run: %d copied, %d kept). ",
			lastCold.Copied, lastCold.Linked) + how,
	}
	if sh.ColdTarget {
		coldRow.Target = "< 0.2 s"
		coldRow.Pass = boolPtr(median(cold) < 0.2)
	}
	return append(rows, coldRow), nil
}

// timed runs f and returns how long it took.
func timed(f func() error) (time.Duration, error) {
	began := time.Now()
	err := f()
	return time.Since(began), err
}

// generate writes the shape below dir with random content from a fixed
// seed, so every run backs up the same bytes.
func (sh backupShape) generate(dir string) error {
	rng := rand.NewChaCha8([32]byte{1})
	size := sh.Total / int64(sh.Files)
	buf := make([]byte, min(size, 4<<20))
	for i := range sh.Files {
		p := sh.path(dir, i)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.Create(p)
		if err != nil {
			return err
		}
		for left := size; left > 0; {
			chunk := buf[:min(left, int64(len(buf)))]
			_, _ = rng.Read(chunk)
			if _, err := f.Write(chunk); err != nil {
				f.Close()
				return err
			}
			left -= int64(len(chunk))
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func (sh backupShape) path(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("d%03d", i%sh.Dirs), fmt.Sprintf("f%05d", i))
}

// change rewrites 1% of the data, chosen by round: for a few big files
// 1% of the bytes in place in one file, for many small files 1% of the
// files.
func (sh backupShape) change(dir string, round int) error {
	rng := rand.NewChaCha8([32]byte{byte(round), 2})
	if sh.Files < 100 {
		f, err := os.OpenFile(sh.path(dir, round%sh.Files), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		chunk := make([]byte, sh.Total/100)
		_, _ = rng.Read(chunk)
		if _, err := f.WriteAt(chunk, sh.Total/int64(sh.Files)/3); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	chunk := make([]byte, sh.Total/int64(sh.Files))
	for i := round % 100; i < sh.Files; i += 100 {
		_, _ = rng.Read(chunk)
		if err := os.WriteFile(sh.path(dir, i), chunk, 0o644); err != nil {
			return err
		}
	}
	return nil
}
