package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/github/githubtest"
	"github.com/better-paas/updater/internal/release"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/selfupdate"
	"github.com/better-paas/updater/internal/signedsums"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// selfUpdateHost is a sandbox install whose daemon is a v0.1.0 build of
// the updater at exe, following the releases of better-paas/updater on a
// fake GitHub, signed with key.
type selfUpdateHost struct {
	*sandboxHost
	exe string
	old []byte // exe's bytes: v0.1.0
	srv *githubtest.Server
	key minisign.PrivateKey
}

func newSelfUpdateHost(t *testing.T) *selfUpdateHost {
	t.Helper()
	h := &selfUpdateHost{sandboxHost: newSandboxHost(t)}
	h.exe = filepath.Join(h.dir, "bin", "better-paas-updater")
	buildUpdater(t, "v0.1.0", h.exe)
	h.old = readBytes(t, h.exe)
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h.key = priv
	h.srv = githubtest.New(t)
	cfg := readBytes(t, h.cfgPath)
	cfg = append(cfg, fmt.Sprintf("selfUpdate:\n  enabled: true\n  repo: better-paas/updater\n  publicKey: %s\n  apiURL: %s\n  interval: 1m\n",
		pub.String(), h.srv.APIURL())...)
	writeFile(t, h.cfgPath, string(cfg))
	if err := spec.Write(h.cfg.DesiredFile, spec.New("v1.0.0")); err != nil {
		t.Fatal(err)
	}
	return h
}

// buildUpdater builds this module's updater stamped version (once per
// test process: sandbox.VersionedUpdaterBinary) and copies it to dst.
func buildUpdater(t *testing.T, version, dst string) {
	t.Helper()
	src, err := sandbox.VersionedUpdaterBinary(version)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, readBytes(t, src), 0o755); err != nil {
		t.Fatal(err)
	}
}

// fakeUpdater builds a program that answers `version -o json` as updater
// version would and, for plan when planOK, prints an empty plan; anything
// else exits 1 with a message on stderr: a release that is broken.
func fakeUpdater(t *testing.T, version string, planOK bool) []byte {
	t.Helper()
	dir := t.TempDir()
	src := fmt.Sprintf(`package main

import (
	"fmt"
	"os"
)

func main() {
	cmd := ""
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	switch {
	case cmd == "version":
		fmt.Println(%q)
		return
	case cmd == "plan" && %t:
		fmt.Println("{}")
		return
	}
	fmt.Fprintln(os.Stderr, "error: this build is broken: it cannot", cmd)
	os.Exit(1)
}
`, `{"version":"`+version+`"}`, planOK)
	writeFile(t, filepath.Join(dir, "main.go"), src)
	writeFile(t, filepath.Join(dir, "go.mod"), "module fake\n\ngo 1.26\n")
	cmd := exec.Command("go", "build", "-o", "fake", ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build the fake updater: %v\n%s", err, out)
	}
	return readBytes(t, filepath.Join(dir, "fake"))
}

// publish releases bin as updater version for this platform: the
// archive, SHA256SUMS and its signature, as `make release` does.
func (h *selfUpdateHost) publish(t *testing.T, version string, bin []byte) {
	t.Helper()
	target := release.Target{OS: runtime.GOOS, Arch: runtime.GOARCH}
	var archive bytes.Buffer
	when := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	files := []release.File{
		{Name: release.Name, Data: bin, Mode: 0o755},
		{Name: "README.md", Data: []byte("# better-paas-updater\n"), Mode: 0o644},
		{Name: "LICENSE", Data: []byte("MIT\n"), Mode: 0o644},
	}
	if err := release.WriteArchive(&archive, release.ArchiveStem(release.Name, version, target), files, when); err != nil {
		t.Fatal(err)
	}
	name := release.ArchiveName(release.Name, version, target)
	sums := signedsums.Sums{name: signedsums.Sum(archive.Bytes())}.Format()
	h.srv.AddRelease("better-paas", "updater", version, map[string][]byte{
		name:                archive.Bytes(),
		signedsums.SumsName: sums,
		signedsums.SigName:  signedsums.Sign(h.key, sums, version, when),
	})
}

