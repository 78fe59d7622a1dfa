package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/better-paas/updater/internal/proc"
)

// DefaultStopTimeout is used when ExecConfig.StopTimeout is 0.
const DefaultStopTimeout = 10 * time.Second

// killWait bounds how long Stop waits for the kernel to remove a process
// after SIGKILL. Only a process stuck in uninterruptible sleep (a hung
// NFS mount, a dying disk) takes longer; Stop then gives up with
// ErrStillRunning instead of hanging the daemon.
const killWait = 10 * time.Second

// ErrInvalidConfig is wrapped by NewExec's error when ExecConfig is not
// usable; the message names the field.
var ErrInvalidConfig = errors.New("invalid exec service config")

// ErrStillRunning is wrapped by Stop's error when the backend survived
// SIGKILL for killWait; a human must look at the host.
var ErrStillRunning = errors.New("still running after SIGKILL")

// inheritedEnvDrop lists variables addressed to the daemon by systemd.
// Passed on, they would let the backend send readiness or watchdog
// notifications on the daemon's behalf, or claim its sockets.
var inheritedEnvDrop = []string{
	"NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_PID", "WATCHDOG_USEC",
	shimEnv,
}

// ExecConfig configures the embedded supervisor.
type ExecConfig struct {
	// Command is the backend's program and arguments, run without a
	// shell. Command[0] without a slash is looked up in the daemon's
	// PATH when Start runs (so it may not exist yet when NewExec runs);
	// with a slash and not absolute, it is relative to Dir.
	Command []string
	// Dir is the backend's working folder; "" means the daemon's.
	// Must be absolute when set.
	Dir string
	// Env is appended to the daemon's environment (minus the systemd
	// notification and socket variables meant for the daemon). Entries
	// are NAME=value.
	Env []string
	// PIDFile records the running backend. Absolute; its folder must
	// exist.
	PIDFile string
	// LogFile receives the backend's stdout and stderr, appended.
	// Absolute; its folder must exist.
	LogFile string
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL;
	// 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// Listen, when set, is a socket the supervisor owns and passes to
	// every backend it starts with the systemd socket-activation protocol
	// (fd 3, LISTEN_FDS=1, LISTEN_FDNAMES=http, LISTEN_PID=the backend's
	// pid), so that while one backend stops and the next starts,
	// connections wait in the socket's backlog instead of being refused.
	// host:port (tcp) or unix:/absolute/path; see ParseListen. The socket
	// is bound by the first Start that finds no backend running (or taken
	// from an adopted backend by Stop, see socketFrom), and kept until
	// Close. A program that last ran healthy without the socket
	// (see RecordHealthy) is started the plain way instead, after the
	// socket is closed so that it can bind the address itself.
	Listen string
}

// Exec is the embedded supervisor. Create it with NewExec. It is safe for
// concurrent use; operations are serialised.
type Exec struct {
	cfg ExecConfig

	mu  sync.Mutex
	own *child // the backend this Exec started, until it is known gone
	// logStart is the size LogFile had when this Exec last started a
	// backend, where that run's output begins; -1 before the first
	// start. It outlives own, so LogTail still works once the backend
	// has exited.
	logStart int64
	// started is closed (and replaced) by every Start that starts a
	// backend; Exits waits on it while nothing runs. Nil until asked for.
	// starts counts those Starts.
	started chan struct{}
	starts  uint64

	listen *ListenAddr // parsed cfg.Listen; nil when off
	// sock is the daemon's copy of the listening socket while it holds
	// one. A backend adopted from an earlier daemon has its own copy;
	// this Exec binds again once that backend has stopped.
	sock *os.File
}

// child is a backend started by this Exec. A goroutine waits for it, which
// reaps it and closes exited.
type child struct {
	rec    pidRecord
	exited chan struct{}
}

var (
	_ Manager   = (*Exec)(nil)
	_ LogTailer = (*Exec)(nil)
)

