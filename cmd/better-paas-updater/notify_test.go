package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/spec"
)

// notifySocket is the socket systemd binds for a Type=notify unit, bound
// by the test: it records every datagram, in order, with when it came.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []notifyMsg
}

type notifyMsg struct {
	at   time.Time
	text string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	s := &notifySocket{path: filepath.Join(t.TempDir(), "notify.sock")}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, notifyMsg{time.Now(), string(buf[:n])})
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *notifySocket) all() []notifyMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notifyMsg(nil), s.msgs...)
}

// has reports whether a message starting with prefix came.
// pingsAfter counts the WATCHDOG=1 messages received after the first
// message starting with prefix.
func (s *notifySocket) pingsAfter(prefix string) int {
	n, seen := 0, false
	for _, m := range s.all() {
		switch {
		case !seen:
			seen = strings.HasPrefix(m.text, prefix)
		case m.text == "WATCHDOG=1":
			n++
		}
	}
	return n
}

func (s *notifySocket) has(prefix string) bool {
	for _, m := range s.all() {
		if strings.HasPrefix(m.text, prefix) {
			return true
		}
	}
	return false
}

// TestDaemonNotifiesSystemd runs the real daemon as systemd runs a
// Type=notify unit with WatchdogSec=1s, on a host that needs an install
// of v1.0.0: READY=1 comes once the first reconcile has observed the host,
// before any STATUS=, then STATUS= names each step and the version, then
// "Ready"; WATCHDOG=1 comes every 0.5 s throughout, the build included;
// SIGTERM brings STOPPING=1.
func TestDaemonNotifiesSystemd(t *testing.T) {
	h := newSandboxHost(t)
	if err := spec.Write(h.cfg.DesiredFile, spec.New("v1.0.0")); err != nil {
		t.Fatal(err)
	}
	sock := listenNotify(t)
	const interval = 500 * time.Millisecond
	env := append(os.Environ(), "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=1000000")
	d, err := sandbox.StartDaemon(binary, filepath.Join(t.TempDir(), "daemon.log"), env, "run", "--config", h.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.Stop(30 * time.Second)
		if t.Failed() {
			b, _ := os.ReadFile(d.LogPath)
			t.Logf("daemon log:\n%s", b)
		}
	})
	waitFor(t, "STATUS=Ready", func() bool { return sock.has("STATUS=Ready: ") })
	waitFor(t, "four pings while idle", func() bool { return sock.pingsAfter("STATUS=Ready: ") >= 4 })
	// SIGTERM, as `systemctl stop` sends.
	if err := d.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(d.LogPath); !strings.Contains(string(b), "Stopped") {
		t.Errorf("the daemon did not stop cleanly:\n%s", b)
	}
	waitFor(t, "STOPPING=1", func() bool { return sock.has("STOPPING=1") })

	msgs := sock.all()
	var seq []string
	var pings []time.Time
	for _, m := range msgs {
		t.Logf("%s %q", m.at.Format("15:04:05.000"), m.text)
		if m.text == "WATCHDOG=1" {
			pings = append(pings, m.at)
			continue
		}
		seq = append(seq, m.text)
	}
	if len(seq) < 4 || seq[0] != "READY=1" {
		t.Fatalf("messages other than pings %q: want READY=1 first", seq)
	}
	if n := strings.Count(strings.Join(seq, "\n"), "READY=1"); n != 1 {
		t.Errorf("READY=1 sent %d times", n)
	}
	if seq[len(seq)-2] != "STOPPING=1" || seq[len(seq)-1] != "STATUS=Stopping" {
		t.Errorf("last messages %q, want STOPPING=1 then STATUS=Stopping", seq[len(seq)-2:])
	}
	steps, ready := 0, -1
	for i, m := range seq {
		if strings.HasPrefix(m, "STATUS=Updating nothing -> v1.0.0: ") || strings.HasPrefix(m, "STATUS=Updating ") && strings.Contains(m, "-> v1.0.0: ") {
			steps++
			if ready >= 0 {
				t.Errorf("step status %q after the Ready status", m)
			}
		}
		if strings.HasPrefix(m, "STATUS=Ready: ") && ready < 0 {
			ready = i
		}
	}
	if steps < 2 || ready < 0 {
		t.Errorf("want STATUS= lines naming the steps to v1.0.0, then Ready; got %q", seq)
	}
	if len(pings) < 5 {
		t.Fatalf("%d WATCHDOG=1 pings, want one every %v", len(pings), interval)
	}
	for i := 1; i < len(pings); i++ {
		if gap := pings[i].Sub(pings[i-1]); gap > 2*interval {
			t.Errorf("WATCHDOG=1 gap of %v at %s, want about %v (systemd would kill at 1s)", gap, pings[i].Format("15:04:05.000"), interval)
		}
	}
}
