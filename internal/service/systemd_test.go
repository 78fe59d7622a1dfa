package service

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseShow(t *testing.T) {
	u, err := parseShow("a.service", []byte("LoadState=loaded\nActiveState=activating\nSubState=auto-restart\nResult=exit-code\nNRestarts=3\nMainPID=0\nExecMainStartTimestampMonotonic=123\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := UnitState{ActiveState: "activating", SubState: "auto-restart", Result: "exit-code", NRestarts: 3, StartMonotonic: 123}
	if u != want || u.Running() || !u.CrashLooping() {
		t.Errorf("got %+v running %v crashLooping %v, want %+v, not running, crash-looping", u, u.Running(), u.CrashLooping(), want)
	}
	if _, err := parseShow("a.service", []byte("LoadState=not-found\nActiveState=inactive\n")); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a missing unit: err = %v", err)
	}
	if _, err := parseShow("a.service", []byte("ActiveState=active\nMainPID=x\n")); err == nil {
		t.Error("a malformed MainPID was accepted")
	}
}

func TestSplitEnvironment(t *testing.T) {
	got := splitEnvironment(`ADDR=127.0.0.1:8080 "GREETING=hello world" UPDATE_REPO=acme/bp X=a\"b`)
	want := []string{"ADDR=127.0.0.1:8080", "GREETING=hello world", "UPDATE_REPO=acme/bp", `X=a"b`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := splitEnvironment(""); len(got) != 0 {
		t.Errorf("empty: got %q", got)
	}
}

// fakeSystemctl returns a systemctl that prints show's lines from the file
// it returns (rewritten by the test between calls).
func fakeSystemctl(t *testing.T) (prog, showFile string) {
	dir := t.TempDir()
	showFile = filepath.Join(dir, "show")
	prog = filepath.Join(dir, "systemctl")
	script := "#!/bin/sh\nfor a; do [ \"$a\" = show ] && exec cat " + showFile + "; done\nexit 0\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return prog, showFile
}

func TestWatchGate(t *testing.T) {
	prog, showFile := fakeSystemctl(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "server")
	if err := os.WriteFile(other, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	running := func(restarts int) string {
		return "ActiveState=active\nSubState=running\nResult=success\nMainPID=" + strconv.Itoa(os.Getpid()) + "\nNRestarts=" + strconv.Itoa(restarts) + "\n"
	}
	s, err := NewSystemd(SystemdConfig{Unit: "a.service", Systemctl: prog})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	step := func(alive func(context.Context) (bool, error), show string, want bool) {
		t.Helper()
		if err := os.WriteFile(showFile, []byte(show), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := alive(ctx)
		if err != nil || got != want {
			t.Fatalf("alive = %v, %v; want %v", got, err, want)
		}
	}

	alive, detail := s.WatchGate(self)
	step(alive, running(2), true) // restarts before the gate do not count
	step(alive, running(2), true)
	step(alive, running(3), false)
	if d := detail(); !strings.Contains(d, "restarted 1 times") {
		t.Errorf("detail = %q", d)
	}

	// A crash between Start and the gate's first look counts.
	if err := os.WriteFile(showFile, []byte(running(0)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	alive, _ = s.WatchGate(self)
	step(alive, running(1), false)

	alive, _ = s.WatchGate(self)
	step(alive, "ActiveState=failed\nSubState=failed\nResult=exit-code\nMainPID=0\nNRestarts=0\n", false)

	// MainPID runs another file than the install's binary: a moment is
	// allowed (between fork and exec), not longer.
	if err := os.WriteFile(showFile, []byte(running(0)), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := s.Status(ctx)
	if err != nil || !st.Running || st.PID != os.Getpid() || st.Adopted {
		t.Errorf("Status = %+v, %v; want running, started here, pid %d", st, err, os.Getpid())
	}

	if runtime.GOOS != "linux" {
		return // no /proc
	}
	alive, detail = s.WatchGate(other)
	step(alive, running(0), true)
	time.Sleep(restartSettle + 100*time.Millisecond)
	step(alive, running(0), false)
	if d := detail(); !strings.Contains(d, "ExecStart=") {
		t.Errorf("detail = %q", d)
	}

}
