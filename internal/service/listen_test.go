package service

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/sandbox/load"
)

func TestParseListen(t *testing.T) {
	tests := []struct {
		in   string
		want ListenAddr
		err  string
	}{
		{"127.0.0.1:8080", ListenAddr{"tcp", "127.0.0.1:8080"}, ""},
		{":8080", ListenAddr{"tcp", ":8080"}, ""},
		{"[::1]:80", ListenAddr{"tcp", "[::1]:80"}, ""},
		{"localhost:65535", ListenAddr{"tcp", "localhost:65535"}, ""},
		{"unix:/run/app/http.sock", ListenAddr{"unix", "/run/app/http.sock"}, ""},
		{"unix:run/http.sock", ListenAddr{}, "must be absolute"},
		{"127.0.0.1", ListenAddr{}, "is not host:port"},
		{"127.0.0.1:0", ListenAddr{}, "not a fixed port"},
		{"127.0.0.1:http", ListenAddr{}, "not a fixed port"},
		{"127.0.0.1:70000", ListenAddr{}, "not a fixed port"},
		{"127.0.0.1:+80", ListenAddr{}, "not a fixed port"},
	}
	for _, tt := range tests {
		got, err := ParseListen(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseListen(%q) error = %v, want one mentioning %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseListen(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("ParseListen(%q).String() = %q", tt.in, got.String())
		}
	}
	if _, err := NewExec(ExecConfig{Command: []string{"x"}, PIDFile: "/a.pid", LogFile: "/a.log", Listen: "nope"}); !errors.Is(err, ErrInvalidConfig) ||
		!strings.Contains(err.Error(), "listen") {
		t.Errorf("NewExec with a bad listen: %v, want ErrInvalidConfig naming listen", err)
	}
}

// freeAddr returns a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// ask connects to addr with a fresh connection and returns the line the
// "inherit" helper answers.
func ask(network, addr string) (string, error) {
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return bufio.NewReader(c).ReadString('\n')
}

// waitAnswer asks until a backend answers with a line containing want.
func waitAnswer(t *testing.T, network, addr, want string) string {
	t.Helper()
	var line string
	waitFor(t, 10*time.Second, "an answer with "+want, func() bool {
		l, err := ask(network, addr)
		line = l
		return err == nil && strings.Contains(l, want)
	})
	return line
}

func TestListenPassesTheSocketAndNoConnectionIsRefusedAcrossRestarts(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			addr := freeAddr(t)
			listen := addr
			if network == "unix" {
				addr = filepath.Join(t.TempDir(), "http.sock")
				listen = "unix:" + addr
			}
			cfg, _ := newConfig(t, "inherit", "SERVICE_TEST_ADDR=127.0.0.1:1") // the plain way would fail
			cfg.Listen = listen
			e := mustExec(t, cfg)
			t.Cleanup(func() { _ = e.Close() })
			ctx := context.Background()
			if err := e.Start(ctx); err != nil {
				t.Fatalf("Start: %v", err)
			}
			st := mustStatus(t, e)
			want := "pid=" + strconv.Itoa(st.PID) + " inherited=true names=" + ListenFDName + "\n"
			if line := waitAnswer(t, network, addr, "pid="); line != want {
				t.Fatalf("backend answered %q, want %q (LISTEN_PID must be the backend's own pid)", line, want)
			}

			// Fresh connections, 4 clients one after another, while the
			// backend is replaced three times: each must be answered.
			run := askLoad(t, network, addr)
			if err := run.WaitOK(t.Context(), 10); err != nil {
				t.Fatalf("before the restarts: %v", err)
			}
			prev := st.PID
			for i := range 3 {
				if err := e.Stop(ctx); err != nil {
					t.Fatalf("Stop #%d: %v", i+1, err)
				}
				if err := e.Start(ctx); err != nil {
					t.Fatalf("Start #%d: %v", i+1, err)
				}
				st := mustStatus(t, e)
				if st.PID == prev {
					t.Fatalf("restart #%d kept pid %d", i+1, prev)
				}
				prev = st.PID
				waitAnswer(t, network, addr, "pid="+strconv.Itoa(st.PID)+" ")
				if err := run.WaitOK(t.Context(), run.Result().OK+10); err != nil {
					t.Fatalf("after restart #%d: %v", i+1, err)
				}
			}
			res := run.Stop()
			if res.Bad() != 0 {
				t.Errorf("%d of %d connections failed across 3 restarts: %s", res.Bad(), res.Sent, res)
			}
		})
	}
}

// askLoad keeps 4 clients asking addr on fresh connections, one request
// after another, until the test stops it (at its end at the latest); an
// answer that is not the "inherit" helper's "pid=..." line is a failure.
func askLoad(t *testing.T, network, addr string) *load.Run {
	run := load.Start(t.Context(), load.Options{MaxInFlight: 4, Do: func(context.Context) error {
		line, err := ask(network, addr)
		if err == nil && !strings.HasPrefix(line, "pid=") {
			err = fmt.Errorf("answered %q", line)
		}
		return err
	}})
	t.Cleanup(func() { run.Stop() })
	return run
}

