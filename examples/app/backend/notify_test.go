package main

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestNotifyReady: with NOTIFY_SOCKET, READY=1 reaches the socket, as
// systemd's Type=notify needs; without it nothing is sent.
func TestNotifyReady(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	sock, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	t.Setenv("NOTIFY_SOCKET", "")
	notifyReady() // no socket: nothing to do, nothing sent
	t.Setenv("NOTIFY_SOCKET", path)
	notifyReady()
	if err := sock.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := sock.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Errorf("received %q, %v; want READY=1", buf[:n], err)
	}
}
