package command

import (
	"github.com/better-paas/updater/internal/fault"

	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/proc"
)

// killGrace is how long a process group gets between SIGTERM and SIGKILL,
// and how long Run waits for output from a process it cannot stop. It is a
// variable so tests can shorten it.
var killGrace = 2 * time.Second

// ErrTimeout is wrapped by Run's error when the command was stopped because
// Cmd.Timeout elapsed or the caller's context deadline passed. Callers
// usually treat it as retryable.
var ErrTimeout = errors.New("timed out")

// ErrEmptyCommand is returned by Run when Cmd.Argv is empty or Argv[0] is
// "": the configuration names no program to run.
var ErrEmptyCommand = errors.New("empty command: argv must name a program")

// Cmd describes one command. The zero value is not runnable: Argv is
// required.
type Cmd struct {
	// Argv is the program and its arguments; no shell is involved, so
	// quoting and globbing do not apply (run "sh", "-c", "..." explicitly
	// if a shell is wanted). Argv[0] is found as LookPath finds it: without
	// a slash in the PATH the command gets (Env's, else the daemon's);
	// with a slash and not absolute, relative to Dir.
	Argv []string
	// Dir is the working folder; "" means the daemon's.
	Dir string
	// Env is appended to the daemon's environment: the command sees every
	// variable of the daemon, then these NAME=value entries, a later entry
	// overriding an earlier one of the same NAME. Env does not replace the
	// daemon's environment, so a caller that needs a variable to have a
	// definite value (a build's HOME or PATH) must set it here rather than
	// rely on the daemon having it or lacking it.
	Env []string
	// Timeout bounds the run; 0 means only ctx bounds it.
	Timeout time.Duration
	// Output, if set, receives stdout and stderr combined, as the command
	// writes them. Write errors are ignored (a broken log must not stall
	// the command), and nothing is written after Run returns.
	Output io.Writer
}

// ExitError is wrapped by Run's error when the command ran and exited with
// a non-zero status. Use errors.As to read it.
type ExitError struct {
	// Argv is the command as run. It may hold whatever the administrator
	// configured, so do not log it where secrets must not go.
	Argv []string
	// Code is the exit status, or 128+N when the command was killed by
	// signal N (the shell's convention).
	Code int
	// Tail is the last ~4 KiB of the combined output, for a status
	// message that explains the failure.
	Tail string
}

// Error returns a short message without Tail; the tail can be long and
// multi-line, so callers decide where it goes.
func (e *ExitError) Error() string {
	return fmt.Sprintf("exit code %d", e.Code)
}