// NewExec validates cfg and returns a supervisor for it. It starts
// nothing and touches no file. Errors wrap ErrInvalidConfig.
func NewExec(cfg ExecConfig) (*Exec, error) {
	invalid := func(format string, args ...any) (*Exec, error) {
		return nil, fmt.Errorf("cannot create exec service manager: %s: %w", fmt.Sprintf(format, args...), ErrInvalidConfig)
	}
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return invalid("command is empty; set it to the backend's program and arguments")
	}
	if cfg.Dir != "" && !filepath.IsAbs(cfg.Dir) {
		return invalid("dir %q is not an absolute path", cfg.Dir)
	}
	for _, kv := range cfg.Env {
		if name, _, ok := strings.Cut(kv, "="); !ok || name == "" {
			return invalid("env entry %q is not NAME=value", kv)
		}
	}
	for _, f := range []struct{ field, path string }{{"pidFile", cfg.PIDFile}, {"logFile", cfg.LogFile}} {
		if f.path == "" {
			return invalid("%s is required", f.field)
		}
		if !filepath.IsAbs(f.path) {
			return invalid("%s %q is not an absolute path", f.field, f.path)
		}
	}
	if cfg.PIDFile == cfg.LogFile {
		return invalid("pidFile and logFile are the same file %q", cfg.PIDFile)
	}
	if cfg.StopTimeout < 0 {
		return invalid("stopTimeout %s is negative", cfg.StopTimeout)
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	e := &Exec{logStart: -1}
	if cfg.Listen != "" {
		a, err := ParseListen(cfg.Listen)
		if err != nil {
			return invalid("listen %v", err)
		}
		e.listen = &a
	}
	cfg.Command = append([]string(nil), cfg.Command...)
	cfg.Env = append([]string(nil), cfg.Env...)
	e.cfg = cfg
	return e, nil
}

// Close releases the listening socket the supervisor holds (see
// ExecConfig.Listen); a running backend keeps its own copy and goes on
// serving. Call it when the daemon stops. The next Start binds again.
func (e *Exec) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closeSocket()
}

func (e *Exec) closeSocket() error {
	if e.sock == nil {
		return nil
	}
	err := e.sock.Close()
	e.sock = nil
	if err != nil {
		return fmt.Errorf("cannot close the socket on %s: %w", e.listen, err)
	}
	return nil
}

// Status reports whether the backend recorded in the pidfile runs. A stale
// pidfile is removed. Errors: the pidfile or /proc cannot be read, or
// ErrPIDFileCorrupt.
func (e *Exec) Status(ctx context.Context) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, fmt.Errorf("cannot observe backend: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, running, err := e.observe()
	if err != nil {
		return State{}, fmt.Errorf("cannot observe backend: %w", err)
	}
	if !running {
		return State{}, nil
	}
	return State{Running: true, PID: rec.pid, Adopted: !e.isOwn(rec)}, nil
}

