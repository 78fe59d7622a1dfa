package lock

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Other holders are real processes: this test binary re-executed with
// LOCK_TEST_HELPER set (the os/exec helper-process pattern). The helper
// acquires LOCK_TEST_PATH, prints "ready pid=<pid>" and holds the lock until
// its stdin is closed; each "check" line on its stdin runs (*Lock).Check and
// answers "checked restored=<bool>" or "error: ...".

const helperEnv = "LOCK_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "hold" {
		os.Exit(hold(os.Getenv("LOCK_TEST_PATH"), os.Getenv("LOCK_TEST_PURPOSE")))
	}
	os.Exit(m.Run())
}

func hold(path, purpose string) int {
	l, err := Acquire(path, purpose)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	fmt.Printf("ready pid=%d\n", os.Getpid())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "check" {
			fmt.Printf("error: unknown command %q\n", in.Text())
			continue
		}
		restored, err := l.Check()
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Printf("checked restored=%t\n", restored)
	}
	if err := l.Release(); err != nil {
		fmt.Println("error:", err)
		return 1
	}
	return 0
}

type holder struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	pid    int
}

// check asks the holder to run (*Lock).Check and returns its answer line.
func (h *holder) check(t *testing.T) string {
	t.Helper()
	if _, err := io.WriteString(h.stdin, "check\n"); err != nil {
		t.Fatal(err)
	}
	line, err := h.stdout.ReadString('\n')
	if err != nil {
		t.Fatalf("helper did not answer: %v (got %q)", err, line)
	}
	return strings.TrimSpace(line)
}

// startHolder starts a helper process holding path and returns once it
// reported that it holds the lock.
func startHolder(t *testing.T, path, purpose string) *holder {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=hold", "LOCK_TEST_PATH="+path,
		"LOCK_TEST_PURPOSE="+purpose, "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("helper did not report: %v (got %q)", err, line)
	}
	pidText, ok := strings.CutPrefix(strings.TrimSpace(line), "ready pid=")
	if !ok {
		t.Fatalf("helper said %q, want ready", line)
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid != cmd.Process.Pid {
		t.Fatalf("helper reported pid %q, started pid %d", pidText, cmd.Process.Pid)
	}
	return &holder{cmd: cmd, stdin: stdin, stdout: out, pid: pid}
}

func mustAcquire(t *testing.T, path, purpose string) *Lock {
	t.Helper()
	l, err := Acquire(path, purpose)
	if err != nil {
		t.Fatalf("Acquire(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = l.Release() })
	return l
}

func heldError(t *testing.T, err error) *HeldError {
	t.Helper()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("error %v does not wrap ErrLocked", err)
	}
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("error %v (%T) is not a *HeldError", err, err)
	}
	return held
}

func TestAcquireFailsWhileAnotherProcessHolds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	before := time.Now().Truncate(time.Second)
	h := startHolder(t, path, "daemon")

	_, err := Acquire(path, "run --once")
	held := heldError(t, err)
	if held.Path != path || held.PID != h.pid || held.Purpose != "daemon" {
		t.Errorf("HeldError = %+v, want path %s, pid %d, purpose daemon", held, path, h.pid)
	}
	if held.Since.Before(before) || held.Since.After(time.Now()) {
		t.Errorf("Since = %v, want between %v and now", held.Since, before)
	}
	want := fmt.Sprintf("cannot lock %s: held by pid %d (daemon) since %s; stop it or wait",
		path, h.pid, held.Since.Format(time.RFC3339))
	if err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err.Error(), want)
	}

	// A clean exit of the holder releases the lock.
	if err := h.stdin.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	mustAcquire(t, path, "run --once")
}

func TestKilledHolderReleasesLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	h := startHolder(t, path, "retry")
	if _, err := Acquire(path, "daemon"); !errors.Is(err, ErrLocked) {
		t.Fatalf("Acquire while held: %v, want ErrLocked", err)
	}
	if err := h.cmd.Process.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Wait() // the kernel has released its files once Wait returns

	// The dead holder never cleaned up: its information is still there...
	stale, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stale), fmt.Sprintf("pid: %d\n", h.pid)) {
		t.Fatalf("lock file = %q, want the killed holder's pid %d", stale, h.pid)
	}
	// ...and yet it does not block.
	mustAcquire(t, path, "daemon")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(got), fmt.Sprintf("pid: %d\npurpose: daemon\nsince: ", os.Getpid())) {
		t.Errorf("lock file = %q, want this process as holder", got)
	}
}

func TestSecondAcquireInSameProcessFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	first := mustAcquire(t, path, "daemon")

	_, err := Acquire(path, "retry")
	held := heldError(t, err)
	if held.PID != os.Getpid() || held.Purpose != "daemon" {
		t.Errorf("HeldError = %+v, want pid %d (daemon)", held, os.Getpid())
	}

	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, path, "retry")
}

func TestReleaseIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l := mustAcquire(t, path, "daemon")
	if l.Path() != path {
		t.Errorf("Path() = %q, want %q", l.Path(), path)
	}
	for i := range 3 {
		if err := l.Release(); err != nil {
			t.Fatalf("Release #%d: %v", i+1, err)
		}
	}
	var nilLock *Lock
	if err := nilLock.Release(); err != nil {
		t.Errorf("nil Release: %v", err)
	}
	// The file stays (it is never replaced or removed) and no longer names
	// a holder.
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 0 {
		t.Errorf("released lock file has %d bytes, want 0", fi.Size())
	}
	if fi.Mode().Perm() != 0o644&^umask() {
		t.Errorf("lock file mode = %v, want %v", fi.Mode().Perm(), fs.FileMode(0o644&^umask()))
	}
}

func umask() fs.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return fs.FileMode(m)
}

func TestStaleContentDoesNotBlock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	// Longer than what Acquire writes, to prove the old content is
	// truncated and not just overwritten at the front.
	stale := "pid: 4194999\npurpose: daemon\nsince: 2001-02-03T04:05:06Z\n" + strings.Repeat("#", 500) + "\n"
	if err := os.WriteFile(path, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, path, "run --once")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	if len(lines) != 3 || lines[0] != fmt.Sprintf("pid: %d", os.Getpid()) || lines[1] != "purpose: run --once" {
		t.Errorf("lock file = %q, want exactly this holder's three lines", got)
	}
}

func TestHolderInformationUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	mustAcquire(t, path, "daemon")
	// flock is advisory: anyone can scribble over the content. The lock
	// still holds and the message falls back to "another process".
	if err := os.WriteFile(path, []byte("garbage\npid: not-a-number\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Acquire(path, "retry")
	held := heldError(t, err)
	if held.PID != 0 {
		t.Errorf("PID = %d, want 0 for unreadable content", held.PID)
	}
	want := "cannot lock " + path + ": held by another process; stop it or wait"
	if err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err.Error(), want)
	}
}

func TestMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing")
	path := filepath.Join(dir, "lock")
	_, err := Acquire(path, "daemon")
	if err == nil {
		t.Fatal("Acquire in a missing folder succeeded")
	}
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrLocked) {
		t.Errorf("error %v: want fs.ErrNotExist and not ErrLocked", err)
	}
	for _, want := range []string{"cannot open lock file " + path, "folder " + dir + " does not exist; create it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Acquire created the folder: %v", err)
	}
}

func TestConcurrentAcquireHasOneWinner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	const n = 16
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		winners []*Lock
		others  []error
	)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			l, err := Acquire(path, "daemon")
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				winners = append(winners, l)
			} else {
				others = append(others, err)
			}
		})
	}
	close(start)
	wg.Wait()
	for _, l := range winners {
		t.Cleanup(func() { _ = l.Release() })
	}
	if len(winners) != 1 {
		t.Fatalf("%d winners, want 1", len(winners))
	}
	for _, err := range others {
		if !errors.Is(err, ErrLocked) {
			t.Errorf("loser error %v, want ErrLocked", err)
		}
	}
}

func TestLockIsNotInheritedByChildren(t *testing.T) {
	l := mustAcquire(t, filepath.Join(t.TempDir(), "lock"), "daemon")
	for name, f := range map[string]*os.File{"file": l.f, "folder": l.dir} {
		flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
		if err != nil {
			t.Fatal(err)
		}
		if flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("lock %s descriptor is not close-on-exec: a build or the app would keep the lock alive", name)
		}
	}
}

