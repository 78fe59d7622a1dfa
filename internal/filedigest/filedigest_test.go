package filedigest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCacheReadsAChangedFileAgain: a digest is served from the cache only
// while the file keeps its inode, size and times, and only once its last
// change is Racy old; any write, replacement or removal is seen.
func TestCacheReadsAChangedFileAgain(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	age := func(d time.Duration) {
		t.Helper()
		// Back-date mtime; ctime cannot be set, so the racy window is
		// crossed by the test moving Racy instead (below).
		if err := os.Chtimes(path, time.Now().Add(-d), time.Now().Add(-d)); err != nil {
			t.Fatal(err)
		}
	}
	var c Cache
	want := func(content string) {
		t.Helper()
		sum, err := Sum(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.SHA256(path)
		if err != nil || got != sum {
			t.Fatalf("SHA256 = %q, %v; want %q (%s)", got, err, sum, content)
		}
	}
	// Changed within the window: not cached. The window is an hour here,
	// not FineRacy's 20 ms, which a loaded machine (make test's -race
	// jobs side by side) can let pass between the write and the hash.
	racyWas, fineWas := racy, fineRacy
	defer func() { racy, fineRacy = racyWas, fineWas }()
	racy, fineRacy = time.Hour, time.Hour
	write("one")
	want("one")
	if len(c.m) != 0 {
		t.Fatal("a file changed within the racy window was cached: it is racily clean")
	}
	// Old enough: cached, and served from the cache while unchanged.
	c.m = nil
	racy, fineRacy = 0, 0
	want("one")
	if _, ok := c.m[path]; !ok {
		t.Fatal("an unchanged file was not cached")
	}
	// Same size, in place: ctime moves, so it is read again.
	write("two")
	age(time.Hour)
	want("two")
	// Replaced by rename: another inode.
	tmp := path + ".new"
	if err := os.WriteFile(tmp, []byte("three"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	want("three")
	// Removed: "" and forgotten.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got, err := c.SHA256(path); got != "" || err != nil {
		t.Fatalf("SHA256 of a missing file = %q, %v", got, err)
	}
	if _, ok := c.m[path]; ok {
		t.Error("a removed file is still cached")
	}
}

// TestRacyWindowFollowsTheTimestampGranularity: a change time with a
// fraction of a second comes from a filesystem that keeps nanoseconds, and
// the short window applies; a whole second may come from one that keeps
// seconds only, and the long one does.
func TestRacyWindowFollowsTheTimestampGranularity(t *testing.T) {
	for _, c := range []struct {
		ctime time.Time
		want  time.Duration
	}{
		{time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC), Racy},
		{time.Date(2026, 12, 1, 6, 0, 1, 0, time.UTC), Racy},
		{time.Date(2026, 12, 1, 6, 0, 0, 1, time.UTC), FineRacy},
		{time.Date(2026, 12, 1, 6, 0, 0, 999_999_999, time.UTC), FineRacy},
		{time.Date(2026, 12, 1, 6, 0, 0, 4_000_000, time.UTC), FineRacy},
	} {
		if got := racyWindow(c.ctime.UnixNano()); got != c.want {
			t.Errorf("racyWindow(%s) = %v, want %v", c.ctime.Format(time.RFC3339Nano), got, c.want)
		}
	}
}

// TestSHA256SettledCachesAFileJustWritten: a file hashed right after it
// was written is cached once SHA256Settled returns (it waited out the
// racy window), where SHA256 would not cache it; a cancelled context ends
// the wait, and the digest is then right but not cached.
func TestSHA256SettledCachesAFileJustWritten(t *testing.T) {
	racyWas, fineWas := racy, fineRacy
	defer func() { racy, fineRacy = racyWas, fineWas }()
	path := filepath.Join(t.TempDir(), "server")
	// A change time on a whole second is taken for a filesystem that keeps
	// seconds only (no wait there); a coarse clock lands on one once in a
	// few hundred writes: write again.
	for range 5 {
		if err := os.WriteFile(path, []byte("new binary"), 0o755); err != nil {
			t.Fatal(err)
		}
		if id, err := Stat(path); err != nil || racyWindow(id.Ctime) == fineRacy {
			break
		}
	}
	if id, err := Stat(path); err != nil || racyWindow(id.Ctime) != fineRacy {
		t.Skipf("this filesystem keeps whole seconds (%v): SHA256Settled does not wait there", err)
	}
	want, err := Sum(path)
	if err != nil {
		t.Fatal(err)
	}

	// The window outlasts the test: cancelled, it returns at once.
	racy, fineRacy = time.Hour, time.Hour
	var c Cache
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := c.SHA256Settled(ctx, path); got != want || err != nil {
		t.Fatalf("SHA256Settled (cancelled) = %q, %v; want %q", got, err, want)
	}
	if len(c.m) != 0 {
		t.Fatal("a file hashed within the racy window was cached")
	}

	fineRacy = 300 * time.Millisecond
	if got, err := c.SHA256Settled(context.Background(), path); got != want || err != nil {
		t.Fatalf("SHA256Settled = %q, %v; want %q", got, err, want)
	}
	if e, ok := c.m[path]; !ok || e.digest != want {
		t.Fatalf("SHA256Settled did not cache the digest: %+v", c.m)
	}
}
