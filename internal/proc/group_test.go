package proc

import (
	"bufio"
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startGroup starts sh -c script as the leader of a new process group and
// returns it with the first line it printed. The cleanup kills the group
// and reaps the leader.
func startGroup(t *testing.T, script string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		_ = cmd.Wait() // a no-op error if the test reaped it already
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("group leader printed %q: %v", line, err)
	}
	return cmd, strings.TrimSpace(line)
}

func TestGroupLifecycleIgnoresZombies(t *testing.T) {
	// The leader starts a background sleep in its group and prints its pid.
	cmd, line := startGroup(t, `sleep 60 & echo $!; wait`)
	pgid := cmd.Process.Pid
	member, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("leader printed %q, want a pid", line)
	}
	for _, pid := range []int{pgid, member} {
		st, err := ReadStat(pid)
		if err != nil {
			t.Fatalf("ReadStat(%d): %v", pid, err)
		}
		if st.PGRP != pgid || st.Dead() {
			t.Errorf("process %d: %+v, want a live member of group %d", pid, st, pgid)
		}
	}
	if !GroupAlive(pgid) {
		t.Fatal("GroupAlive = false for a running group")
	}
	if gone, err := WaitGroupGone(context.Background(), pgid, 50*time.Millisecond); gone || err != nil {
		t.Fatalf("WaitGroupGone on a running group = %v, %v; want false, nil after the timeout", gone, err)
	}

	if err := SignalGroup(pgid, unix.SIGTERM); err != nil {
		t.Fatalf("SignalGroup: %v", err)
	}
	gone, err := WaitGroupGone(context.Background(), pgid, 10*time.Second)
	if !gone || err != nil {
		t.Fatalf("WaitGroupGone after SIGTERM = %v, %v; want true, nil", gone, err)
	}
	// The leader is our child and not reaped yet: a zombie that kill(2)
	// still finds, but that GroupAlive must not count.
	if err := unix.Kill(-pgid, 0); err != nil {
		t.Fatalf("kill(-pgid, 0) = %v; the test no longer covers a zombie leader", err)
	}
	if st, err := ReadStat(pgid); err != nil || !st.Dead() {
		t.Fatalf("leader stat = %+v, %v; want a zombie", st, err)
	}
	if GroupAlive(pgid) {
		t.Error("GroupAlive = true for a group holding only a zombie")
	}
	// Signalling what is left is harmless.
	if err := SignalGroup(pgid, unix.SIGTERM); err != nil {
		t.Errorf("SignalGroup on a zombie group: %v", err)
	}

	_ = cmd.Wait()
	if _, err := ReadStat(pgid); !errors.Is(err, ErrNoProcess) {
		t.Errorf("ReadStat of the reaped leader = %v, want ErrNoProcess", err)
	}
	if GroupAlive(pgid) {
		t.Errorf("GroupAlive = true after the leader was reaped")
	}
	if err := SignalGroup(pgid, unix.SIGKILL); err != nil {
		t.Errorf("SignalGroup on an empty group = %v, want nil", err)
	}
}

func TestWaitGroupGoneHonoursContext(t *testing.T) {
	cmd, _ := startGroup(t, `echo started; exec sleep 60`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone, err := WaitGroupGone(ctx, cmd.Process.Pid, time.Minute)
	if gone || !errors.Is(err, context.Canceled) {
		t.Errorf("WaitGroupGone with a cancelled ctx = %v, %v; want false, context.Canceled", gone, err)
	}
}

func TestPollUntil(t *testing.T) {
	errBoom := errors.New("boom")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		timeout   time.Duration
		trueAfter int   // done returns true on this call (1-based); 0 = never
		fail      error // done returns this on its first call
		wantOK    bool
		wantErr   error
		wantCalls int // 0 = do not check
	}{
		{"met at once", context.Background(), time.Minute, 1, nil, true, nil, 1},
		{"met at once beats ended ctx", cancelled, time.Minute, 1, nil, true, nil, 1},
		{"met after polling", context.Background(), time.Minute, 3, nil, true, nil, 3},
		{"timeout", context.Background(), 30 * time.Millisecond, 0, nil, false, nil, 0},
		{"ctx ended", cancelled, time.Minute, 0, nil, false, context.Canceled, 1},
		{"done fails", context.Background(), time.Minute, 0, errBoom, false, errBoom, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			ok, err := PollUntil(tt.ctx, tt.timeout, func() (bool, error) {
				calls++
				if tt.fail != nil {
					return false, tt.fail
				}
				return calls == tt.trueAfter, nil
			})
			if ok != tt.wantOK || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("PollUntil = %v, %v; want %v, %v", ok, err, tt.wantOK, tt.wantErr)
			}
			if tt.wantCalls != 0 && calls != tt.wantCalls {
				t.Errorf("done called %d times, want %d", calls, tt.wantCalls)
			}
			if calls == 0 {
				t.Error("done never called")
			}
		})
	}
}
