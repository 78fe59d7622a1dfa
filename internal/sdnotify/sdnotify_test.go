package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// listen binds a unixgram socket at name, as systemd does for a unit.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func receive(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestMessagesInOrder(t *testing.T) {
	sockets := map[string]string{"path": filepath.Join(t.TempDir(), "notify.sock")}
	if runtime.GOOS == "linux" {
		sockets["abstract"] = fmt.Sprintf("@better-paas-sdnotify-test-%d", os.Getpid())
	}
	for kind, name := range sockets {
		t.Run(kind, func(t *testing.T) {
			c := listen(t, name)
			n := New(name, 0)
			if !n.Enabled() {
				t.Fatal("not enabled")
			}
			send := []func() error{n.Ready, func() error { return n.Status("Updating v1.0.0 → v1.1.0:\nbuild-backend") }, n.Watchdog, n.Stopping}
			for _, f := range send {
				if err := f(); err != nil {
					t.Fatal(err)
				}
			}
			want := []string{"READY=1", "STATUS=Updating v1.0.0 → v1.1.0: build-backend", "WATCHDOG=1", "STOPPING=1"}
			for _, w := range want {
				if got := receive(t, c); got != w {
					t.Errorf("got %q, want %q", got, w)
				}
			}
		})
	}
}

func TestNoSocketIsNoOp(t *testing.T) {
	for _, n := range []*Notifier{nil, {}, New("", time.Second)} {
		if n.Enabled() || n.Ready() != nil || n.Status("x") != nil || n.Watchdog() != nil || n.Stopping() != nil || n.WatchdogInterval() != 0 {
			t.Errorf("%+v: not a no-op", n)
		}
	}
}

func TestSendErrorNamesSocket(t *testing.T) {
	name := filepath.Join(t.TempDir(), "gone.sock")
	err := New(name, 0).Ready()
	if err == nil || !strings.Contains(err.Error(), name) {
		t.Errorf("err = %v, want one naming %s", err, name)
	}
}

func TestFromEnv(t *testing.T) {
	name := filepath.Join(t.TempDir(), "notify.sock")
	c := listen(t, name)
	t.Setenv("NOTIFY_SOCKET", name)
	t.Setenv("WATCHDOG_USEC", "3000000")
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	n := FromEnv()
	if got := n.WatchdogInterval(); got != 1500*time.Millisecond {
		t.Errorf("WatchdogInterval = %v, want 1.5s (half of WATCHDOG_USEC)", got)
	}
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		if v, ok := os.LookupEnv(k); ok {
			t.Errorf("%s=%q left for child processes", k, v)
		}
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, c); got != "READY=1" {
		t.Errorf("got %q", got)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if FromEnv().Enabled() {
		t.Error("enabled without NOTIFY_SOCKET")
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
	}{
		{"", "", 0},
		{"2000000", "", time.Second},
		{"2000000", "42", time.Second},
		{"2000000", "43", 0}, // meant for another process
		{"x", "", 0},
		{"-5", "", 0},
		{"0", "", 0},
	} {
		if got := watchdogInterval(tc.usec, tc.pid, 42); got != tc.want {
			t.Errorf("watchdogInterval(%q, %q) = %v, want %v", tc.usec, tc.pid, got, tc.want)
		}
	}
}
