package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var tokenPattern = regexp.MustCompile(`bput_[A-Za-z0-9_-]{43}`)

// unixClient talks HTTP over the unix socket at path.
func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
}

// getStatus asks the API over c for the status with token and returns the
// HTTP status code (0 when the request failed).
func getStatus(t *testing.T, c *http.Client, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://localhost/api/v1/status", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestTokenCreateAndRotateWithARunningDaemon: token create prints a token
// once and how to use it, refuses a second time, and the daemon's API
// (on a unix socket of mode 0660) accepts it; token rotate makes the
// running daemon refuse the old token and accept the new one at once.
func TestTokenCreateAndRotateWithARunningDaemon(t *testing.T) {
	cfg, _ := writeConfig(t)
	sock := filepath.Join(filepath.Dir(cfg), "api.sock")
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, strings.Replace(string(data), `listen: ""`, "listen: unix:"+sock, 1))

	out, code := runCLI(t, "token", "create", "--config", cfg)
	tokenFile := filepath.Join(filepath.Dir(cfg), "state", "api-token")
	first := tokenPattern.FindString(out)
	if code != 0 || first == "" || !strings.Contains(out, tokenFile) ||
		!strings.Contains(out, `curl -H "Authorization: Bearer `+first+`" --unix-socket `+sock+" http://localhost/api/v1/status") {
		t.Fatalf("token create: exit %d\n%s", code, out)
	}
	if stored, _ := os.ReadFile(tokenFile); strings.Contains(string(stored), first) {
		t.Error("the token file holds the token itself")
	}
	if out, code := runCLI(t, "token", "create", "--config", cfg); code != 1 || !strings.Contains(out, "token rotate") {
		t.Errorf("second token create: exit %d, want 1 naming token rotate:\n%s", code, out)
	}

	var stderr bytes.Buffer
	daemon := exec.Command(binary, "run", "--config", cfg)
	daemon.Stderr = &stderr
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = daemon.Process.Kill()
			_ = daemon.Wait()
		}
	}()
	client := unixClient(sock)
	deadline := time.Now().Add(20 * time.Second)
	for getStatus(t, client, first) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon's API never answered on %s", sock)
		}
		time.Sleep(20 * time.Millisecond) // polling a socket the daemon creates: no event to wait on
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("socket: %v %v, want a socket of mode 0660", fi, err)
	}

	out, code = runCLI(t, "token", "rotate", "--config", cfg)
	second := tokenPattern.FindString(out)
	if code != 0 || second == "" || second == first || !strings.Contains(out, "no longer works") {
		t.Fatalf("token rotate: exit %d\n%s", code, out)
	}
	if got := getStatus(t, client, first); got != http.StatusUnauthorized {
		t.Errorf("old token after rotate: HTTP %d, want 401", got)
	}
	if got := getStatus(t, client, second); got != http.StatusOK {
		t.Errorf("new token after rotate: HTTP %d, want 200", got)
	}

	if err := daemon.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = daemon.Wait()
	stopped = true
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 128+int(syscall.SIGTERM)) {
		t.Errorf("daemon exit: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "API listening") {
		t.Errorf("the daemon did not log where the API listens:\n%s", stderr.String())
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket is left after the daemon stopped: %v", err)
	}
}

// TestRunFailsWhenTheAPICannotListen: a busy api.listen is a start-up
// error naming the setting.
func TestRunFailsWhenTheAPICannotListen(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg, _ := writeConfig(t)
	data, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, strings.Replace(string(data), `listen: ""`, "listen: "+busy.Addr().String(), 1))
	out, code := runCLI(t, "run", "--config", cfg)
	if code != 1 || !strings.Contains(out, "api.listen "+busy.Addr().String()) || !strings.Contains(out, "address already in use") {
		t.Errorf("run with a busy api.listen: exit %d\n%s", code, out)
	}
}