// start starts `<exe> run` and returns it; the test is its supervisor.
func (h *selfUpdateHost) start(t *testing.T) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(h.exe, "run", "--config", h.cfgPath), log: &lockedBuffer{}, exited: make(chan error, 1)}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GITHUB_TOKEN=") {
			d.cmd.Env = append(d.cmd.Env, kv)
		}
	}
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-d.exited:
			case <-time.After(20 * time.Second):
				_ = d.cmd.Process.Kill()
				<-d.exited
			}
		}
	})
	return d
}

// status reads status.yaml; nil while there is none.
func (h *selfUpdateHost) status(t *testing.T) *status.VersionStatus {
	t.Helper()
	st, err := status.Load(filepath.Join(h.cfg.StateDir, "status.yaml"))
	if err != nil {
		return nil
	}
	return st
}

// waitStatus waits until status.yaml satisfies cond, failing the test
// with the daemon's log when d exits first or the deadline passes.
func (h *selfUpdateHost) waitStatus(t *testing.T, d *daemon, what string, cond func(*status.VersionStatus) bool) *status.VersionStatus {
	t.Helper()
	deadline := time.After(120 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if st := h.status(t); st != nil && cond(st) {
			return st
		}
		select {
		case err := <-d.exited:
			d.exited <- err
			t.Fatalf("the daemon exited (%v) before %s\n%s", err, what, d.log.String())
		case <-deadline:
			t.Fatalf("timed out waiting until %s\n%s", what, d.log.String())
		case <-tick.C:
		}
	}
}

// lockPID is the pid the state folder's lock file names.
func (h *selfUpdateHost) lockPID(t *testing.T) int {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(h.cfg.StateDir, "lock"))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "pid: "); ok {
			pid, _ := strconv.Atoi(v)
			return pid
		}
	}
	return 0
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lastSelfUpdate(st *status.VersionStatus) *status.SelfUpdateRecord {
	if st.Updater == nil {
		return nil
	}
	return st.Updater.LastSelfUpdate
}

// TestSelfUpdateTakesOver: a v0.1.0 daemon finds the signed v0.2.0, tries
// it and execs into it; v0.2.0 reconciles, renames itself over the binary
// and records both versions. Same process, old binary kept, app Ready.
func TestSelfUpdateTakesOver(t *testing.T) {
	t.Parallel()
	h := newSelfUpdateHost(t)
	newBin := filepath.Join(t.TempDir(), "v0.2.0")
	buildUpdater(t, "v0.2.0", newBin)
	h.publish(t, "v0.2.0", readBytes(t, newBin))
	d := h.start(t)
	st := h.waitStatus(t, d, "updater v0.2.0 took over", func(st *status.VersionStatus) bool {
		r := lastSelfUpdate(st)
		return r != nil && r.To == "v0.2.0"
	})
	if r := lastSelfUpdate(st); r.Result != status.SelfUpdateSucceeded || r.From != "v0.1.0" {
		t.Fatalf("lastSelfUpdate = %+v\n%s", r, d.log.String())
	}
	if u := st.Updater; u.Version != "v0.2.0" || u.PreviousVersion != "v0.1.0" {
		t.Errorf("updater = %+v, want version v0.2.0 previousVersion v0.1.0", u)
	}
	if err := daemonAlive(d); err != nil {
		t.Fatalf("%v\n%s", err, d.log.String())
	}
	if pid := h.lockPID(t); pid != d.cmd.Process.Pid {
		t.Errorf("the lock is held by pid %d, want the daemon's own %d (exec keeps the pid)", pid, d.cmd.Process.Pid)
	}
	if !bytes.Equal(readBytes(t, h.exe), readBytes(t, newBin)) {
		t.Error("the binary is not v0.2.0's")
	}
	if !bytes.Equal(readBytes(t, h.exe+".bak"), h.old) {
		t.Error("the .bak is not v0.1.0's binary")
	}
	for _, p := range []string{h.exe + ".new", filepath.Join(h.cfg.StateDir, selfupdate.MarkerName)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is left behind", p)
		}
	}
	if out, err := exec.Command(h.exe, "version", "-o", "json").Output(); err != nil || !strings.Contains(string(out), `"v0.2.0"`) {
		t.Errorf("the binary reports %s (%v)", out, err)
	}
	st = h.waitStatus(t, d, "the app is Ready", func(st *status.VersionStatus) bool { return st.IsTrue(status.TypeReady) })
	if st.CurrentVersion != "v1.0.0" {
		t.Errorf("app runs %q, want v1.0.0", st.CurrentVersion)
	}
}

