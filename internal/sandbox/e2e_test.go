package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestExampleAppEndToEnd builds and runs the example app from a clone, the
// way the updater does: v1.1.0 is healthy; checking out v1.2.0 in place,
// rebuilding and restarting gives a server that runs but answers 503, and
// leaves the data v1.1.0 wrote alone.
func TestExampleAppEndToEnd(t *testing.T) {
	t.Parallel()
	requireTools(t, "go", "node")
	ctx := context.Background()
	origin := newDefaultOrigin(t)
	dir := filepath.Join(t.TempDir(), "install")
	if err := Clone(ctx, origin, dir, "v1.1.0"); err != nil {
		t.Fatal(err)
	}

	buildApp(t, dir, "v1.1.0")
	if got := runOK(t, dir, nil, "./server", "--version"); got != "v1.1.0" {
		t.Errorf("server --version = %q, want v1.1.0", got)
	}
	app := startApp(t, dir)
	if code, h := app.health(t); code != http.StatusOK || h.Status != "ok" || h.Version != "v1.1.0" {
		t.Fatalf("v1.1.0 health = %d %+v, want 200 ok v1.1.0", code, h)
	}
	if page := app.get(t, "/"); !strings.Contains(page, "v1.1.0") || !strings.Contains(page, "Notes") {
		t.Errorf("index.html is not the v1.1.0 web UI:\n%s", page)
	}
	app.post(t, "/api/notes", `{"text": "written by v1.1.0"}`, http.StatusCreated)
	app.stop(t)

	// Each applied migration is recorded as a file of its own.
	for _, m := range []struct {
		id   int
		name string
	}{{1, "create-notes-db"}, {2, "create-settings"}} {
		name := fmt.Sprintf("data/migrations/%04d-%s.json", m.id, m.name)
		var rec struct {
			ID        int    `json:"id"`
			Name      string `json:"name"`
			Version   string `json:"version"`
			AppliedAt string `json:"appliedAt"`
		}
		if err := json.Unmarshal([]byte(readFile(t, dir, name)), &rec); err != nil {
			t.Errorf("%s: %v", name, err)
		} else if rec.ID != m.id || rec.Name != m.name || rec.Version != "v1.1.0" || rec.AppliedAt == "" {
			t.Errorf("%s = %+v, want id %d, name %s, version v1.1.0 and appliedAt", name, rec, m.id, m.name)
		}
	}
	data := fileTree(t, filepath.Join(dir, "data"))
	if !strings.Contains(data["app.db.json"], "written by v1.1.0") || data["settings.json"] == "" {
		t.Errorf("v1.1.0 did not write data/app.db.json with the note and data/settings.json: %q", data)
	}

	// The update: new tag in place, rebuild, restart.
	run(t, dir, "checkout", "--quiet", "--detach", "refs/tags/v1.2.0")
	buildApp(t, dir, "v1.2.0")
	app = startApp(t, dir)
	if code, h := app.health(t); code != http.StatusServiceUnavailable || h.Version != "v1.2.0" {
		t.Fatalf("v1.2.0 health = %d %+v, want 503 v1.2.0", code, h)
	}
	select {
	case <-app.exited:
		t.Fatalf("v1.2.0 exited, want it running while unhealthy: %v\n%s", app.waitErr, app.log)
	default:
	}
	app.stop(t)

	// The promise: every file in data/ before the update is byte-identical
	// after it; booting the new version may only add files.
	after := fileTree(t, filepath.Join(dir, "data"))
	for name, before := range data {
		if got, ok := after[name]; !ok {
			t.Errorf("v1.2.0 deleted data/%s", name)
		} else if got != before {
			t.Errorf("v1.2.0 changed data/%s:\nbefore %s\nafter  %s", name, before, got)
		}
	}
	if status := run(t, dir, "status", "--porcelain"); status != "" {
		t.Errorf("building and running left the checkout dirty:\n%s", status)
	}
}

// TestBrokenReleasesFailToBuild checks that the broken releases tests add
// fail where they claim to, and only there.
func TestBrokenReleasesFailToBuild(t *testing.T) {
	t.Parallel()
	requireTools(t, "go", "node")
	ctx := context.Background()
	origin := newDefaultOrigin(t)
	if err := AddRelease(ctx, origin, BrokenBackend("v1.3.0")); err != nil {
		t.Fatal(err)
	}
	if err := AddRelease(ctx, origin, BrokenFrontend("v1.4.0")); err != nil {
		t.Fatal(err)
	}

	backend := filepath.Join(t.TempDir(), "backend")
	if err := Clone(ctx, origin, backend, "v1.3.0"); err != nil {
		t.Fatal(err)
	}
	out, err := command(backend, nil, "go", "build", "-o", "server", "./backend").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "undefined: loadSettings") {
		t.Errorf("go build of BrokenBackend: err = %v, want a failure on loadSettings only:\n%s", err, out)
	}
	buildFrontend(t, backend, "v1.3.0")

	frontend := filepath.Join(t.TempDir(), "frontend")
	if err := Clone(ctx, origin, frontend, "v1.4.0"); err != nil {
		t.Fatal(err)
	}
	out, err = command(frontend, []string{"VERSION=v1.4.0"}, "node", "frontend/build.mjs", "frontend/dist").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "src/app.js") {
		t.Errorf("frontend build of BrokenFrontend: err = %v, want a failure naming src/app.js:\n%s", err, out)
	}
}

