package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowStart is SlowStart's delay in the test: long enough that a server
// that skipped it would be caught, short enough to keep the test fast.
const slowStart = time.Second

// TestMisbehavingReleases builds each misbehaving release from a clone of
// one origin, where they are stacked on the default history in this order,
// runs it as the updater would, and checks that it misbehaves as its doc
// comment says, and only that way.
func TestMisbehavingReleases(t *testing.T) {
	t.Parallel()
	requireTools(t, "go", "node", "npm")
	ctx := context.Background()
	stacked := []struct {
		rel   Release
		files string // what the release changes, as git diff --name-only lists it
	}{
		{CrashOnStart("v1.3.0"), "backend/main.go"},
		{HangOnStart("v1.4.0"), "backend/main.go"},
		{SlowStart("v1.5.0", slowStart), "backend/main.go"},
		{ReportsVersion("v1.6.0", "v1.0.0"), "backend/health.go backend/health_test.go"},
		{Flapping("v1.7.0"), "backend/health.go"},
		{HangingFrontendBuild("v1.8.0"), "frontend/build.mjs"},
		{NoSocketActivation("v1.9.0"), "backend/listen.go"},
	}
	rels := DefaultReleases()
	for _, s := range stacked {
		rels = append(rels, s.rel)
	}
	origin, err := NewOrigin(ctx, filepath.Join(t.TempDir(), "origin.git"), rels)
	if err != nil {
		t.Fatal(err)
	}

	// Each release changes only the files it names. (Flapping does write
	// health_test.go too, identical to what ReportsVersion wrote.)
	prev := "v1.2.0"
	for _, s := range stacked {
		got := strings.Join(strings.Fields(run(t, origin, "diff", "--name-only", prev, s.rel.Tag)), " ")
		if got != s.files {
			t.Errorf("%s changes %q, want %q", s.rel.Tag, got, s.files)
		}
		prev = s.rel.Tag
	}

	clone := func(t *testing.T, tag string) string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "install")
		if err := Clone(ctx, origin, dir, tag); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	t.Run("CrashOnStart", func(t *testing.T) {
		t.Parallel()
		dir := clone(t, "v1.3.0")
		buildBackend(t, dir, "v1.3.0")
		if got := runOK(t, dir, nil, "./server", "--version"); got != "v1.3.0" {
			t.Errorf("server --version = %q, want v1.3.0", got)
		}
		app := launch(t, dir, freeAddr(t))
		waitExit(t, app)
		var exit *exec.ExitError
		if !errors.As(app.waitErr, &exit) || exit.ExitCode() != 1 {
			t.Errorf("server exited with %v, want status 1:\n%s", app.waitErr, app.log)
		}
		if !strings.Contains(app.log.String(), "better-paas: invalid configuration: DATA_DIR is empty") {
			t.Errorf("server did not log why it exited:\n%s", app.log)
		}
		if _, err := os.Stat(filepath.Join(dir, "data")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("server touched the data folder before it crashed: %v", err)
		}
	})

	t.Run("NoSocketActivation", func(t *testing.T) {
		t.Parallel()
		dir := clone(t, "v1.9.0")
		buildBackend(t, dir, "v1.9.0")
		// A supervisor holding the socket: the release binds ADDR itself
		// and fails, whatever LISTEN_FDS says.
		held, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		app := launch(t, dir, held.Addr().String(), "LISTEN_FDS=1", "LISTEN_PID=1")
		waitExit(t, app)
		if !strings.Contains(app.log.String(), "address already in use") {
			t.Errorf("server did not fail to bind the held address:\n%s", app.log)
		}
		// The plain way, it serves.
		addr := freeAddr(t)
		app = launch(t, dir, addr, "PUBLIC_URL=https://notes.example.test")
		poll(t, 10*time.Second, "a listener on "+addr, func() bool { return listening(addr) })
		if code, h := app.health(t); code != http.StatusOK || h.Version != "v1.9.0" {
			t.Errorf("health = %d %+v, want 200 v1.9.0", code, h)
		}
	})

	t.Run("HangOnStart", func(t *testing.T) {
		t.Parallel()
		dir := clone(t, "v1.4.0")
		buildBackend(t, dir, "v1.4.0")
		addr := freeAddr(t)
		app := launch(t, dir, addr)
		waitLog(t, app, "waiting for the notes index to warm up")
		// It got past CrashOnStart's check and the migrations: only the
		// wait it adds keeps it from listening.
		if _, err := os.Stat(filepath.Join(dir, "data", "app.db.json")); err != nil {
			t.Errorf("server did not migrate the data folder before hanging: %v", err)
		}
		never(t, time.Second, "a listener on "+addr, func() bool { return listening(addr) })
		select {
		case <-app.exited:
			t.Fatalf("server exited while it should hang: %v\n%s", app.waitErr, app.log)
		default:
		}
		app.stop(t)
		if !strings.Contains(app.log.String(), "stopped before listening") {
			t.Errorf("server did not log that SIGTERM ended the wait:\n%s", app.log)
		}
	})

	t.Run("SlowStart", func(t *testing.T) {
		t.Parallel()
		dir := clone(t, "v1.5.0")
		buildBackend(t, dir, "v1.5.0")
		addr := freeAddr(t)
		// v1.2.0's health check, which SlowStart keeps, needs PUBLIC_URL.
		start := time.Now()
		app := launch(t, dir, addr, "PUBLIC_URL=https://notes.example.test")
		poll(t, 10*time.Second, "a listener on "+addr, func() bool {
			select {
			case <-app.exited:
				t.Fatalf("server exited before listening: %v\n%s", app.waitErr, app.log)
			default:
			}
			return listening(addr)
		})
		if waited := time.Since(start); waited < slowStart {
			t.Errorf("server listened %s after start, want at least %s", waited, slowStart)
		}
		if !strings.Contains(app.log.String(), "warming up for 1s before listening") {
			t.Errorf("server did not log its warm-up:\n%s", app.log)
		}
		if code, h := app.health(t); code != http.StatusOK || h.Version != "v1.5.0" {
			t.Errorf("health = %d %+v, want 200 v1.5.0", code, h)
		}
		app.stop(t)
	})

	t.Run("ReportsVersion", func(t *testing.T) {
		t.Parallel()
		dir := clone(t, "v1.6.0")
		buildBackend(t, dir, "v1.6.0")
		if got := runOK(t, dir, nil, "./server", "--version"); got != "v1.6.0" {
			t.Errorf("server --version = %q, want the baked-in v1.6.0", got)
		}
		app := startApp(t, dir)
		if code, h := app.health(t); code != http.StatusOK || h.Status != "ok" || h.Version != "v1.0.0" {
			t.Errorf("health = %d %+v, want 200 ok with the constant v1.0.0", code, h)
		}
		app.stop(t)
		// The release's tests still compile against its health.go.
		vetBackend(t, dir)
	})

	t.Run("Flapping", func(t *testing.T) {
		t.Parallel()
		dir := clone(t, "v1.7.0")
		buildBackend(t, dir, "v1.7.0")
		app := startApp(t, dir)
		for i, want := range []int{http.StatusOK, http.StatusServiceUnavailable, http.StatusOK, http.StatusServiceUnavailable} {
			code, h := getHealth(t, app.url)
			if code != want || h.Version != "v1.7.0" {
				t.Errorf("health request %d = %d %+v, want %d with version v1.7.0", i+1, code, h, want)
			}
		}
		app.stop(t)
	})

	t.Run("HangingFrontendBuild", func(t *testing.T) {
		t.Parallel()
		dir := clone(t, "v1.8.0")
		out := filepath.Join(dir, "frontend", "dist.new")
		// The command updater.yaml configures, in its own process group as
		// the updater runs it.
		cmd := command(dir, []string{"VERSION=v1.8.0", "npm_config_update_notifier=false"},
			"npm", "--prefix", "frontend", "run", "build", "--", out)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		// A child that escaped the group would hold the output pipe open
		// and block Wait, and with it the test, after the group is killed.
		cmd.WaitDelay = 2 * time.Second
		build := &runningApp{cmd: cmd, log: &appLog{url: make(chan string, 1)}, exited: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = build.log, build.log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pgid := cmd.Process.Pid
		go func() {
			build.waitErr = cmd.Wait()
			close(build.exited)
		}()
		t.Cleanup(func() {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-build.exited
		})

		m := waitLog(t, build, `live-reload server is pid (\d+)`)
		child, err := strconv.Atoi(m[1])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			// Only if the child escaped the group and outlived its kill.
			if running(child) {
				_ = syscall.Kill(child, syscall.SIGKILL)
			}
		})
		never(t, time.Second, "the build to exit", func() bool {
			select {
			case <-build.exited:
				return true
			default:
				return false
			}
		})
		if !running(child) {
			t.Errorf("the build's child %d is not running while the build hangs", child)
		}
		if comm, err := os.ReadFile("/proc/" + m[1] + "/comm"); err != nil || string(comm) != "sleep\n" {
			t.Errorf("the build's child %d runs %q (%v), want sleep", child, comm, err)
		}
		if g, err := syscall.Getpgid(child); err != nil || g != pgid {
			t.Errorf("the build's child %d is in process group %d (%v), want the build's %d", child, g, err, pgid)
		}
		if _, err := os.Stat(filepath.Join(out, "index.html")); err != nil {
			t.Errorf("the build did not write its output before hanging: %v", err)
		}

		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitExit(t, build)
		poll(t, 10*time.Second, "the build's child to end with its process group", func() bool { return !running(child) })
	})
}

