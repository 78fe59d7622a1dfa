// Command demo shows the updater at work on the example app, with nothing
// faked: it builds the updater, creates a sandbox with a bare "origin"
// repository holding v1.0.0, v1.1.0 (good) and v1.2.0 (builds, but fails its
// health check), installs v1.0.0, starts the daemon, moves to v1.1.0, then
// asks for v1.2.0 and shows the automatic rollback to v1.1.0. The daemon's
// log is printed as it happens, then the final status.
//
// Run it with `make demo` from the repository root. The sandbox is left in
// .demo/ for a look around; the next run replaces it.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/status"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

type demo struct {
	root, bin, config, statusPath, healthURL string
	pageURL, token                           string
}

// run is the demo's script, one scene after the other, long on purpose:
// it reads top to bottom as README tells the story.
func run(ctx context.Context) error {
	began := time.Now()
	root, err := filepath.Abs(".demo")
	if err != nil {
		return err
	}
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	d := &demo{root: root, bin: filepath.Join(root, "bin", "better-paas-updater")}

	title("Building better-paas-updater")
	if err := sh(ctx, "go", "build", "-o", d.bin, "./cmd/better-paas-updater"); err != nil {
		return err
	}

	title("Creating the sandbox: origin.git with v1.0.0, v1.1.0 (good), v1.2.0 (fails its health check)")
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(root, "origin.git"), sandbox.DefaultReleases())
	if err != nil {
		return err
	}
	install := filepath.Join(root, "install")
	if err := sandbox.Clone(ctx, origin, install, "v1.0.0"); err != nil {
		return err
	}
	// Files an update must never touch: the app's data and an untracked .env.
	if err := os.WriteFile(filepath.Join(install, ".env"), []byte("SECRET_KEY=do-not-lose-me\n"), 0o600); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	apiPort, err := freePort()
	if err != nil {
		return err
	}
	d.healthURL = fmt.Sprintf("http://127.0.0.1:%d/api/health", port)
	d.pageURL = fmt.Sprintf("http://127.0.0.1:%d/", apiPort)
	d.config = filepath.Join(root, "updater.yaml")
	d.statusPath = filepath.Join(root, "state", "status.yaml")
	// The shipped examples/config/updater.yaml, pointed at the sandbox,
	// with the API and the Software Updates page on a free loopback port.
	cfg, err := sandbox.ConfigWith(root, install, port, sandbox.Options{
		Timings:   sandbox.Timings{Interval: 500 * time.Millisecond, Deadline: 10 * time.Second, SuccessThreshold: 3},
		APIListen: fmt.Sprintf("127.0.0.1:%d", apiPort),
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(d.config, cfg, 0o644); err != nil {
		return err
	}
	fmt.Printf("  origin:  %s\n  install: %s (clone at v1.0.0, nothing built yet)\n  config:  %s\n", origin, install, d.config)

	title("Making the API token (better-paas-updater token create)")
	if d.token, err = d.createToken(); err != nil {
		return err
	}

	title("Asking for v1.0.0 and starting the daemon")
	if err := d.cli(ctx, "set", "v1.0.0"); err != nil {
		return err
	}
	daemon, err := d.startDaemon(ctx)
	if err != nil {
		return err
	}
	defer daemon.shutdown()
	if err := d.waitFor(ctx, "v1.0.0 Ready", func(st *status.VersionStatus) bool {
		return st.IsTrue(status.TypeReady) && st.CurrentVersion == "v1.0.0"
	}); err != nil {
		return err
	}
	d.showPage()
	if err := d.showHealth(ctx); err != nil {
		return err
	}
	if err := d.addNote(ctx, "written by a user of v1.0.0"); err != nil {
		return err
	}
	dataBefore, err := hashTree(filepath.Join(install, "data"))
	if err != nil {
		return err
	}

	title("Updating to v1.1.0 (a good release)")
	if err := d.cli(ctx, "set", "v1.1.0"); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "v1.1.0 Ready", func(st *status.VersionStatus) bool {
		return st.IsTrue(status.TypeReady) && st.CurrentVersion == "v1.1.0"
	}); err != nil {
		return err
	}
	if err := d.showHealth(ctx); err != nil {
		return err
	}

	title("Updating to v1.2.0 (builds, but its /api/health answers 503)")
	if err := d.cli(ctx, "set", "v1.2.0"); err != nil {
		return err
	}
	if err := d.waitFor(ctx, "the rollback of v1.2.0", func(st *status.VersionStatus) bool {
		c := st.Get(status.TypeStalled)
		return c != nil && c.Reason == "VersionFailed" && st.Operation == nil
	}); err != nil {
		return err
	}
	if err := d.showHealth(ctx); err != nil {
		return err
	}

	title("Checking the promises")
	dataAfter, err := hashTree(filepath.Join(install, "data"))
	if err != nil {
		return err
	}
	for path, sum := range dataBefore {
		if dataAfter[path] != sum {
			return fmt.Errorf("data/%s changed during the updates", path)
		}
	}
	fmt.Printf("  data/: all %d files present before the updates are byte-identical (%d now; the app's migrations only add)\n", len(dataBefore), len(dataAfter))
	env, err := os.ReadFile(filepath.Join(install, ".env"))
	if err != nil || string(env) != "SECRET_KEY=do-not-lose-me\n" {
		return fmt.Errorf(".env was not preserved: %q %v", env, err)
	}
	fmt.Println("  .env: preserved")
	if _, err := os.Stat(filepath.Join(install, "server.bak")); err != nil {
		return fmt.Errorf("server.bak missing: %w", err)
	}
	fmt.Println("  server.bak: kept")

	title("Final status (better-paas-updater status)")
	if err := d.cli(ctx, "status"); err != nil {
		return err
	}
	fmt.Printf("\nDemo finished in %s. The sandbox stays in %s.\n", time.Since(began).Round(time.Second), root)
	return d.keepServing(ctx)
}