// requireTools skips a test that builds and runs the example app when a
// tool it needs is missing, or under go test -short (make test-fast).
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: real builds; run make test")
	}
	requireGit(t)
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
}

// command prepares name in dir. GOWORK=off and GOTOOLCHAIN=local keep go
// from reaching outside the app's own module or downloading a toolchain.
func command(dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "GOWORK=off", "GOTOOLCHAIN=local"), env...)
	return cmd
}

func runOK(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	out, err := command(dir, env, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// buildApp builds the app the way updater.yaml configures it.
func buildApp(t *testing.T, dir, version string) {
	t.Helper()
	runOK(t, dir, nil, "go", "build", "-ldflags", "-X main.version="+version, "-o", "server", "./backend")
	buildFrontend(t, dir, version)
}

func buildFrontend(t *testing.T, dir, version string) {
	t.Helper()
	runOK(t, dir, []string{"VERSION=" + version}, "node", "frontend/build.mjs", filepath.Join(dir, "frontend", "dist"))
}

// fileTree maps every file under dir, by slash-separated relative path, to
// its content.
func fileTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		files[filepath.ToSlash(rel)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// runningApp is the example app's server running as a child process.
type runningApp struct {
	url     string
	cmd     *exec.Cmd
	log     *appLog
	exited  chan struct{} // closed once the process has exited
	waitErr error         // valid after exited is closed
}

var listenLine = regexp.MustCompile(`listening on (http://\S+)`)

// appLog collects the app's output and reports the address it listens on.
type appLog struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	url  chan string
	sent bool
}

func (l *appLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if m := listenLine.FindSubmatch(l.buf.Bytes()); m != nil && !l.sent {
		l.sent = true
		l.url <- string(m[1])
	}
	return len(p), nil
}

func (l *appLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startApp starts ./server in dir on a port the kernel picks and returns
// once it logs its address. The process is killed when the test ends.
func startApp(t *testing.T, dir string) *runningApp {
	t.Helper()
	log := &appLog{url: make(chan string, 1)}
	cmd := exec.Command(filepath.Join(dir, "server"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ADDR=127.0.0.1:0", "DATA_DIR=data", "FRONTEND_DIR=frontend/dist", "PUBLIC_URL=")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	app := &runningApp{cmd: cmd, log: log, exited: make(chan struct{})}
	go func() {
		app.waitErr = cmd.Wait()
		close(app.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-app.exited
	})

	select {
	case app.url = <-log.url:
	case <-app.exited:
		t.Fatalf("server exited before listening: %v\n%s", app.waitErr, log)
	case <-time.After(10 * time.Second):
		t.Fatalf("server did not report its address within 10s:\n%s", log)
	}
	return app
}

type health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

var client = &http.Client{Timeout: 2 * time.Second}

// health polls /api/health until it answers, whatever the status code.
func (a *runningApp) health(t *testing.T) (int, health) {
	t.Helper()
	var code int
	var h health
	poll(t, 10*time.Second, "an answer from "+a.url+"/api/health", func() bool {
		resp, err := client.Get(a.url + "/api/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		code = resp.StatusCode
		return json.NewDecoder(resp.Body).Decode(&h) == nil
	})
	return code, h
}

func (a *runningApp) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := client.Get(a.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", path, resp.StatusCode, err, body)
	}
	return string(body)
}

func (a *runningApp) post(t *testing.T, path, body string, want int) {
	t.Helper()
	resp, err := client.Post(a.url+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		got, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d, want %d\n%s", path, resp.StatusCode, want, got)
	}
}

// stop sends SIGTERM and expects a clean exit, as a service manager would.
func (a *runningApp) stop(t *testing.T) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("server ignored SIGTERM for 10s:\n%s", a.log)
	}
	if a.waitErr != nil {
		t.Errorf("server exited with %v after SIGTERM, want 0:\n%s", a.waitErr, a.log)
	}
}

// poll calls cond until it returns true, failing the test after timeout.
// It waits on a real condition; the tick only paces the retries.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
}
