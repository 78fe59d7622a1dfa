//go:build faultinject

package reconciler_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/better-paas/updater/examples"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/health"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// The crash matrix: for every step of an update and of a rollback, the
// daemon (a real process, built with -tags faultinject) is SIGKILLed, or
// stopped gracefully with SIGTERM (`systemctl stop`, a reboot) or SIGINT
// (Ctrl-C), before the step, in the middle of it and after it; a new daemon
// then runs and the host must converge with data/ intact, no temporary
// files, one service process and a consistent status.yaml. A graceful stop
// must never be recorded as a failure of the release or of the rollback.

// midPoints are the steps with a fault point inside, where their work is
// half done; every step has "before" and "after".
var midPoints = map[string]bool{
	"backup:do": true, "fetch:do": true, "checkout:do": true, "start:do": true, "swap:do": true, "health:do": true,
	"build-backend:do": true, "build-frontend:do": true,
	"checkout:undo": true, "swap:undo": true, "recover:undo": true,
}

const (
	goodTarget = "v1.2.0" // builds and is healthy: the update goes forward
	badTarget  = "v1.3.0" // builds but answers 503: the update rolls back
)

func matrixReleases() []sandbox.Release {
	rels := sandbox.DefaultReleases()[:2] // v1.0.0, v1.1.0
	rels = append(rels, sandbox.Release{Tag: goodTarget, Files: map[string]string{
		"backend/release_note.go": "package main\n\n// releaseNote names the release; v1.2.0 changes nothing else.\nconst releaseNote = \"v1.2.0\"\n",
	}})
	bad := examples.Releases()[2] // the example's broken release, retagged
	return append(rels, sandbox.Release{Tag: badTarget, Overlay: bad.Overlay})
}

// daemonBinary builds better-paas-updater with fault points live.
func daemonBinary(t *testing.T) string {
	t.Helper()
	bin, err := sandbox.UpdaterBinary("faultinject")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// crashHost is one copy of the template: its own folder, port and daemon.
type crashHost struct {
	t       *testing.T
	root    string
	install string
	cfgPath string
	cfg     *config.Config
}

func (h *crashHost) writeConfig(port int) {
	h.t.Helper()
	raw, err := sandbox.ConfigWith(h.root, h.install, port, sandbox.Options{
		Timings:     sandbox.Timings{Interval: 100 * time.Millisecond, Deadline: 2 * time.Second, SuccessThreshold: 2},
		ShareBuilds: true, // every case builds the same releases in an install of its own
	})
	if err != nil {
		h.t.Fatal(err)
	}
	mustWrite(h.t, h.cfgPath, string(raw))
	if h.cfg, err = config.Load(h.cfgPath); err != nil {
		h.t.Fatal(err)
	}
}

// daemon runs `run --once` with faults and returns how it ended.
func (h *crashHost) daemon(faults string) (killed bool, code int, out string) {
	h.t.Helper()
	cmd := exec.Command(daemonBinary(h.t), "run", "--once", "--config", h.cfgPath)
	cmd.Env = append(os.Environ(), "BETTER_PAAS_FAULTS="+faults)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, -1, buf.String()
		}
		return false, ee.ExitCode(), buf.String()
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return false, 0, buf.String()
}

func (h *crashHost) supervisor() *service.Exec {
	h.t.Helper()
	svc, err := service.NewExec(service.ExecConfig{Command: h.cfg.Service.Exec.Command, Dir: h.install, Env: h.cfg.Service.Exec.Env,
		PIDFile: filepath.Join(h.cfg.StateDir, "service.pid"), LogFile: filepath.Join(h.cfg.StateDir, "logs", "service.log"),
		StopTimeout: h.cfg.Service.StopTimeout.Duration})
	if err != nil {
		h.t.Fatal(err)
	}
	return svc
}

