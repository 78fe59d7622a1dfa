package main

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestListenThePlainWay(t *testing.T) {
	// Variables addressed to another process (a parent that did not
	// unset them) are not ours: the app listens on ADDR.
	t.Setenv("LISTEN_FDS", "1")
	t.Setenv("LISTEN_PID", "1")
	ln, inherited, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	defer ln.Close()
	if inherited {
		t.Error("inherited = true for LISTEN_PID=1")
	}
	if os.Getenv("LISTEN_FDS") != "1" {
		t.Error("LISTEN_FDS meant for another process was unset")
	}
}

// TestListenInheritedChild is the child of TestListenInherited: it runs
// only there, with the socket as fd 3.
func TestListenInheritedChild(t *testing.T) {
	if os.Getenv("BACKEND_TEST_LISTEN_CHILD") != "1" {
		t.Skip("run by TestListenInherited")
	}
	ln, inherited, err := listen(os.Getenv("BACKEND_TEST_BUSY_ADDR"))
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept: %v", err)
	}
	defer c.Close()
	_, _ = c.Write([]byte("inherited=" + map[bool]string{true: "yes", false: "no"}[inherited] +
		" LISTEN_FDS=" + os.Getenv("LISTEN_FDS") + " LISTEN_PID=" + os.Getenv("LISTEN_PID") + "\n"))
}

// TestListenInherited passes a listening socket as fd 3 with LISTEN_PID
// set to the child's own pid (a shell's exec keeps the pid), as systemd
// and the updater do: the app serves on it, not on ADDR (which is taken),
// and unsets the variables.
func TestListenInherited(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to set LISTEN_PID with")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	cmd := exec.Command(sh, "-c", `LISTEN_PID=$$ exec "$0" "$@"`, os.Args[0], "-test.run=^TestListenInheritedChild$", "-test.v")
	cmd.Env = append(os.Environ(), "BACKEND_TEST_LISTEN_CHILD=1", "BACKEND_TEST_BUSY_ADDR="+busy.Addr().String(),
		"LISTEN_FDS=1", "LISTEN_FDNAMES=http")
	cmd.ExtraFiles = []*os.File{f}
	out := new(strings.Builder)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if werr := cmd.Wait(); werr != nil || err != nil {
		t.Fatalf("child: %v, read: %v\n%s", werr, err, out)
	}
	if want := "inherited=yes LISTEN_FDS= LISTEN_PID=\n"; line != want {
		t.Errorf("child answered %q, want %q\n%s", line, want, out)
	}
}