// buildBackend builds ./server in dir as updater.yaml configures it.
func buildBackend(t *testing.T, dir, version string) {
	t.Helper()
	runOK(t, dir, nil, "go", "build", "-ldflags", "-X main.version="+version, "-o", "server", "./backend")
}

// vetBackend runs go vet on the backend package of the checkout at dir,
// which type-checks its tests too.
func vetBackend(t *testing.T, dir string) {
	t.Helper()
	runOK(t, dir, nil, "go", "vet", "./backend")
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, for a server whose listener the test must probe before it logs it.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// launch starts ./server in dir on addr with the extra environment env and
// returns at once, without waiting for it to listen. The process is killed
// when the test ends.
func launch(t *testing.T, dir, addr string, env ...string) *runningApp {
	t.Helper()
	log := &appLog{url: make(chan string, 1)}
	cmd := exec.Command(filepath.Join(dir, "server"))
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "ADDR="+addr, "DATA_DIR=data", "FRONTEND_DIR=frontend/dist", "PUBLIC_URL="), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	app := &runningApp{url: "http://" + addr, cmd: cmd, log: log, exited: make(chan struct{})}
	go func() {
		app.waitErr = cmd.Wait()
		close(app.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-app.exited
	})
	return app
}

// waitLog waits until the process's output matches pattern and returns the
// match and its groups; it fails at once if the process exits first.
func waitLog(t *testing.T, p *runningApp, pattern string) []string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	var m []string
	poll(t, 10*time.Second, "output matching "+pattern, func() bool {
		if m = re.FindStringSubmatch(p.log.String()); m != nil {
			return true
		}
		select {
		case <-p.exited:
			t.Fatalf("process exited before printing %q: %v\n%s", pattern, p.waitErr, p.log)
		default:
		}
		return false
	})
	return m
}

// waitExit waits for the process to exit by itself.
func waitExit(t *testing.T, p *runningApp) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("process did not exit within 10s:\n%s", p.log)
	}
}

// never checks cond repeatedly for d and fails the test if it ever holds:
// the bounded wait that shows something does not happen.
func never(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		if cond() {
			t.Fatalf("got %s, want none for %s", what, d)
		}
		<-tick.C
	}
}

// listening reports whether something accepts TCP connections on addr.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// getHealth makes exactly one GET /api/health request.
func getHealth(t *testing.T, url string) (int, health) {
	t.Helper()
	resp, err := client.Get(url + "/api/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h health
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("GET %s/api/health: %d, body is not JSON: %v", url, resp.StatusCode, err)
	}
	return resp.StatusCode, h
}

// running reports whether process pid exists and is not a zombie (a killed
// orphan may stay one until init reaps it).
func running(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name, which may hold
	// spaces and parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && !strings.HasPrefix(string(stat[i+1:]), " Z")
}