// Start starts the backend in a new session unless it already runs
// (started by this Exec or adopted), then records it in the pidfile.
//
// Errors: the program cannot be found or executed, the log file cannot be
// opened, the pidfile folder is missing, the pidfile is corrupt. If the
// pidfile cannot be written after the start, the new process is killed
// again: a backend nobody can find must not hold the app's port.
func (e *Exec) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot start backend: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, running, err := e.observe()
	if err != nil {
		return fmt.Errorf("cannot start backend: %w", err)
	}
	if running {
		return nil
	}

	name := e.cfg.Command[0]
	if err := proc.CheckDir(e.cfg.Dir); err != nil {
		return fmt.Errorf("cannot start backend %s: %w", name, err)
	}
	path, err := proc.LookPath(name, e.cfg.Dir)
	if err != nil {
		return fmt.Errorf("cannot start backend %s: %w", name, err)
	}
	if _, err := os.Stat(filepath.Dir(e.cfg.PIDFile)); err != nil {
		return fmt.Errorf("cannot start backend %s: folder of pidFile: %w", name, err)
	}
	logf, err := os.OpenFile(e.cfg.LogFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return fmt.Errorf("cannot start backend %s: cannot open logFile: %w", name, err)
	}
	logStart := int64(0) // if Stat fails, LogTail shows the whole log's end
	if info, err := logf.Stat(); err == nil {
		logStart = info.Size()
	}
	socket, prog := e.wantSocket(path)
	if err := e.prepareSocket(ctx, socket); err != nil {
		_ = logf.Close()
		return fmt.Errorf("cannot start backend %s: %w", name, err)
	}
	cmd := &exec.Cmd{
		Path:   path,
		Args:   e.cfg.Command,
		Dir:    e.cfg.Dir,
		Env:    append(inheritedEnv(), e.cfg.Env...),
		Stdout: logf,
		Stderr: logf,
		// A new session: the backend survives the daemon, receives no
		// signal meant for the daemon's terminal or group, and leads its
		// own process group, which Stop signals as a whole.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	// execResult and execErr are the ends of the shim's exec-error pipe.
	var execResult, execErr *os.File
	if socket {
		if execResult, execErr, err = e.viaShim(cmd, path); err != nil {
			_ = logf.Close()
			return fmt.Errorf("cannot start backend %s: %w", name, err)
		}
		defer execResult.Close()
	}
	err = cmd.Start()
	_ = logf.Close() // the child holds its own descriptor
	if execErr != nil {
		_ = execErr.Close() // only the shim may hold it, or EOF never comes
	}
	if err != nil {
		return fmt.Errorf("cannot start backend %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	// The child is not reaped before cmd.Wait, so its /proc entry exists
	// even if it has already exited. Its pid and start time stay the same
	// across the shim's execve.
	info, err := proc.ReadStat(pid)
	if err == nil {
		err = writePIDFile(e.cfg.PIDFile, pidRecord{pid: pid, start: info.StartTime})
	}
	if err != nil {
		_ = proc.SignalGroup(pid, unix.SIGKILL)
		_ = cmd.Wait()
		return fmt.Errorf("cannot start backend %s: %w (the new process was killed so that it does not run untracked)", name, err)
	}
	rec := pidRecord{pid: pid, start: info.StartTime}
	if execResult != nil {
		if err := shimResult(execResult); err != nil {
			_ = proc.SignalGroup(pid, unix.SIGKILL)
			_ = cmd.Wait()
			_ = removePIDFile(e.cfg.PIDFile)
			return fmt.Errorf("cannot start backend %s: %w", name, err)
		}
	}
	_ = e.recordRunning(rec, prog, socket) // losing it only loses a preference
	c := &child{rec: rec, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	e.own = c
	e.logStart = logStart
	e.starts++
	if e.started != nil {
		close(e.started)
		e.started = nil
	}
	return nil
}

// Stop stops the backend, whether this Exec started it or adopted it, and
// returns once it and the rest of its process group are gone; then the
// pidfile is removed. Nothing running is not an error.
//
// SIGTERM goes to the backend's process group; after StopTimeout, SIGKILL.
// Errors: ctx ended first (the backend may still be shutting down; call
// Stop again), ErrStillRunning, ErrPIDFileCorrupt, or /proc cannot be
// read.
func (e *Exec) Stop(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("cannot stop backend: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, running, err := e.observe()
	if err != nil {
		return fmt.Errorf("cannot stop backend: %w", err)
	}
	if !running {
		return nil
	}
	if e.listen != nil && e.sock == nil && !e.isOwn(rec) {
		// An adopted backend holds the only copy of the socket: keep it
		// listening through the stop if the kernel lets us. Otherwise the
		// next Start binds a new one, refusing connections in between.
		if f, err := socketFrom(rec.pid, *e.listen); err == nil && f != nil {
			e.sock = f
		}
	}
	e.signal(rec, unix.SIGTERM)
	gone, err := e.waitGone(ctx, rec, e.cfg.StopTimeout)
	if err == nil && !gone {
		e.signal(rec, unix.SIGKILL)
		gone, err = e.waitGone(ctx, rec, killWait)
	}
	if err != nil {
		return fmt.Errorf("cannot stop backend (pid %d): %w", rec.pid, err)
	}
	if !gone {
		return fmt.Errorf("cannot stop backend (pid %d): %w for %s; look for it in `ps` and at its state in /proc/%d/stat",
			rec.pid, ErrStillRunning, killWait, rec.pid)
	}
	if e.isOwn(rec) {
		// Dead already; wait for the reaper so no zombie outlives Stop.
		select {
		case <-e.own.exited:
		case <-ctx.Done():
			return fmt.Errorf("cannot stop backend (pid %d): %w", rec.pid, ctx.Err())
		}
		e.own = nil
	}
	return removePIDFile(e.cfg.PIDFile)
}

// prepareSocket makes the daemon hold the socket when the backend gets it,
// and not hold it when the backend binds the address itself. Nothing runs.
func (e *Exec) prepareSocket(ctx context.Context, socket bool) error {
	if !socket {
		return e.closeSocket()
	}
	if e.sock != nil {
		return nil
	}
	f, err := bindListen(ctx, *e.listen)
	if err != nil {
		return err
	}
	e.sock = f
	return nil
}

// viaShim makes cmd start the backend through the shim with the socket as
// fd 3 (see listen_shim.go), and returns the two ends of the pipe that
// reports whether execve of the backend worked. Callers hold e.mu.
func (e *Exec) viaShim(cmd *exec.Cmd, path string) (r, w *os.File, err error) {
	self, args, err := shimCommand(path, cmd.Args)
	if err != nil {
		return nil, nil, err
	}
	r, w, err = os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("cannot create a pipe: %w", err)
	}
	cmd.Path, cmd.Args = self, args
	// Ours come last, so they win over service.exec.env.
	cmd.Env = append(cmd.Env, "LISTEN_FDS=1", "LISTEN_FDNAMES="+ListenFDName, shimEnv+"=1")
	cmd.ExtraFiles = []*os.File{e.sock, w} // fd 3 and shimErrFD
	return r, w, nil
}

// shimExecTimeout bounds how long Start waits for the shim to execve the
// backend: the time a Go binary takes to start, unless the host is in
// deep trouble.
const shimExecTimeout = 30 * time.Second

// shimResult waits until the shim has execve'd the backend (the pipe
// reaches EOF: its end was close-on-exec) or says why it could not.
func shimResult(r *os.File) error {
	_ = r.SetReadDeadline(time.Now().Add(shimExecTimeout))
	msg, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("cannot learn whether the backend was executed: %w", err)
	}
	if len(msg) > 0 {
		return fmt.Errorf("cannot execute it: %s", msg)
	}
	return nil
}

// observe reads the pidfile and checks it against /proc. It removes a
// stale pidfile. Callers hold e.mu.
func (e *Exec) observe() (pidRecord, bool, error) {
	rec, err := readPIDFile(e.cfg.PIDFile)
	if errors.Is(err, fs.ErrNotExist) {
		return pidRecord{}, false, nil
	}
	if err != nil {
		return pidRecord{}, false, err
	}
	alive, err := e.alive(rec)
	if err != nil {
		return pidRecord{}, false, err
	}
	if alive {
		return rec, true, nil
	}
	if e.isOwn(rec) {
		e.own = nil // its goroutine still reaps it
	}
	return pidRecord{}, false, removePIDFile(e.cfg.PIDFile)
}

// alive reports whether rec names a live process: same start time (so not
// a reused pid) and not a zombie.
func (e *Exec) alive(rec pidRecord) (bool, error) {
	if e.isOwn(rec) {
		select {
		case <-e.own.exited:
			return false, nil
		default:
		}
	}
	info, err := proc.ReadStat(rec.pid)
	if errors.Is(err, proc.ErrNoProcess) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return info.StartTime == rec.start && !info.Dead(), nil
}

func (e *Exec) isOwn(rec pidRecord) bool {
	return e.own != nil && e.own.rec == rec
}

// signal sends sig to the backend's process group, and to the backend
// itself if it has left that group. The backend is checked against rec
// right before, so a pid that was reused meanwhile is not signalled. The
// group is signalled while any member lives even after the leader exited,
// so workers it forked are not left behind; a group id stays reserved
// while it has members, so this cannot hit a stranger.
func (e *Exec) signal(rec pidRecord, sig unix.Signal) {
	info, err := proc.ReadStat(rec.pid)
	leader := err == nil && info.StartTime == rec.start && !info.Dead()
	if leader && info.PGRP != rec.pid {
		_ = unix.Kill(rec.pid, sig)
	}
	if leader || proc.GroupAlive(rec.pid) {
		_ = proc.SignalGroup(rec.pid, sig)
	}
}

// waitGone polls until the backend and its process group are gone, d
// passes (false, nil) or ctx ends (false, ctx.Err()). An adopted backend
// is not our child, so there is nothing to wait on but /proc.
func (e *Exec) waitGone(ctx context.Context, rec pidRecord, d time.Duration) (bool, error) {
	return proc.PollUntil(ctx, d, func() (bool, error) {
		alive, err := e.alive(rec)
		if err != nil {
			return false, err
		}
		return !alive && !proc.GroupAlive(rec.pid), nil
	})
}

// inheritedEnv is the daemon's environment without the variables systemd
// addresses to the daemon alone.
func inheritedEnv() []string {
	env := os.Environ()
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, d := range inheritedEnvDrop {
			if name == d {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}