func TestHeldErrorMessage(t *testing.T) {
	since := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name string
		err  HeldError
		want string
	}{
		{"full", HeldError{Path: "/s/lock", PID: 1234, Purpose: "daemon", Since: since},
			"cannot lock /s/lock: held by pid 1234 (daemon) since 2026-03-04T05:06:07Z; stop it or wait"},
		{"no purpose", HeldError{Path: "/s/lock", PID: 1234, Since: since},
			"cannot lock /s/lock: held by pid 1234 since 2026-03-04T05:06:07Z; stop it or wait"},
		{"no time", HeldError{Path: "/s/lock", PID: 1234, Purpose: "retry"},
			"cannot lock /s/lock: held by pid 1234 (retry); stop it or wait"},
		{"unknown", HeldError{Path: "/s/lock", Purpose: "daemon"},
			"cannot lock /s/lock: held by another process; stop it or wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestPurposeLineBreaksAreFlattened(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	mustAcquire(t, path, "run\n--once\npid: 1")
	_, err := Acquire(path, "x")
	held := heldError(t, err)
	if held.PID != os.Getpid() || held.Purpose != "run --once pid: 1" {
		t.Errorf("HeldError = %+v, want pid %d and the flattened purpose", held, os.Getpid())
	}
}

// Issue 8, item 7: deleting the lock file must not let a second holder in.
// The refused process can no longer read who holds it, so it says
// "another process".
func TestDeletedLockFileStillRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	mustAcquire(t, path, "daemon")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(path, "run --once")
	if err == nil {
		_ = l.Release()
		t.Fatal("second Acquire after deleting the lock file succeeded: two holders")
	}
	held := heldError(t, err)
	if held.Path != path || held.PID != 0 {
		t.Errorf("HeldError = %+v, want path %s and no pid (the information is gone)", held, path)
	}
	want := "cannot lock " + path + ": held by another process; stop it or wait"
	if err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err.Error(), want)
	}
	// A refused process leaves no file behind: a file at path would look
	// like the holder's and name nobody.
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused Acquire created %s: %v", path, err)
	}
}

// Same with a file replaced by rename (an atomic write by some tool): the
// new inode carries no flock, but the lock holds.
func TestReplacedLockFileStillRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "lock")
	mustAcquire(t, path, "daemon")
	tmp := filepath.Join(dir, "lock.tmp")
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(path, "retry")
	if err == nil {
		_ = l.Release()
		t.Fatal("second Acquire after replacing the lock file succeeded: two holders")
	}
	if held := heldError(t, err); held.PID != 0 {
		t.Errorf("PID = %d, want 0: the replacement names nobody", held.PID)
	}
}

// The path users take: a daemon runs, someone deletes its lock file, a
// second daemon starts. It must be refused, and a SIGKILL of the first must
// still free the lock.
func TestDeletedLockFileRefusesSecondProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	h := startHolder(t, path, "daemon")
	_, err := Acquire(path, "daemon")
	since := heldError(t, err).Since
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	l, err := Acquire(path, "daemon")
	if err == nil {
		_ = l.Release()
		t.Fatalf("Acquire succeeded while pid %d holds the lock whose file was deleted: two daemons", h.pid)
	}
	held := heldError(t, err)
	if held.PID != 0 {
		t.Errorf("HeldError = %+v, want no pid: the holder's information was deleted", held)
	}
	if want := "cannot lock " + path + ": held by another process; stop it or wait"; err.Error() != want {
		t.Errorf("message\n got %q\nwant %q", err.Error(), want)
	}

	// The daemon's next resync runs Check, which writes the file back, and
	// refused processes name the holder again.
	if got := h.check(t); got != "checked restored=true" {
		t.Fatalf("holder's Check: %q, want restored=true", got)
	}
	if got := h.check(t); got != "checked restored=false" {
		t.Fatalf("holder's second Check: %q, want restored=false", got)
	}
	_, err = Acquire(path, "daemon")
	held = heldError(t, err)
	if held.PID != h.pid || held.Purpose != "daemon" || !held.Since.Equal(since) {
		t.Errorf("HeldError = %+v, want pid %d (daemon) since %v", held, h.pid, since)
	}

	if err := h.cmd.Process.Signal(unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = h.cmd.Wait() // the kernel has released its files once Wait returns
	mustAcquire(t, path, "daemon")
}

