package preflight

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/backup"
)

// ctimesSettle waits until every file below dir changed long enough ago
// for a backup to trust its ctime: the backup distrusts a ctime from the
// last 100 ms (a second write within one clock tick would not change it)
// and compares content instead, which the space estimate does not do. It
// waits for the clock, as data does between two updates, not for another
// goroutine: there is no event to wait on, the property under test is the
// age of a kernel timestamp (which cannot be set backwards), and the wait
// is bounded (at most 250 ms after the newest change).
func ctimesSettle(t *testing.T, dir string) {
	t.Helper()
	var newest time.Time
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		// unix.Stat_t names the ctime Ctim on Linux and darwin alike.
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if c := time.Unix(st.Ctim.Unix()); c.After(newest) {
			newest = c
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(newest.Add(250 * time.Millisecond)))
}

// onePartition fakes a single filesystem with avail bytes free.
func onePartition(avail uint64) func(string) (filesystem, error) {
	return func(string) (filesystem, error) { return filesystem{dev: 1, mount: "/", avail: avail}, nil }
}

// The backup of data/ needs room for what its hot pass copies, not for a
// full copy: files unchanged since the newest complete backup are
// hard-linked to that backup's copy. A real data folder of 1.4 MiB and a
// real previous backup: with nothing changed the backup fits in 256 KiB
// (it refused "need 1.4 MiB" before); one changed file of 100 KiB needs
// that file plus the margin; without a previous backup, a full copy.
func TestSpaceCountsOnlyWhatTheBackupCopies(t *testing.T) {
	data, backups := t.TempDir(), t.TempDir()
	for i := range 14 {
		writeFile(t, filepath.Join(data, "uploads", fmt.Sprintf("photo%02d.jpg", i)), 100<<10, 0o644)
	}
	in := Input{DataDir: data, BackupDir: backups}
	ctx := context.Background()
	spaceErr := func(avail uint64) *SpaceError {
		t.Helper()
		checks := spaceChecks(ctx, in, onePartition(avail))
		if len(checks) != 1 {
			t.Fatalf("checks = %+v, want one", checks)
		}
		var se *SpaceError
		if checks[0].Err != nil && !errors.As(checks[0].Err, &se) {
			t.Fatalf("check = %v, want a SpaceError or nothing", checks[0].Err)
		}
		return se
	}

	// No backup yet: a full copy, 1.4 MiB and more.
	if se := spaceErr(256 << 10); se == nil || se.Need < 1400<<10 {
		t.Errorf("without a previous backup: %v, want a need of a full copy (1.4 MiB or more)", se)
	}

	ctimesSettle(t, data)
	if _, err := backup.Create(ctx, data, backups, "previous"); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Finish(ctx, data, backups, "previous"); err != nil {
		t.Fatal(err)
	}
	if se := spaceErr(256 << 10); se != nil {
		t.Errorf("nothing changed since the previous backup, 256 KiB free: %v", se)
	}

	// The app changed one photo.
	writeFile(t, filepath.Join(data, "uploads", "photo03.jpg"), 100<<10+1, 0o644)
	if se := spaceErr(256 << 10); se != nil {
		t.Errorf("one file of 100 KiB changed, 256 KiB free: %v", se)
	}
	se := spaceErr(100 << 10)
	if se == nil || se.Need <= 100<<10 || se.Need > 200<<10 {
		t.Fatalf("one file of 100 KiB changed, 100 KiB free: %v, want a need between 100 and 200 KiB", se)
	}
	if want := "the backup of " + data + " to " + backups; len(se.For) != 1 || se.For[0] != want {
		t.Errorf("For = %q, want %q", se.For, want)
	}
}

// The backup's extra paths (backup.paths) need room too: a 1 MiB file in
// migrations/ beside an empty data/ does not fit in 256 KiB.
func TestSpaceCountsBackupPaths(t *testing.T) {
	install, backups := t.TempDir(), t.TempDir()
	data := filepath.Join(install, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(install, "migrations", "0001.sql"), 1<<20, 0o644)
	ctx := context.Background()
	in := Input{DataDir: data, BackupDir: backups, InstallDir: install}
	if checks := spaceChecks(ctx, in, onePartition(256<<10)); len(checks) != 1 || checks[0].Err != nil {
		t.Fatalf("without backup.paths: %+v, want room enough", checks)
	}
	in.BackupPaths = []string{"migrations"}
	checks := spaceChecks(ctx, in, onePartition(256<<10))
	var se *SpaceError
	if len(checks) != 1 || !errors.As(checks[0].Err, &se) || se.Need < 1<<20 {
		t.Fatalf("with backup.paths [migrations]: %+v, want a need of 1 MiB or more", checks)
	}
}
