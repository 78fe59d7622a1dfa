package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/proc"
)

// The tests start real backends: this test binary, re-executed with
// SERVICE_TEST_HELPER naming what to do (the os/exec helper-process
// pattern). The first argument is a token unique to the test, so the test
// can count and clean up its processes by their command line.

const helperEnv = "SERVICE_TEST_HELPER"

// raceNoExitSleep stops a helper built with -race from sleeping a second
// before it exits (the race detector's default), which would slow every
// Stop down.
const raceNoExitSleep = "GORACE=atexit_sleep_ms=0"

var testBinary string

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot find test binary:", err)
		os.Exit(2)
	}
	testBinary = exe
	os.Exit(m.Run())
}

func runHelper(mode string) int {
	switch mode {
	case "serve":
		// A small server. SERVICE_TEST_TERM=ignore makes it survive
		// SIGTERM (it logs each one), otherwise it exits on SIGTERM.
		ignore := os.Getenv("SERVICE_TEST_TERM") == "ignore"
		sigs := make(chan os.Signal, 4)
		signal.Notify(sigs, syscall.SIGTERM)
		go func() {
			for range sigs {
				if ignore {
					fmt.Println("ignoring SIGTERM")
					continue
				}
				fmt.Println("stopping on SIGTERM")
				os.Exit(0)
			}
		}()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Println("cannot listen:", err)
			return 1
		}
		fmt.Printf("ready pid=%d addr=%s\n", os.Getpid(), ln.Addr())
		for {
			c, err := ln.Accept()
			if err != nil {
				return 1
			}
			_ = c.Close()
		}
	case "inherit":
		return serveInherited()
	case "exit-on-fifo":
		// Exits by itself once the test writes to the fifo.
		fmt.Println("ready")
		data, err := os.ReadFile(os.Getenv("SERVICE_TEST_FIFO"))
		fmt.Printf("exiting after %q %v\n", data, err)
		return 0
	case "exit-with-output":
		// Writes SERVICE_TEST_STDOUT and SERVICE_TEST_STDERR, then exits
		// 1, like an app that cannot bind its port.
		fmt.Print(os.Getenv("SERVICE_TEST_STDOUT"))
		fmt.Fprint(os.Stderr, os.Getenv("SERVICE_TEST_STDERR"))
		return 1
	case "daemon":
		// An earlier run of the daemon: starts the backend, then dies
		// hard, as on a crash or `kill -9`.
		var cfg ExecConfig
		if err := json.Unmarshal([]byte(os.Getenv("SERVICE_TEST_CONFIG")), &cfg); err != nil {
			fmt.Println("bad config:", err)
			return 1
		}
		e, err := NewExec(cfg)
		if err == nil {
			err = e.Start(context.Background())
		}
		if err != nil {
			fmt.Println("cannot start:", err)
			return 1
		}
		st, err := e.Status(context.Background())
		if err != nil || !st.Running {
			fmt.Println("not running after start:", st, err)
			return 1
		}
		fmt.Println(st.PID)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	fmt.Println("unknown helper mode", mode)
	return 2
}

// newConfig returns a config for a helper backend in mode, in a fresh
// folder, and registers a cleanup that kills whatever the test left.
func newConfig(t *testing.T, mode string, env ...string) (ExecConfig, string) {
	t.Helper()
	dir := t.TempDir()
	token := "service-test-backend:" + dir
	t.Cleanup(func() {
		for _, pid := range helperPIDs(t, token) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return ExecConfig{
		Command:     []string{testBinary, token},
		Dir:         dir,
		Env:         append([]string{helperEnv + "=" + mode, raceNoExitSleep}, env...),
		PIDFile:     filepath.Join(dir, "backend.pid"),
		LogFile:     filepath.Join(dir, "backend.log"),
		StopTimeout: 5 * time.Second,
	}, token
}

// helperPIDs lists live processes whose command line holds token.
func helperPIDs(t *testing.T, token string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for _, arg := range bytes.Split(cmdline, []byte{0}) {
			if string(arg) == token && !processGone(t, pid) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// procStat returns the /proc stat of pid, or ok=false if there is none.
func procStat(t *testing.T, pid int) (proc.Stat, bool) {
	t.Helper()
	info, err := proc.ReadStat(pid)
	if err != nil {
		return proc.Stat{}, false
	}
	return info, true
}

// processGone: no /proc entry, or a zombie waiting to be reaped.
func processGone(t *testing.T, pid int) bool {
	info, ok := procStat(t, pid)
	return !ok || info.Dead()
}

// processReaped: no /proc entry at all, not even a zombie.
func processReaped(t *testing.T, pid int) bool {
	_, ok := procStat(t, pid)
	return !ok
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s", d, what)
		case <-tick.C: // poll the condition again
		}
	}
}

// waitLog waits until the backend's log contains text.
func waitLog(t *testing.T, cfg ExecConfig, text string) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%q in %s", text, cfg.LogFile), func() bool {
		data, _ := os.ReadFile(cfg.LogFile)
		return strings.Contains(string(data), text)
	})
}

func mustExec(t *testing.T, cfg ExecConfig) *Exec {
	t.Helper()
	e, err := NewExec(cfg)
	if err != nil {
		t.Fatalf("NewExec: %v", err)
	}
	return e
}

func mustStatus(t *testing.T, m Manager) State {
	t.Helper()
	st, err := m.Status(context.Background())
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	return st
}

// serveInherited is a backend that speaks the socket-activation protocol
// like the example app: it serves on fd 3 when LISTEN_FDS=1 and LISTEN_PID
// is its pid, otherwise on a socket of its own at SERVICE_TEST_ADDR. Each
// connection gets one line, "pid=<pid> inherited=<bool> names=<names>".
// On SIGTERM it stops accepting, finishes the connections it accepted and
// exits 0, as a server shutting down gracefully does.
func serveInherited() int {
	pid := os.Getpid()
	inherited := os.Getenv("LISTEN_FDS") == "1" && os.Getenv("LISTEN_PID") == strconv.Itoa(pid)
	names := os.Getenv("LISTEN_FDNAMES")
	var ln net.Listener
	var err error
	if inherited {
		f := os.NewFile(3, "listen")
		ln, err = net.FileListener(f)
		_ = f.Close()
	} else {
		ln, err = net.Listen("tcp", os.Getenv("SERVICE_TEST_ADDR"))
	}
	if err != nil {
		fmt.Println("cannot listen:", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	fmt.Printf("ready pid=%d inherited=%t\n", pid, inherited)
	line := fmt.Sprintf("pid=%d inherited=%t names=%s\n", pid, inherited, names)
	var wg sync.WaitGroup
	go func() {
		<-sigs
		_ = ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.Write([]byte(line))
			_ = c.Close()
		}()
	}
	wg.Wait()
	fmt.Println("stopped")
	return 0
}