// Check puts back what others removed or spoiled, with the holder's
// original information, and says so; on an intact lock it changes nothing.
func TestCheckRestoresHolderInformation(t *testing.T) {
	tests := []struct {
		name     string
		spoil    func(t *testing.T, path string)
		restored bool
	}{
		{"intact", func(*testing.T, string) {}, false},
		{"deleted", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"replaced by rename", func(t *testing.T, path string) {
			tmp := path + ".tmp"
			if err := os.WriteFile(tmp, []byte("pid: 1\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"overwritten", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("garbage\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"emptied", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			l := mustAcquire(t, path, "daemon")
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.spoil(t, path)

			restored, err := l.Check()
			if err != nil || restored != tt.restored {
				t.Fatalf("Check() = %t, %v; want %t, nil", restored, err, tt.restored)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("lock file = %q, want the original %q", got, want)
			}
			if restored, err := l.Check(); restored || err != nil {
				t.Errorf("second Check() = %t, %v; want false, nil", restored, err)
			}
			// The file at path is the locked one again: even a holder of
			// the file alone (an older updater) would be refused.
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			held, err := l.f.Stat()
			if err != nil {
				t.Fatal(err)
			}
			if !os.SameFile(fi, held) {
				t.Error("path does not name the locked file after Check")
			}
			if tt.name == "deleted" && fi.Mode().Perm() != 0o644&^umask() {
				t.Errorf("recreated lock file mode = %v, want %v", fi.Mode().Perm(), fs.FileMode(0o644&^umask()))
			}
			_, err = Acquire(path, "retry")
			if h := heldError(t, err); h.PID != os.Getpid() || h.Purpose != "daemon" {
				t.Errorf("HeldError = %+v, want pid %d (daemon)", h, os.Getpid())
			}
		})
	}
}

// An updater from before the folder lock flocks only the file. During a
// self-update both versions may run; they must still exclude each other.
func TestHolderOfTheFileAloneRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	old := flockFile(t, path, "pid: 4194001\npurpose: daemon\n")

	_, err := Acquire(path, "daemon")
	if held := heldError(t, err); held.PID != 4194001 || held.Purpose != "daemon" {
		t.Errorf("HeldError = %+v, want pid 4194001 (daemon)", held)
	}
	// The refused Acquire let go of the folder: once the old holder is
	// gone, the lock is free.
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, path, "daemon")
}

// flockFile stands for an updater from before the folder lock: it writes
// content into path and flocks that file only.
func flockFile(t *testing.T, path, content string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	if _, err := f.WriteString(content); err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	return f
}

// If an older updater got in after the file was deleted, Check cannot take
// the new file back and says that another process holds it.
func TestCheckReportsAnOlderHolderOfTheNewFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	l := mustAcquire(t, path, "daemon")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	flockFile(t, path, "pid: 4194002\npurpose: daemon\n")

	restored, err := l.Check()
	if restored {
		t.Error("Check restored the file although another process holds it")
	}
	if held := heldError(t, err); held.PID != 4194002 || held.Path != path {
		t.Errorf("HeldError = %+v, want pid 4194002 at %s", held, path)
	}
}

// Replacing the whole state folder leaves the lock on the old one; Check
// locks the folder now at the path, so a later Acquire is refused again.
func TestCheckLocksAReplacedFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "lock")
	l := mustAcquire(t, path, "daemon")
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	restored, err := l.Check()
	if err != nil || !restored {
		t.Fatalf("Check() = %t, %v; want true, nil", restored, err)
	}
	_, err = Acquire(path, "retry")
	if held := heldError(t, err); held.PID != os.Getpid() || held.Purpose != "daemon" {
		t.Errorf("HeldError = %+v, want pid %d (daemon)", held, os.Getpid())
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, path, "retry")
	// The old folder is not held any more either.
	mustAcquire(t, filepath.Join(dir+".old", "lock"), "retry")
}

// A removed state folder cannot be put back by the lock: Check says so.
func TestCheckReportsAMissingFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "lock")
	l := mustAcquire(t, path, "daemon")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	restored, err := l.Check()
	if restored || !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrLocked) {
		t.Errorf("Check() = %t, %v; want false and fs.ErrNotExist", restored, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Check created the folder: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Errorf("Release: %v", err)
	}
}

func TestCheckAfterReleaseFails(t *testing.T) {
	l := mustAcquire(t, filepath.Join(t.TempDir(), "lock"), "daemon")
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Check(); err == nil || errors.Is(err, ErrLocked) {
		t.Errorf("Check after Release: %v, want an error that is not ErrLocked", err)
	}
	var nilLock *Lock
	if _, err := nilLock.Check(); err == nil {
		t.Error("Check on a nil *Lock succeeded")
	}
}

// A second process got in after the state folder was moved away and
// created again (the one gap the folder lock leaves): the holder's Check
// finds the new folder held and says so, naming the other holder.
func TestCheckReportsASecondHolderOfANewFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "lock")
	l := mustAcquire(t, path, "daemon")
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mustAcquire(t, path, "retry")

	restored, err := l.Check()
	if restored {
		t.Error("Check took over a folder another holder has")
	}
	if held := heldError(t, err); held.PID != os.Getpid() || held.Purpose != "retry" {
		t.Errorf("HeldError = %+v, want pid %d (retry)", held, os.Getpid())
	}
}
