package service

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exitWithin fails unless exits delivers a value within d.
func exitWithin(t *testing.T, exits <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-exits:
	case <-time.After(d):
		t.Fatalf("no exit reported within %s after %s", d, what)
	}
}

// noExit fails if exits has a value pending.
func noExit(t *testing.T, exits <-chan struct{}, when string) {
	t.Helper()
	select {
	case <-exits:
		t.Fatalf("an exit was reported %s", when)
	default:
	}
}

// TestExitsReportsACrashOfAStartedBackend: a backend this Exec started and
// that is killed (a crash) is reported at once; one started again is
// watched too; nothing is reported while it runs.
func TestExitsReportsACrashOfAStartedBackend(t *testing.T) {
	cfg, _ := newConfig(t, "serve")
	e := mustExec(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exits := e.Exits(ctx) // nothing runs yet: it waits for a Start
	for round := 1; round <= 2; round++ {
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitLog(t, cfg, "ready")
		st := mustStatus(t, e)
		noExit(t, exits, "while the backend runs")
		if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		exitWithin(t, exits, 2*time.Second, "a SIGKILL (round "+strconv.Itoa(round)+")")
		if st := mustStatus(t, e); st.Running {
			t.Fatalf("round %d: still running after the crash: %+v", round, st)
		}
	}
	cancel()
	for range exits { // closed when ctx ends
	}
}

// TestExitsReportsACrashOfAnAdoptedBackend: a backend an earlier daemon
// started is not this process's child; its crash is still reported,
// within the adopted poll interval.
func TestExitsReportsACrashOfAnAdoptedBackend(t *testing.T) {
	cfg, _ := newConfig(t, "serve")
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(testBinary)
	daemon.Env = append(os.Environ(), helperEnv+"=daemon", raceNoExitSleep, "SERVICE_TEST_CONFIG="+string(raw))
	out, _ := daemon.Output() // it SIGKILLs itself after starting the backend
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("earlier daemon printed %q, want the backend pid", out)
	}
	waitLog(t, cfg, "ready")
	e := mustExec(t, cfg)
	if st := mustStatus(t, e); !st.Adopted || st.PID != pid {
		t.Fatalf("Status = %+v, want the adopted %d", st, pid)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exits := e.Exits(ctx)
	noExit(t, exits, "while the adopted backend runs")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	exitWithin(t, exits, 2*adoptedPoll+time.Second, "a SIGKILL of the adopted backend")
}

// TestExitsReportsABackendThatDiesAtOnce: a backend that exits right after
// its Start (it cannot bind its port, say), possibly before Exits looks at
// it, is reported too.
func TestExitsReportsABackendThatDiesAtOnce(t *testing.T) {
	cfg, _ := newConfig(t, "exit-with-output")
	e := mustExec(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	exits := e.Exits(ctx)
	for round := 1; round <= 3; round++ {
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		exitWithin(t, exits, 2*time.Second, "a backend that exits at once (round "+strconv.Itoa(round)+")")
		waitFor(t, 2*time.Second, "the backend is reaped", func() bool { return !mustStatus(t, e).Running })
	}
}