// Run runs c and returns when the command has exited, no process of its
// process group is left running, and its output has been delivered.
//
// Errors, all prefixed "cannot run <argv[0]>":
//   - ErrEmptyCommand: nothing to run.
//   - the executable is missing or not executable: the message names it,
//     e.g. "cannot run go: executable file not found in $PATH"; it wraps
//     exec.ErrNotFound or the fs error.
//   - ErrTimeout: Timeout or ctx's deadline stopped it.
//   - context.Canceled: ctx was cancelled and the command was stopped.
//   - *ExitError: the command failed by itself.
//
// Stopping means SIGTERM to the whole group, SIGKILL after a grace period.
// Run is as idempotent as the command it runs: it adds no state of its own.
// It is long because starting, waiting and stopping a process group share
// the pipes and the timer; split, the order of their clean-ups would be
// harder to see.
func Run(ctx context.Context, c Cmd) error {
	if len(c.Argv) == 0 || c.Argv[0] == "" {
		return fmt.Errorf("cannot run command: %w", ErrEmptyCommand)
	}
	name := c.Argv[0]
	if err := proc.CheckDir(c.Dir); err != nil {
		return fmt.Errorf("cannot run %s: %w", name, err)
	}
	path, err := LookPath(name, c.Dir, c.Env)
	if err != nil {
		return fmt.Errorf("cannot run %s: %w", name, err)
	}
	runCtx := ctx
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	if runCtx.Err() != nil {
		return stoppedError(ctx, name, 0)
	}

	// Our own pipe instead of exec's: with an *os.File as Stdout, Wait
	// returns as soon as the command exits, even if a background process
	// still holds the pipe, and Run decides how long to wait for that.
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("cannot run %s: cannot create output pipe: %w", name, err)
	}
	defer pr.Close()
	cmd := &exec.Cmd{
		Path:   path,
		Args:   c.Argv,
		Dir:    c.Dir,
		Env:    append(os.Environ(), c.Env...),
		Stdout: pw,
		Stderr: pw,
		// Setpgid: a timeout stops the whole group. See procAttr for
		// what else each OS adds.
		SysProcAttr: procAttr(),
	}
	start := time.Now()
	err = cmd.Start()
	pw.Close() // the child has its copy; EOF comes when every holder is gone
	if err != nil {
		return fmt.Errorf("cannot run %s: %w", name, err)
	}
	out := &sink{out: c.Output}
	copied := make(chan struct{})
	go func() {
		_, _ = io.Copy(out, pr)
		close(copied)
	}()

	pgid := cmd.Process.Pid // Setpgid makes the child the group leader
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var werr error
	stopped := false
	// Half done: the command runs. Only test builds act on this point.
	ferr := fault.Inject(ctx, "mid")
	if ferr != nil {
		stopped = true
		werr = stopLeader(pgid, waited)
	} else {
		select {
		case werr = <-waited:
		case <-runCtx.Done():
			select {
			case werr = <-waited: // exited just in time: its result stands
			default:
				stopped = true
				werr = stopLeader(pgid, waited)
			}
		}
	}
	// Whatever the command left in its group goes too.
	stopGroup(pgid, killGrace)

	select {
	case <-copied:
	case <-time.After(killGrace):
		// A process outside the group still holds the pipe; stop reading.
		_ = pr.SetReadDeadline(time.Now())
		<-copied
	}

	if ferr != nil {
		return fmt.Errorf("cannot run %s: %w", name, ferr)
	}
	if stopped {
		return stoppedError(ctx, name, time.Since(start))
	}
	if werr == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(werr, &ee) {
		code := ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		return fmt.Errorf("cannot run %s: %w", name, &ExitError{
			Argv: append([]string(nil), c.Argv...),
			Code: code,
			Tail: out.tail(),
		})
	}
	return fmt.Errorf("cannot run %s: %w", name, werr)
}

// LookPath finds the program argv0 the way Run runs it with Cmd.Dir dir
// and Cmd.Env env, and returns its absolute path.
//
// Without a slash, argv0 is looked up in the PATH the command gets: the
// last PATH= entry of env, else the daemon's PATH. Only absolute PATH
// entries are searched: a program found through "." or another relative
// entry would depend on the folder the daemon started in. With a slash
// and not absolute, argv0 is relative to dir.
//
// Errors carry no prefix naming the program: exec.ErrNotFound when PATH
// has no such program ("executable file not found in $PATH"), or the fs
// error of a path that is missing, a folder or not executable.
func LookPath(argv0, dir string, env []string) (string, error) {
	path, ok := lookupEnv(env, "PATH")
	if strings.Contains(argv0, "/") || !ok {
		return proc.LookPath(argv0, dir)
	}
	for _, d := range filepath.SplitList(path) {
		if !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, argv0)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// lookupEnv returns the value of the last name= entry of env, as exec and
// the command see it.
func lookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if n, v, ok := strings.Cut(env[i], "="); ok && n == name {
			return v, true
		}
	}
	return "", false
}

// stopLeader sends SIGTERM to the group, SIGKILL after killGrace, and
// returns the leader's Wait result.
func stopLeader(pgid int, waited <-chan error) error {
	_ = proc.SignalGroup(pgid, unix.SIGTERM)
	t := time.NewTimer(killGrace)
	defer t.Stop()
	select {
	case err := <-waited:
		return err
	case <-t.C:
		_ = proc.SignalGroup(pgid, unix.SIGKILL)
		return <-waited
	}
}

// stoppedError explains why a command was stopped: the caller cancelled,
// or a deadline (ours or the caller's) passed.
func stoppedError(ctx context.Context, name string, after time.Duration) error {
	if err := ctx.Err(); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot run %s: %w", name, err)
	}
	return fmt.Errorf("cannot run %s: %w after %s", name, ErrTimeout, after.Round(time.Millisecond))
}