// serverProcesses lists the live processes running this install's backend.
func serverProcesses(install string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil || cwd != install {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue
		}
		if bytes.HasPrefix(cmdline, []byte("./server\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// leftovers lists temporary files the updater must never leave behind.
func leftovers(t *testing.T, dirs ...string) []string {
	t.Helper()
	var found []string
	for _, dir := range dirs {
		filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := e.Name()
			if strings.Contains(name, ".tmp") || strings.HasSuffix(name, ".partial") || strings.HasSuffix(name, ".new") ||
				strings.HasSuffix(name, ".deleting") || name == "index.lock" {
				found = append(found, p)
			}
			return nil
		})
	}
	return found
}

// template prepares, once per test run, a host at v1.1.0 with its service
// stopped; each case copies it.
func template(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(dir, "origin.git"), matrixReleases())
	if err != nil {
		t.Fatal(err)
	}
	h := &crashHost{t: t, root: filepath.Join(dir, "host"), cfgPath: filepath.Join(dir, "host", "updater.yaml")}
	h.install = filepath.Join(h.root, "install")
	if err := sandbox.Clone(ctx, origin, h.install, "v1.1.0"); err != nil {
		t.Fatal(err)
	}
	// The targets are not in the checkout yet, so fetch has work to do.
	for _, tag := range []string{goodTarget, badTarget} {
		if out, err := exec.Command("git", "-C", h.install, "tag", "-d", tag).CombinedOutput(); err != nil {
			t.Fatalf("git tag -d: %v\n%s", err, out)
		}
	}
	mustWrite(t, filepath.Join(h.install, "data", "notes.txt"), "keep me\n")
	mustWrite(t, filepath.Join(h.install, ".env"), "SECRET=1\n")
	h.writeConfig(freePort(t))
	if err := spec.Write(h.cfg.DesiredFile, spec.New("v1.1.0")); err != nil {
		t.Fatal(err)
	}
	if killed, code, out := h.daemon(""); killed || code != 0 {
		t.Fatalf("template install: killed %v code %d\n%s", killed, code, out)
	}
	if err := h.supervisor().Stop(ctx); err != nil {
		t.Fatal(err)
	}
	return h.root
}

func copyHost(t *testing.T, tmpl string) *crashHost {
	t.Helper()
	root := filepath.Join(t.TempDir(), "host")
	if out, err := exec.Command("cp", "-a", tmpl, root).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	h := &crashHost{t: t, root: root, install: filepath.Join(root, "install"), cfgPath: filepath.Join(root, "updater.yaml")}
	h.writeConfig(freePort(t))
	return h
}

type crashCase struct {
	point  string // e.g. "swap:do:mid"
	action string // kill, term or int (see internal/fault)
	target string
}

// stops are the ways a daemon ends mid-operation: a crash or power loss,
// `systemctl stop`/restart or a reboot, and Ctrl-C.
var stops = []string{"kill", "term", "int"}

func crashCases(steps []string) []crashCase {
	var cases []crashCase
	for _, s := range steps {
		for _, when := range []string{"before", "mid", "after"} {
			if when == "mid" && !midPoints[s+":do"] {
				continue
			}
			for _, a := range stops {
				cases = append(cases, crashCase{point: s + ":do:" + when, action: a, target: goodTarget})
			}
		}
	}
	// The bad release fails at health, so every step before it is undone.
	for _, s := range steps[:len(steps)-1] {
		for _, when := range []string{"before", "mid", "after"} {
			if when == "mid" && !midPoints[s+":undo"] {
				continue
			}
			for _, a := range stops {
				cases = append(cases, crashCase{point: s + ":undo:" + when, action: a, target: badTarget})
			}
		}
	}
	return cases
}

// checkGracefulStop checks what a daemon stopped by a signal left: it
// exited by itself with the shell's code for that signal, and recorded
// nothing against the release or the rollback.
func checkGracefulStop(t *testing.T, h *crashHost, tc crashCase, killed bool, code int, out string) {
	t.Helper()
	want := map[string]int{"term": 128 + int(syscall.SIGTERM), "int": 128 + int(syscall.SIGINT)}[tc.action]
	if killed || code != want {
		t.Errorf("stopped with %s at %s: killed %v, exit %d, want exit %d\n%s", tc.action, tc.point, killed, code, want, out)
	}
	st, err := status.Load(reconciler.StatusPath(h.cfg))
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Get(status.TypeStalled); c != nil && c.Reason == reconciler.ReasonRollbackFailed {
		t.Errorf("a graceful stop was recorded as a failed rollback: %s", c.Message)
	}
	if f, ok := st.Failure(goodTarget); ok {
		t.Errorf("a graceful stop was recorded as a failure of %s: %+v", goodTarget, f)
	}
	if st.Operation != nil {
		if c := st.Get(status.TypeReady); c == nil || c.Reason != reconciler.ReasonInterrupted {
			t.Errorf("operation left in flight, but Ready = %+v, want reason %s", c, reconciler.ReasonInterrupted)
		}
	}
	if !strings.Contains(out, "resumes from its journal") && st.Operation != nil {
		t.Errorf("the log does not say where the operation was left:\n%s", out)
	}
}