// TestSelfUpdateRefusesABrokenRelease: a v0.2.0 that exits at anything but
// `version` fails its trial; the daemon never stopped, the binary is
// v0.1.0's, status says why, and a restarted daemon does not try it again.
func TestSelfUpdateRefusesABrokenRelease(t *testing.T) {
	t.Parallel()
	h := newSelfUpdateHost(t)
	h.publish(t, "v0.2.0", fakeUpdater(t, "v0.2.0", false))
	d := h.start(t)
	st := h.waitStatus(t, d, "the self-update to v0.2.0 failed", func(st *status.VersionStatus) bool {
		r := lastSelfUpdate(st)
		return r != nil && r.To == "v0.2.0"
	})
	r := lastSelfUpdate(st)
	if r.Result != status.SelfUpdateFailed || r.Reason != selfupdate.ReasonTrialFailed ||
		!strings.Contains(r.Message, "exit status 1") || !strings.Contains(r.Message, "this build is broken: it cannot plan") {
		t.Errorf("lastSelfUpdate = %+v, want Failed TrialFailed with the exit and the stderr", r)
	}
	if !st.SelfUpdateFailed("v0.2.0") || st.Updater.Version != "v0.1.0" {
		t.Errorf("updater = %+v", st.Updater)
	}
	if !bytes.Equal(readBytes(t, h.exe), h.old) {
		t.Error("the binary is no longer v0.1.0's")
	}
	if _, err := os.Stat(h.exe + ".new"); err == nil {
		t.Error("the refused binary is left as .new")
	}
	if err := daemonAlive(d); err != nil {
		t.Fatalf("%v\n%s", err, d.log.String())
	}
	pid := d.cmd.Process.Pid
	if got := h.lockPID(t); got != pid {
		t.Errorf("lock pid %d, want %d", got, pid)
	}

	// A restarted daemon checks again at once and leaves v0.2.0 alone.
	d.stop(t)
	downloads := func() int {
		n := 0
		for _, l := range h.srv.Requests() {
			if strings.Contains(l, ".tar.gz") {
				n++
			}
		}
		return n
	}
	before, checked := downloads(), st.Updater.LastCheck
	d = h.start(t)
	st = h.waitStatus(t, d, "the restarted daemon checked again", func(st *status.VersionStatus) bool {
		return st.Updater != nil && st.Updater.LastCheck != nil && st.Updater.LastCheck.After(*checked)
	})
	if n := downloads(); n != before {
		t.Errorf("the restarted daemon downloaded v0.2.0 again (%d archive requests, %d before)", n, before)
	}
	if got := lastSelfUpdate(st); got.Time != r.Time || got.Result != status.SelfUpdateFailed {
		t.Errorf("lastSelfUpdate changed: %+v", got)
	}
}

// TestSelfUpdateRollsBackWhenTheNewDaemonFails: a v0.2.0 that passes its
// trial but exits as the daemon leaves the process; its supervisor (the
// test, as systemd's Restart=) starts the binary again, which is still
// v0.1.0: it records RolledBack and runs.
func TestSelfUpdateRollsBackWhenTheNewDaemonFails(t *testing.T) {
	t.Parallel()
	h := newSelfUpdateHost(t)
	h.publish(t, "v0.2.0", fakeUpdater(t, "v0.2.0", true))
	d := h.start(t)
	select {
	case <-d.exited:
	case <-time.After(120 * time.Second):
		t.Fatalf("the daemon did not hand over to the broken v0.2.0\n%s", d.log.String())
	}
	if !strings.Contains(d.log.String(), "this build is broken: it cannot run") {
		t.Fatalf("the daemon did not exec v0.2.0:\n%s", d.log.String())
	}
	d2 := h.start(t)
	st := h.waitStatus(t, d2, "the restarted v0.1.0 rolled back", func(st *status.VersionStatus) bool {
		r := lastSelfUpdate(st)
		return r != nil && r.To == "v0.2.0"
	})
	r := lastSelfUpdate(st)
	if r.Result != status.SelfUpdateRolledBack || r.Reason != selfupdate.ReasonExited || !st.SelfUpdateFailed("v0.2.0") || st.Updater.Version != "v0.1.0" {
		t.Errorf("updater = %+v, lastSelfUpdate = %+v", st.Updater, r)
	}
	if !bytes.Equal(readBytes(t, h.exe), h.old) {
		t.Error("the binary is no longer v0.1.0's")
	}
	for _, p := range []string{h.exe + ".new", filepath.Join(h.cfg.StateDir, selfupdate.MarkerName)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s is left behind", p)
		}
	}
	h.waitStatus(t, d2, "the app is Ready under v0.1.0", func(st *status.VersionStatus) bool { return st.IsTrue(status.TypeReady) })
	if err := daemonAlive(d2); err != nil {
		t.Fatal(err)
	}
}