func TestListenStartsAProgramTheWayItLastRanHealthy(t *testing.T) {
	addr := freeAddr(t)
	cfg, _ := newConfig(t, "inherit", "SERVICE_TEST_ADDR="+addr)
	ctx := context.Background()

	// Without listen, the backend binds the address itself and is seen
	// healthy that way.
	plain := mustExec(t, cfg)
	if err := plain.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitAnswer(t, "tcp", addr, "inherited=false")
	if err := plain.RecordHealthy(); err != nil {
		t.Fatalf("RecordHealthy: %v", err)
	}
	if err := plain.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	// Listen turned on: the same program starts the plain way again, and
	// the supervisor does not hold the port it binds.
	cfg.Listen = addr
	e := mustExec(t, cfg)
	t.Cleanup(func() { _ = e.Close() })
	if err := e.Start(ctx); err != nil {
		t.Fatalf("Start with listen: %v", err)
	}
	waitAnswer(t, "tcp", addr, "inherited=false")
	if e.sock != nil {
		t.Error("the supervisor holds the socket while a plain backend runs")
	}
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	// A program with no healthy record gets the socket.
	if err := os.Remove(cfg.PIDFile + ".modes.json"); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitAnswer(t, "tcp", addr, "inherited=true")
	if err := e.RecordHealthy(); err != nil {
		t.Fatalf("RecordHealthy: %v", err)
	}
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	m := e.readModes()
	if len(m.Healthy) != 1 || !m.Healthy[0].Socket {
		t.Errorf("healthy modes = %+v, want one, with the socket", m.Healthy)
	}
}

// TestListenRemembersAnAdoptedBackendRanThePlainWay: a backend started by
// a daemon that kept no record of start modes (an older updater) never
// had the socket; once seen healthy it is recorded as plain, so after
// Listen is turned on a rollback to it starts it the plain way rather
// than giving it a socket it would not take.
func TestListenRemembersAnAdoptedBackendRanThePlainWay(t *testing.T) {
	addr := freeAddr(t)
	cfg, _ := newConfig(t, "inherit", "SERVICE_TEST_ADDR="+addr)
	ctx := context.Background()
	old := mustExec(t, cfg)
	if err := old.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	waitAnswer(t, "tcp", addr, "inherited=false")
	if err := os.Remove(cfg.PIDFile + ".modes.json"); err != nil {
		t.Fatal(err) // the older daemon kept none
	}

	cfg.Listen = addr
	e := mustExec(t, cfg) // adopts the running backend
	t.Cleanup(func() { _ = e.Close() })
	if err := e.RecordHealthy(); err != nil {
		t.Fatalf("RecordHealthy: %v", err)
	}
	if m := e.readModes(); len(m.Healthy) != 1 || m.Healthy[0].Socket {
		t.Fatalf("healthy modes = %+v, want the adopted program, plain", m.Healthy)
	}
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatalf("Start with listen: %v", err)
	}
	waitAnswer(t, "tcp", addr, "inherited=false")
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestListenReportsABackendThatCannotBeExecuted(t *testing.T) {
	cfg, _ := newConfig(t, "inherit")
	bad := filepath.Join(cfg.Dir, "not-a-program")
	if err := os.WriteFile(bad, []byte{0, 1, 2, 3}, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.Command = []string{bad}
	cfg.Listen = freeAddr(t)
	e := mustExec(t, cfg)
	t.Cleanup(func() { _ = e.Close() })
	err := e.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), "exec format error") {
		t.Fatalf("Start = %v, want the execve error", err)
	}
	if _, err := os.Stat(cfg.PIDFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pidfile left after a failed start: %v", err)
	}
	if st := mustStatus(t, e); st.Running {
		t.Errorf("Status = %+v after a failed start", st)
	}
}

// TestListenKeepsTheSocketOfAnAdoptedBackend: a supervisor that adopted a
// backend (a restarted daemon: no copy of the socket) takes the socket
// from it before stopping it (pidfd_getfd, Linux), so not one connection
// is refused while it replaces the backend.
func TestListenKeepsTheSocketOfAnAdoptedBackend(t *testing.T) {
	addr := freeAddr(t)
	cfg, _ := newConfig(t, "inherit", "SERVICE_TEST_ADDR=127.0.0.1:1")
	cfg.Listen = addr
	ctx := context.Background()
	first := mustExec(t, cfg)
	if err := first.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	old := mustStatus(t, first).PID
	waitAnswer(t, "tcp", addr, "pid="+strconv.Itoa(old)+" ")
	if err := first.Close(); err != nil { // the daemon exits; the backend keeps serving
		t.Fatalf("Close: %v", err)
	}

	e := mustExec(t, cfg)
	t.Cleanup(func() { _ = e.Close() })
	if st := mustStatus(t, e); !st.Adopted || st.PID != old {
		t.Fatalf("Status = %+v, want pid %d adopted", st, old)
	}
	if f, err := socketFrom(old, *e.listen); f == nil {
		if err != nil && !errors.Is(err, syscall.EPERM) {
			t.Fatalf("socketFrom: %v", err)
		}
		t.Skipf("cannot take the socket from the backend here (%v)", err)
	} else {
		_ = f.Close()
	}

	run := askLoad(t, "tcp", addr)
	waitFor(t, 10*time.Second, "some answers", func() bool { return run.Result().OK > 20 })
	if err := e.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if e.sock == nil {
		t.Fatal("the supervisor did not take the adopted backend's socket")
	}
	if err := e.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	next := mustStatus(t, e).PID
	waitAnswer(t, "tcp", addr, "pid="+strconv.Itoa(next)+" ")
	if res := run.Stop(); res.Bad() != 0 {
		t.Errorf("%d of %d connections failed while an adopted backend was replaced: %s", res.Bad(), res.Sent, res)
	}
}
