package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/health"
)

// startAndWaitExit starts a backend that writes stdout and stderr and
// exits, and returns once it has exited (its output is then complete).
func startAndWaitExit(t *testing.T, previous, stdout, stderr string) *Exec {
	t.Helper()
	cfg, _ := newConfig(t, "exit-with-output", "SERVICE_TEST_STDOUT="+stdout, "SERVICE_TEST_STDERR="+stderr)
	if previous != "" {
		if err := os.WriteFile(cfg.LogFile, []byte(previous), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	e := mustExec(t, cfg)
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	e.mu.Lock()
	c := e.own
	e.mu.Unlock()
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the backend did not exit")
	}
	return e
}

// closedURL is a health URL on a loopback port where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "http://" + ln.Addr().String() + "/api/health"
}

// A backend that exits during the health gate fails it with its own last
// words, from this run only. Wired as reconciler/host.go does.
func TestGateReportsWhyTheBackendExited(t *testing.T) {
	const bind = "listen tcp 127.0.0.1:8080: bind: address already in use"
	cfg, _ := newConfig(t, "exit-with-output", "SERVICE_TEST_STDOUT=starting v2\n", "SERVICE_TEST_STDERR="+bind+"\n")
	// The previous run's output is in the same log and must not show.
	if err := os.WriteFile(cfg.LogFile, []byte("v1 serving\nv1: panic: yesterday's crash\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	var m Manager = mustExec(t, cfg)
	if err := m.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	g := health.Gate{
		URL:      closedURL(t),
		Deadline: 30 * time.Second,
		Interval: 10 * time.Millisecond,
		Alive: func(ctx context.Context) (bool, error) {
			st, err := m.Status(ctx)
			return st.Running, err
		},
		ExitDetail: func() string { return ExitDetail(m) },
	}
	_, err := g.Wait(context.Background())
	if !errors.Is(err, health.ErrProcessExited) {
		t.Fatalf("Wait error = %v, want ErrProcessExited", err)
	}
	if want := "; its log ends with:\nstarting v2\n" + bind; !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Wait error = %q, want it to end with %q", err, want)
	}
	if strings.Contains(err.Error(), "v1") {
		t.Errorf("Wait error = %q shows the previous run's output", err)
	}
}

func TestLogTailIsBounded(t *testing.T) {
	var lines []string
	for i := 1; i <= 30; i++ {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	long := strings.Repeat("x", 3*logTailBytes)
	tests := []struct {
		name             string
		previous, stdout string
		want             string
	}{
		{"nothing written", "previous run\n", "", ""},
		{"no trailing newline", "previous run\n", "half a line", "half a line"},
		{"last lines only", "previous run\n", strings.Join(lines, "\n") + "\n", strings.Join(lines[len(lines)-logTailLines:], "\n")},
		{"last bytes only, the cut line marked", "", "first\n" + long + "\nend\n",
			"..." + strings.Repeat("x", logTailBytes-len("\nend\n")) + "\nend"},
		{"cut at a line start", "", "skipped\n" + strings.Repeat("z", logTailBytes-1) + "\n", strings.Repeat("z", logTailBytes-1)},
		{"cut inside a character", "", strings.Repeat("é", 3000) + "\n", "..." + strings.Repeat("é", (logTailBytes-2)/2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startAndWaitExit(t, tt.previous, tt.stdout, "")
			got, err := e.LogTail()
			if err != nil {
				t.Fatalf("LogTail: %v", err)
			}
			if got != tt.want {
				t.Errorf("LogTail = %s, want %s", short(got), short(tt.want))
			}
		})
	}
}

// short shows a long string by its length and ends.
func short(s string) string {
	if len(s) <= 80 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q...%q (%d bytes)", s[:20], s[len(s)-20:], len(s))
}

// nopManager is a Manager that cannot show the backend's output.
type nopManager struct{ Manager }

func TestExitDetail(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name     string
		log      *string // nil = no log file
		logStart int64   // Exec.logStart; -1 = never started
		want     string
	}{
		{"adopted backend: the whole log", ptr("earlier run\nadopted: fatal error\n"), -1, "its log ends with:\nearlier run\nadopted: fatal error"},
		{"this run only", ptr("earlier run\nthis run\n"), int64(len("earlier run\n")), "its log ends with:\nthis run"},
		{"nothing written", ptr("earlier run\n"), int64(len("earlier run\n")), "it wrote nothing to its log"},
		{"rotated since the start", ptr("after rotation\n"), 1 << 20, "its log ends with:\nafter rotation"},
		{"no log", nil, 0, "cannot read backend log: open " + dir + "/no-log/backend.log: no such file or directory"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := filepath.Join(dir, "no-log")
			if tt.log != nil {
				sub = filepath.Join(dir, strconv.Itoa(i))
				if err := os.MkdirAll(sub, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(sub, "backend.log"), []byte(*tt.log), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			e := mustExec(t, ExecConfig{Command: []string{"server"}, PIDFile: filepath.Join(sub, "backend.pid"), LogFile: filepath.Join(sub, "backend.log")})
			e.logStart = tt.logStart
			if got := ExitDetail(e); got != tt.want {
				t.Errorf("ExitDetail = %q, want %q", got, tt.want)
			}
		})
	}
	if got := ExitDetail(nopManager{}); got != "" {
		t.Errorf("ExitDetail of a Manager without LogTail = %q, want \"\"", got)
	}
}

func ptr(s string) *string { return &s }
