package service

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestNewExecValidates(t *testing.T) {
	valid := ExecConfig{Command: []string{"server"}, PIDFile: "/run/app.pid", LogFile: "/var/log/app.log"}
	tests := []struct {
		name   string
		modify func(*ExecConfig)
		want   string // "" = valid
	}{
		{"valid", func(*ExecConfig) {}, ""},
		{"no command", func(c *ExecConfig) { c.Command = nil }, "command is empty"},
		{"empty program", func(c *ExecConfig) { c.Command = []string{""} }, "command is empty"},
		{"relative dir", func(c *ExecConfig) { c.Dir = "app" }, `dir "app" is not an absolute path`},
		{"bad env", func(c *ExecConfig) { c.Env = []string{"NOVALUE"} }, `env entry "NOVALUE" is not NAME=value`},
		{"no pidfile", func(c *ExecConfig) { c.PIDFile = "" }, "pidFile is required"},
		{"relative pidfile", func(c *ExecConfig) { c.PIDFile = "app.pid" }, `pidFile "app.pid" is not an absolute path`},
		{"no logfile", func(c *ExecConfig) { c.LogFile = "" }, "logFile is required"},
		{"same files", func(c *ExecConfig) { c.LogFile = c.PIDFile }, "pidFile and logFile are the same file"},
		{"negative timeout", func(c *ExecConfig) { c.StopTimeout = -time.Second }, "stopTimeout -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.modify(&cfg)
			e, err := NewExec(cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("NewExec: %v", err)
				}
				if e.cfg.StopTimeout != DefaultStopTimeout {
					t.Errorf("StopTimeout = %s, want default %s", e.cfg.StopTimeout, DefaultStopTimeout)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("NewExec error = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestStartTwiceRunsOneProcessThenStopIsIdempotent(t *testing.T) {
	cfg, token := newConfig(t, "serve")
	// Earlier log content must survive: the log is appended to.
	if err := os.WriteFile(cfg.LogFile, []byte("earlier run\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	e := mustExec(t, cfg)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := e.Start(ctx); err != nil {
			t.Fatalf("Start #%d: %v", i+1, err)
		}
	}
	waitLog(t, cfg, "ready")
	st := mustStatus(t, e)
	if !st.Running || st.Adopted || st.PID <= 0 {
		t.Fatalf("Status = %+v, want running, not adopted", st)
	}
	if pids := helperPIDs(t, token); len(pids) != 1 || pids[0] != st.PID {
		t.Fatalf("backend processes = %v, want exactly [%d]", pids, st.PID)
	}

	info, ok := procStat(t, st.PID)
	if !ok {
		t.Fatalf("no /proc entry for %d", st.PID)
	}
	if info.Session != st.PID || info.PGRP != st.PID {
		t.Errorf("backend session=%d pgrp=%d, want both %d (its own session)", info.Session, info.PGRP, st.PID)
	}
	data, err := os.ReadFile(cfg.PIDFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(st.PID) + "\n" + strconv.FormatUint(info.StartTime, 10) + "\n"; string(data) != want {
		t.Errorf("pidfile = %q, want %q", data, want)
	}
	log, _ := os.ReadFile(cfg.LogFile)
	if !strings.HasPrefix(string(log), "earlier run\nready pid="+strconv.Itoa(st.PID)) {
		t.Errorf("log = %q, want earlier content followed by the backend's output", log)
	}

	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if !processReaped(t, st.PID) {
		t.Errorf("backend %d still has a /proc entry after Stop (running or zombie)", st.PID)
	}
	waitLog(t, cfg, "stopping on SIGTERM")
	if _, err := os.Stat(cfg.PIDFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pidfile left after Stop: %v", err)
	}
	if err := e.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if st := mustStatus(t, e); st != (State{}) {
		t.Errorf("Status after Stop = %+v, want zero", st)
	}
}

func TestStopOnFreshHostIsNoop(t *testing.T) {
	cfg, _ := newConfig(t, "serve")
	e := mustExec(t, cfg)
	for i := 0; i < 2; i++ {
		if err := e.Stop(context.Background()); err != nil {
			t.Fatalf("Stop #%d: %v", i+1, err)
		}
	}
	if st := mustStatus(t, e); st.Running {
		t.Errorf("Status = %+v", st)
	}
}

func TestStopKillsBackendIgnoringSIGTERM(t *testing.T) {
	cfg, token := newConfig(t, "serve", "SERVICE_TEST_TERM=ignore")
	cfg.StopTimeout = 300 * time.Millisecond
	e := mustExec(t, cfg)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitLog(t, cfg, "ready") // its SIGTERM handler is installed
	pid := mustStatus(t, e).PID

	start := time.Now()
	if err := e.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if elapsed := time.Since(start); elapsed < cfg.StopTimeout {
		t.Errorf("Stop returned after %s, before StopTimeout %s: SIGKILL came too early", elapsed, cfg.StopTimeout)
	}
	if !processReaped(t, pid) {
		t.Errorf("backend %d not gone (or left a zombie) after Stop", pid)
	}
	if pids := helperPIDs(t, token); len(pids) != 0 {
		t.Errorf("backend processes left: %v", pids)
	}
	waitLog(t, cfg, "ignoring SIGTERM") // SIGTERM came first
}

func TestStopHonoursContext(t *testing.T) {
	cfg, _ := newConfig(t, "serve", "SERVICE_TEST_TERM=ignore")
	cfg.StopTimeout = time.Minute
	e := mustExec(t, cfg)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitLog(t, cfg, "ready")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := e.Stop(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop error = %v, want context.DeadlineExceeded", err)
	}
	if st := mustStatus(t, e); !st.Running {
		t.Errorf("backend ignoring SIGTERM stopped anyway: %+v", st)
	}
}

func TestAdoptAfterDaemonCrash(t *testing.T) {
	cfg, token := newConfig(t, "serve")
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The "earlier daemon" is a separate process that starts the backend
	// and then is SIGKILLed, as in a crash.
	daemon := exec.Command(testBinary)
	daemon.Env = append(os.Environ(), helperEnv+"=daemon", raceNoExitSleep, "SERVICE_TEST_CONFIG="+string(raw))
	out, err := daemon.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("earlier daemon: err=%v output=%q, want it killed by SIGKILL", err, out)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("earlier daemon printed %q, want the backend pid", out)
	}
	waitLog(t, cfg, "ready")

	e := mustExec(t, cfg) // the restarted daemon
	st := mustStatus(t, e)
	if want := (State{Running: true, PID: pid, Adopted: true}); st != want {
		t.Fatalf("Status = %+v, want %+v", st, want)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("Start on adopted backend: %v", err)
	}
	if pids := helperPIDs(t, token); len(pids) != 1 || pids[0] != pid {
		t.Fatalf("backend processes = %v, want only the adopted %d", pids, pid)
	}
	if err := e.Stop(context.Background()); err != nil {
		t.Fatalf("Stop adopted: %v", err)
	}
	if !processGone(t, pid) {
		t.Errorf("adopted backend %d still runs after Stop", pid)
	}
	waitLog(t, cfg, "stopping on SIGTERM")
	if st := mustStatus(t, e); st.Running {
		t.Errorf("Status after Stop = %+v", st)
	}
	if _, err := os.Stat(cfg.PIDFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pidfile left after Stop: %v", err)
	}
}

func TestAdoptInSameProcessByNewExec(t *testing.T) {
	cfg, token := newConfig(t, "serve")
	first := mustExec(t, cfg)
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	pid := mustStatus(t, first).PID
	second := mustExec(t, cfg)
	if st := mustStatus(t, second); !st.Running || !st.Adopted || st.PID != pid {
		t.Fatalf("second Exec Status = %+v, want adopted %d", st, pid)
	}
	if err := second.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// The first Exec's reaper collects its child; nothing remains.
	waitFor(t, 10*time.Second, "the backend to be reaped", func() bool { return processReaped(t, pid) })
	if st := mustStatus(t, first); st.Running {
		t.Errorf("first Exec still sees %+v", st)
	}
	if pids := helperPIDs(t, token); len(pids) != 0 {
		t.Errorf("backend processes left: %v", pids)
	}
}

func TestStalePIDFileWithDeadPID(t *testing.T) {
	cfg, token := newConfig(t, "serve")
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	rec := pidRecord{pid: dead.Process.Pid, start: 12345}
	if err := os.WriteFile(cfg.PIDFile, rec.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	e := mustExec(t, cfg)
	if st := mustStatus(t, e); st.Running {
		t.Fatalf("Status = %+v for a dead pid", st)
	}
	if _, err := os.Stat(cfg.PIDFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale pidfile not removed: %v", err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("Start after stale pidfile: %v", err)
	}
	if pids := helperPIDs(t, token); len(pids) != 1 {
		t.Errorf("backend processes = %v, want one", pids)
	}
	if err := e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestPIDFileWithReusedPIDIsNeverSignalled(t *testing.T) {
	// A SIGTERM to this test process would be caught here instead of
	// killing it, so the test can report it; a SIGKILL would kill it,
	// which fails the test run just as well.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	defer signal.Stop(sigs)

	cfg, token := newConfig(t, "serve")
	self, ok := procStat(t, os.Getpid())
	if !ok {
		t.Fatal("cannot read own /proc stat")
	}
	// Our pid, alive, but with another start time: a reused pid.
	rec := pidRecord{pid: os.Getpid(), start: self.StartTime + 1}
	if err := os.WriteFile(cfg.PIDFile, rec.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	e := mustExec(t, cfg)
	if st := mustStatus(t, e); st.Running {
		t.Fatalf("Status = %+v, want not running for a reused pid", st)
	}
	if _, err := os.Stat(cfg.PIDFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pidfile with a reused pid not removed: %v", err)
	}
	// Once more, through Stop.
	if err := os.WriteFile(cfg.PIDFile, rec.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// And through Start, which must start a backend of its own.
	if err := os.WriteFile(cfg.PIDFile, rec.encode(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	st := mustStatus(t, e)
	if !st.Running || st.PID == os.Getpid() {
		t.Errorf("Status after Start = %+v, want a new backend", st)
	}
	if pids := helperPIDs(t, token); len(pids) != 1 {
		t.Errorf("backend processes = %v, want one", pids)
	}
	if err := e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-sigs:
		t.Fatalf("the test process received %v", s)
	default:
	}
}

func TestCorruptPIDFileStopsEverything(t *testing.T) {
	cfg, token := newConfig(t, "serve")
	if err := os.WriteFile(cfg.PIDFile, []byte("4242\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := mustExec(t, cfg)
	if _, err := e.Status(context.Background()); !errors.Is(err, ErrPIDFileCorrupt) {
		t.Errorf("Status error = %v, want ErrPIDFileCorrupt", err)
	}
	if err := e.Start(context.Background()); !errors.Is(err, ErrPIDFileCorrupt) {
		t.Errorf("Start error = %v, want ErrPIDFileCorrupt", err)
	}
	if err := e.Stop(context.Background()); !errors.Is(err, ErrPIDFileCorrupt) {
		t.Errorf("Stop error = %v, want ErrPIDFileCorrupt", err)
	}
	if pids := helperPIDs(t, token); len(pids) != 0 {
		t.Errorf("Start ran a backend despite the corrupt pidfile: %v", pids)
	}
	if data, _ := os.ReadFile(cfg.PIDFile); string(data) != "4242\n" {
		t.Errorf("corrupt pidfile was changed to %q; a human must look at it", data)
	}
}

func TestChildExitingByItselfIsNotRunningAndReaped(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "exit")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := newConfig(t, "exit-on-fifo", "SERVICE_TEST_FIFO="+fifo)
	e := mustExec(t, cfg)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := mustStatus(t, e)
	if !st.Running {
		t.Fatalf("Status = %+v right after Start", st)
	}
	// Blocks until the backend opens the fifo, then lets it exit.
	if err := os.WriteFile(fifo, []byte("bye"), 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "Status to report the exit", func() bool { return !mustStatus(t, e).Running })
	waitFor(t, 10*time.Second, "the backend to be reaped (no zombie)", func() bool { return processReaped(t, st.PID) })
	if _, err := os.Stat(cfg.PIDFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pidfile of the exited backend not removed: %v", err)
	}
	waitLog(t, cfg, `exiting after "bye"`)
	// It can be started again.
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("Start again: %v", err)
	}
	if st2 := mustStatus(t, e); !st2.Running || st2.PID == st.PID {
		t.Errorf("Status after restart = %+v", st2)
	}
	_ = os.WriteFile(fifo, []byte("bye"), 0o600)
}

func TestStartFailsClearlyWithoutLeavingState(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		modify func(*ExecConfig)
		want   string
		is     error
	}{
		{"missing program", func(c *ExecConfig) { c.Command = []string{"no-such-backend-4711"} },
			"cannot start backend no-such-backend-4711: executable file not found in $PATH", exec.ErrNotFound},
		{"missing relative program", func(c *ExecConfig) { c.Command = []string{"./server"} },
			"cannot start backend ./server: stat " + filepath.Join(dir, "server") + ": no such file or directory", fs.ErrNotExist},
		{"missing dir", func(c *ExecConfig) { c.Dir = filepath.Join(dir, "gone") },
			"cannot use working folder: stat " + filepath.Join(dir, "gone") + ": no such file or directory", fs.ErrNotExist},
		{"missing log folder", func(c *ExecConfig) { c.LogFile = filepath.Join(dir, "logs", "app.log") },
			"cannot open logFile", fs.ErrNotExist},
		{"missing pidfile folder", func(c *ExecConfig) { c.PIDFile = filepath.Join(dir, "run", "app.pid") },
			"folder of pidFile", fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ExecConfig{
				Command: []string{testBinary},
				Dir:     dir,
				Env:     []string{helperEnv + "=serve"},
				PIDFile: filepath.Join(dir, "app.pid"),
				LogFile: filepath.Join(dir, "app.log"),
			}
			tt.modify(&cfg)
			e := mustExec(t, cfg)
			err := e.Start(context.Background())
			if err == nil {
				_ = e.Stop(context.Background())
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) || !errors.Is(err, tt.is) {
				t.Errorf("Start error = %q, want it to contain %q and wrap %v", err, tt.want, tt.is)
			}
			if _, err := os.Stat(cfg.PIDFile); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("pidfile written despite the failure: %v", err)
			}
		})
	}
}

func TestInheritedEnvDropsSystemdVariables(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	t.Setenv("LISTEN_FDS", "1")
	t.Setenv("KEEP_ME", "yes")
	env := strings.Join(inheritedEnv(), "\n")
	if strings.Contains(env, "NOTIFY_SOCKET=") || strings.Contains(env, "LISTEN_FDS=") {
		t.Errorf("systemd variables passed on to the backend")
	}
	if !strings.Contains(env, "KEEP_ME=yes") {
		t.Errorf("ordinary variable dropped")
	}
}