// createToken runs `token create` and returns the token it printed once.
func (d *demo) createToken() (string, error) {
	token, err := sandbox.CreateToken(d.bin, d.config, false)
	if err == nil {
		fmt.Println("  a new token; the state folder keeps only its SHA-256")
	}
	return token, err
}

// showPage prints where the Software Updates page is and its token.
func (d *demo) showPage() {
	fmt.Printf(">> Software Updates page: %s  (token: %s)\n", d.pageURL, d.token)
}

// keepServing leaves the daemon and the page running for a person at a
// terminal to click through an update and a rollback, until Enter or
// Ctrl-C; without a terminal (CI, a pipe) it returns at once.
func (d *demo) keepServing(ctx context.Context) error {
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return nil
	}
	title("Try it in a browser")
	d.showPage()
	fmt.Println("   Check for updates, Update now (v1.1.0 -> v1.2.0 rolls back), Roll back. Press Enter or Ctrl-C to stop.")
	line := make(chan struct{})
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		close(line)
	}()
	select {
	case <-ctx.Done():
	case <-line:
	}
	return nil
}

// cli runs the updater's CLI against the demo's config, printing its output.
func (d *demo) cli(ctx context.Context, args ...string) error {
	fmt.Printf("$ better-paas-updater %s\n", strings.Join(args, " "))
	return sh(ctx, d.bin, append(args, "--config", d.config)...)
}

type daemon struct {
	cmd     *exec.Cmd
	done    chan struct{}
	pidFile string
}

// startDaemon starts `better-paas-updater run` and prints its log lines.
func (d *demo) startDaemon(ctx context.Context) (*daemon, error) {
	cmd := exec.Command(d.bin, "run", "--config", d.config)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	dm := &daemon{cmd: cmd, done: make(chan struct{}), pidFile: filepath.Join(d.root, "state", "service.pid")}
	go func() {
		defer close(dm.done)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			fmt.Println("  daemon | " + s.Text())
		}
	}()
	return dm, nil
}

// shutdown stops the daemon, then the app it left running (the app is
// detached on purpose: a daemon restart must not take the app down).
func (dm *daemon) shutdown() {
	_ = dm.cmd.Process.Signal(syscall.SIGTERM)
	<-dm.done
	_ = dm.cmd.Wait()
	// A second supervisor on the same pidfile adopts the app and stops it.
	if svc, err := service.NewExec(service.ExecConfig{
		Command: []string{"./server"}, PIDFile: dm.pidFile, LogFile: dm.pidFile + ".log",
	}); err == nil {
		_ = svc.Stop(context.Background())
	}
}

// waitFor polls status.yaml until cond holds, printing each new step.
func (d *demo) waitFor(ctx context.Context, what string, cond func(*status.VersionStatus) bool) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := status.Load(d.statusPath)
		if err == nil && cond(st) {
			fmt.Printf(">> %s: currentVersion %s, Ready=%s", what, st.CurrentVersion, st.Get(status.TypeReady).Status)
			if c := st.Get(status.TypeStalled); c != nil {
				fmt.Printf(", Stalled (%s)", c.Reason)
			}
			fmt.Println()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func (d *demo) showHealth(ctx context.Context) error {
	obs, err := health.Probe(ctx, http.DefaultClient, d.healthURL)
	if err != nil {
		return err
	}
	fmt.Printf(">> GET %s -> %d, version %s\n", d.healthURL, obs.StatusCode, obs.Version)
	return nil
}

func (d *demo) addNote(ctx context.Context, text string) error {
	url := strings.TrimSuffix(d.healthURL, "/health") + "/notes"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(fmt.Sprintf(`{"text":%q}`, text)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %s", url, resp.Status)
	}
	fmt.Printf(">> POST %s -> %s (a note the update must keep)\n", url, resp.Status)
	return nil
}

func sh(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

func title(s string) { fmt.Printf("\n== %s\n", s) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// hashTree maps each regular file under dir to a digest of its content.
func hashTree(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = fmt.Sprintf("%x", b)
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	return out, err
}
