package command

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/proc"
)

func TestMain(m *testing.M) {
	// Shorter grace keeps the kill-escalation tests fast; the logic does
	// not depend on its length.
	killGrace = 300 * time.Millisecond
	os.Exit(m.Run())
}

// output is a goroutine-safe writer that can announce when a text appears.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	watch   string
	watched chan struct{}
}

func newOutput(watch string) *output {
	return &output{watch: watch, watched: make(chan struct{})}
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	if o.watch != "" && strings.Contains(o.buf.String(), o.watch) {
		close(o.watched)
		o.watch = ""
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitChan fails the test if ch is not closed within d.
func waitChan(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("timed out after %s waiting for %s", d, what)
	}
}

// runAsync runs c and returns a channel with Run's result.
func runAsync(ctx context.Context, c Cmd) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- Run(ctx, c) }()
	return ch
}

// result waits for Run's result, failing the test if Run hangs.
func result(t *testing.T, ch <-chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		t.Fatalf("Run did not return within %s", d)
		return nil
	}
}

// processGone reports whether pid no longer runs: no /proc entry, or a
// zombie waiting for init to reap it (it holds no resources any more).
func processGone(t *testing.T, pid int) bool {
	t.Helper()
	st, err := proc.ReadStat(pid)
	if errors.Is(err, proc.ErrNoProcess) {
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return st.Dead()
}

// firstPID parses the first line of out as a pid.
func firstPID(t *testing.T, out string) int {
	t.Helper()
	line, _, _ := strings.Cut(out, "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		t.Fatalf("command did not print a pid first; output %q", out)
	}
	return pid
}

func TestRunSuccessWithDirEnvAndCombinedOutput(t *testing.T) {
	dir := t.TempDir()
	out := newOutput("")
	err := Run(context.Background(), Cmd{
		Argv:   []string{"sh", "-c", `echo "out $GREETING"; echo "err $PWD" >&2; echo third`},
		Dir:    dir,
		Env:    []string{"GREETING=first", "GREETING=hello"},
		Output: out,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := "out hello\nerr " + dir + "\nthird\n"
	if got := out.String(); got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

func TestRunRelativeExecutableResolvesAgainstDir(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "build.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho built in \"$PWD\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := newOutput("")
	if err := Run(context.Background(), Cmd{Argv: []string{"./build.sh"}, Dir: dir, Output: out}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := out.String(), "built in "+dir+"\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

func TestRunExitCodeAndTail(t *testing.T) {
	// About 20 KiB of output, so the tail must be cut.
	script := `i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done; echo "fatal: last words" >&2; exit 3`
	out := newOutput("")
	err := Run(context.Background(), Cmd{Argv: []string{"sh", "-c", script}, Output: out})
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Run error = %v, want *ExitError", err)
	}
	if ee.Code != 3 {
		t.Errorf("Code = %d, want 3", ee.Code)
	}
	if got, want := err.Error(), "cannot run sh: exit code 3"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if ee.Argv[0] != "sh" || ee.Argv[2] != script {
		t.Errorf("Argv = %q", ee.Argv)
	}
	if len(ee.Tail) > tailSize || len(ee.Tail) < tailSize-16 {
		t.Errorf("len(Tail) = %d, want about %d", len(ee.Tail), tailSize)
	}
	if !strings.HasSuffix(ee.Tail, "line 1999\nfatal: last words\n") {
		t.Errorf("Tail does not end with the last output: ...%q", ee.Tail[max(0, len(ee.Tail)-60):])
	}
	if !strings.HasSuffix(out.String(), ee.Tail) || len(out.String()) < 18000 {
		t.Errorf("Output (%d bytes) is not the full stream ending in Tail", len(out.String()))
	}
}

func TestRunKilledBySignalReportsShellCode(t *testing.T) {
	err := Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "echo dying; kill -KILL $$"}})
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Run error = %v, want *ExitError", err)
	}
	if ee.Code != 128+int(syscall.SIGKILL) {
		t.Errorf("Code = %d, want %d", ee.Code, 128+int(syscall.SIGKILL))
	}
	if ee.Tail != "dying\n" {
		t.Errorf("Tail = %q, want %q", ee.Tail, "dying\n")
	}
}

func TestRunCannotStart(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "plain.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		argv    []string
		dir     string // "" = the test's folder
		wantMsg string
		wantIs  error
	}{
		{"empty argv", nil, "", "cannot run command: empty command: argv must name a program", ErrEmptyCommand},
		{"empty name", []string{""}, "", "cannot run command: empty command: argv must name a program", ErrEmptyCommand},
		{"not in PATH", []string{"no-such-program-4711"}, "",
			"cannot run no-such-program-4711: executable file not found in $PATH", exec.ErrNotFound},
		{"missing relative path", []string{"./missing.sh"}, "",
			"cannot run ./missing.sh: stat " + filepath.Join(dir, "missing.sh") + ": no such file or directory", fs.ErrNotExist},
		{"not executable", []string{"./plain.txt"}, "",
			"cannot run ./plain.txt: " + filepath.Join(dir, "plain.txt") + " is not executable (chmod +x it): permission denied", fs.ErrPermission},
		{"missing working folder", []string{"sh"}, filepath.Join(dir, "gone"),
			"cannot run sh: cannot use working folder: stat " + filepath.Join(dir, "gone") + ": no such file or directory", fs.ErrNotExist},
		{"folder", []string{dir + "/"}, "",
			"cannot run " + dir + "/: " + dir + " is a folder: invalid argument", fs.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.dir
			if d == "" {
				d = dir
			}
			err := Run(context.Background(), Cmd{Argv: tt.argv, Dir: d})
			if err == nil {
				t.Fatal("Run succeeded")
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("error = %q, want %q", err, tt.wantMsg)
			}
			if !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not wrap %v", err, tt.wantIs)
			}
		})
	}
}