// daemonAlive returns an error once d has exited.
func daemonAlive(d *daemon) error {
	select {
	case err := <-d.exited:
		d.exited <- err
		return fmt.Errorf("the daemon exited: %v", err)
	default:
		return nil
	}
}

// runExe runs exe with args and returns its combined output and exit code.
func runExe(t *testing.T, exe string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(exe, args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestSelfUpdateCommand: --check says what is newer (exit 100, like
// check); without --check and without a daemon the verified release is
// installed over the binary; with a daemon running it is refused.
func TestSelfUpdateCommand(t *testing.T) {
	t.Parallel()
	if out, _ := runCLI(t, "self-update", "--help"); strings.Contains(out, "unknown command") {
		t.Fatal("self-update is not a command: add newSelfUpdateCommand(o) to root.AddCommand in root.go")
	}
	h := newSelfUpdateHost(t)
	newBin := filepath.Join(t.TempDir(), "v0.2.0")
	buildUpdater(t, "v0.2.0", newBin)
	h.publish(t, "v0.2.0", readBytes(t, newBin))

	out, code := runExe(t, h.exe, "self-update", "--check", "--config", h.cfgPath)
	if code != exitUpdateAvailable || !strings.Contains(out, "newest:    v0.2.0") || !strings.Contains(out, "running:   v0.1.0") {
		t.Errorf("--check: exit %d\n%s", code, out)
	}
	out, code = runExe(t, h.exe, "self-update", "--check", "-o", "json", "--config", h.cfgPath)
	var res selfUpdateCheck
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitUpdateAvailable || !res.UpdateAvailable || res.Newest != "v0.2.0" {
		t.Errorf("--check -o json: exit %d %v\n%s", code, err, out)
	}
	if _, err := os.Stat(h.exe + ".new"); err == nil {
		t.Error("--check staged the release")
	}

	out, code = runExe(t, h.exe, "self-update", "--config", h.cfgPath)
	if code != 0 || !strings.Contains(out, "Installed updater v0.2.0 over v0.1.0") {
		t.Fatalf("self-update: exit %d\n%s", code, out)
	}
	if !bytes.Equal(readBytes(t, h.exe), readBytes(t, newBin)) || !bytes.Equal(readBytes(t, h.exe+".bak"), h.old) {
		t.Error("the binary is not v0.2.0's, or .bak not v0.1.0's")
	}
	if st := h.status(t); st == nil || st.Updater.Version != "v0.2.0" || st.Updater.PreviousVersion != "v0.1.0" {
		t.Errorf("status: %+v", st)
	}
	out, code = runExe(t, h.exe, "self-update", "--check", "--config", h.cfgPath)
	if code != 0 || !strings.Contains(out, "no newer release") || !strings.Contains(out, "v0.1.0 -> v0.2.0: Succeeded") {
		t.Errorf("--check after the update: exit %d\n%s", code, out)
	}

	d := h.start(t)
	waitFor(t, "the daemon takes the lock", func() bool { return h.lockPID(t) == d.cmd.Process.Pid })
	out, code = runExe(t, h.exe, "self-update", "--config", h.cfgPath)
	if code != exitFailure || !strings.Contains(out, "a running daemon updates itself") {
		t.Errorf("self-update beside a daemon: exit %d\n%s", code, out)
	}
}