func TestCrashMatrix(t *testing.T) {
	skipEndToEnd(t)
	tmpl := template(t)
	probe := &crashHost{t: t, root: tmpl, install: filepath.Join(tmpl, "install"), cfgPath: filepath.Join(tmpl, "updater.yaml")}
	cfg, err := config.Load(probe.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	steps := reconciler.StepNames(cfg)
	if steps[len(steps)-1] != "health" {
		t.Fatalf("the matrix assumes health is the last step: %v", steps)
	}
	for _, tc := range crashCases(steps) {
		t.Run(tc.point+"="+tc.action, func(t *testing.T) {
			t.Parallel()
			h := copyHost(t, tmpl)
			defer h.supervisor().Stop(context.Background())
			data := snapshot(t, filepath.Join(h.install, "data"))
			env, _ := os.ReadFile(filepath.Join(h.install, ".env"))
			if err := spec.Write(h.cfg.DesiredFile, spec.New(tc.target)); err != nil {
				t.Fatal(err)
			}

			killed, code, out := h.daemon(tc.point + "=" + tc.action)
			if tc.action == "kill" && !killed {
				t.Fatalf("fault point %s was never reached (exit %d):\n%s", tc.point, code, out)
			}
			if tc.action != "kill" {
				checkGracefulStop(t, h, tc, killed, code, out)
			}
			killed, code, out = h.daemon("")
			if killed {
				t.Fatalf("the second daemon was killed:\n%s", out)
			}

			st, err := status.Load(reconciler.StatusPath(h.cfg))
			if err != nil {
				t.Fatal(err)
			}
			want := tc.target
			if tc.target == badTarget {
				want = "v1.1.0" // rolled back
				if c := st.Get(status.TypeStalled); code != 2 || c == nil || c.Reason != reconciler.ReasonVersionFailed {
					t.Errorf("after the rollback: exit %d, Stalled %+v\n%s", code, c, out)
				}
			} else if code != 0 || !st.IsTrue(status.TypeReady) {
				t.Errorf("after the update: exit %d, Ready %+v\n%s", code, st.Get(status.TypeReady), out)
			}
			if f, ok := st.Failure(goodTarget); ok {
				t.Errorf("%s, which is healthy, was recorded as failed: %+v", goodTarget, f)
			}
			if st.Operation != nil || st.CurrentVersion != want {
				t.Errorf("status: operation %+v, currentVersion %q, want %q", st.Operation, st.CurrentVersion, want)
			}
			obs, err := health.Probe(context.Background(), http.DefaultClient, h.cfg.Health.URL)
			if err != nil || obs.Version != want {
				t.Errorf("health = %+v %v, want %s", obs, err, want)
			}
			if pids := serverProcesses(h.install); len(pids) != 1 {
				t.Errorf("%d backend processes (%v), want exactly 1", len(pids), pids)
			}
			if sum := fileSum(t, filepath.Join(h.install, "server")); st.LastKnownGood == nil || st.LastKnownGood.BinarySHA256 != sum || st.LastKnownGood.Version != want {
				t.Errorf("lastKnownGood %+v does not match the binary (%s)", st.LastKnownGood, sum)
			}
			if head := gitHead(t, h.install); head != st.CurrentCommit {
				t.Errorf("HEAD %s, status says %s", head, st.CurrentCommit)
			}
			preserved(t, "data", data, snapshot(t, filepath.Join(h.install, "data")))
			if after, _ := os.ReadFile(filepath.Join(h.install, ".env")); !bytes.Equal(after, env) {
				t.Errorf(".env changed: %q", after)
			}
			if left := leftovers(t, h.install, h.cfg.StateDir); len(left) > 0 {
				t.Errorf("temporary files left behind: %v", left)
			}
			if slices.Contains([]string{""}, st.CurrentCommit) {
				t.Error("no current commit")
			}
		})
	}
}

func gitHead(t *testing.T, dir string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