func TestRunStopsWholeGroupOnTimeout(t *testing.T) {
	tests := []struct {
		name string
		// trap "" TERM is inherited by the background sleep, so the whole
		// group survives SIGTERM and must be SIGKILLed.
		script     string
		ignoreTerm bool
	}{
		{"honours SIGTERM", `sleep 60 & echo $!; wait`, false},
		{"ignores SIGTERM", `trap "" TERM; sleep 60 & echo $!; wait`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const timeout = time.Second
			out := newOutput("")
			start := time.Now()
			err := result(t, runAsync(context.Background(), Cmd{
				Argv:    []string{"sh", "-c", tt.script},
				Timeout: timeout,
				Output:  out,
			}), 15*time.Second)
			elapsed := time.Since(start)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Run error = %v, want ErrTimeout", err)
			}
			if !strings.HasPrefix(err.Error(), "cannot run sh: timed out after ") {
				t.Errorf("error = %q", err)
			}
			grandchild := firstPID(t, out.String())
			if !processGone(t, grandchild) {
				t.Errorf("grandchild %d still runs after Run returned", grandchild)
			}
			if tt.ignoreTerm && elapsed < timeout+killGrace {
				t.Errorf("Run returned after %s; a SIGTERM-ignoring group needs the %s grace before SIGKILL", elapsed, killGrace)
			}
		})
	}
}

func TestRunCallerDeadlineIsTimeout(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := result(t, runAsync(ctx, Cmd{Argv: []string{"sleep", "60"}}), 15*time.Second)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run error = %v, want ErrTimeout", err)
	}
}

func TestRunContextCancelStopsGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newOutput("started")
	done := runAsync(ctx, Cmd{
		Argv:   []string{"sh", "-c", `sleep 60 & echo $!; echo started; wait`},
		Output: out,
	})
	waitChan(t, out.watched, 10*time.Second, "the command to start")
	cancel()
	err := result(t, done, 15*time.Second)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("Run error = %v, want context.Canceled and not ErrTimeout", err)
	}
	if pid := firstPID(t, out.String()); !processGone(t, pid) {
		t.Errorf("grandchild %d still runs after cancel", pid)
	}
}

func TestRunWithCancelledContextStartsNothing(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Run(ctx, Cmd{Argv: []string{"touch", "marker"}, Dir: dir})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "marker")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the command ran anyway: %v", err)
	}
}

func TestRunBackgroundGrandchildHoldingPipeDoesNotHang(t *testing.T) {
	out := newOutput("")
	start := time.Now()
	// The background sleep inherits stdout and would keep the pipe open
	// for a minute.
	err := result(t, runAsync(context.Background(), Cmd{
		Argv:   []string{"sh", "-c", `sleep 60 & echo $!`},
		Output: out,
	}), 15*time.Second)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	pid := firstPID(t, out.String())
	if !processGone(t, pid) {
		t.Errorf("background grandchild %d survived Run", pid)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("Run took %s", elapsed)
	}
}

func TestRunEscapedProcessHoldingPipeDoesNotHang(t *testing.T) {
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "ready"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := newOutput("")
	// setsid moves the background process out of Run's process group, so
	// Run cannot stop it; it must still return once its grace is over.
	// The fifo makes the command exit only after the escaped process has
	// printed its pid.
	done := runAsync(context.Background(), Cmd{
		Argv:   []string{"sh", "-c", `setsid sh -c 'echo $$; echo >ready; exec sleep 60' & read x <ready`},
		Dir:    dir,
		Output: out,
	})
	err := result(t, done, 15*time.Second)
	pid := firstPID(t, out.String())
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if processGone(t, pid) {
		t.Errorf("escaped process %d is gone; the test no longer covers a pipe held open", pid)
	}
}

func TestRunStreamsOutputWhileRunning(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "go-on")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	out := newOutput("first\n")
	done := runAsync(context.Background(), Cmd{
		Argv:   []string{"sh", "-c", `echo first; read x < go-on; echo "second $x" >&2`},
		Dir:    dir,
		Output: out,
	})
	waitChan(t, out.watched, 10*time.Second, "the first line")
	if got := out.String(); got != "first\n" {
		t.Errorf("output before the command went on = %q, want only the first line", got)
	}
	// Opening blocks until the command opens its end: no race.
	if err := os.WriteFile(fifo, []byte("now\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := result(t, done, 15*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, want := out.String(), "first\nsecond now\n"; got != want {
		t.Errorf("output = %q, want %q", got, want)
	}
}

func TestSinkTailStartsAtRuneBoundary(t *testing.T) {
	s := &sink{}
	// "é" is two bytes; an odd filler length puts the cut inside a rune.
	_, _ = s.Write([]byte("x" + strings.Repeat("é", tailSize)))
	tail := s.tail()
	if !strings.HasPrefix(tail, "é") {
		t.Errorf("tail starts with %q, want a whole rune", tail[:2])
	}
	if len(tail) > tailSize {
		t.Errorf("len(tail) = %d > %d", len(tail), tailSize)
	}
}
