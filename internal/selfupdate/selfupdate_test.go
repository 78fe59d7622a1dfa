package selfupdate

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/github/githubtest"
	"github.com/better-paas/updater/internal/release"
	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/internal/signedsums"
	"github.com/better-paas/updater/status"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func TestPick(t *testing.T) {
	rels := func(vs ...string) []releases.Release {
		var out []releases.Release
		for _, v := range vs {
			out = append(out, releases.Release{Version: v, Prerelease: strings.Contains(v, "-")})
		}
		return out
	}
	failed := map[string]bool{"v0.4.0": true}
	tests := []struct {
		name    string
		rels    []releases.Release
		running string
		want    string
	}{
		{"newest", rels("v0.2.0", "v0.3.0", "v0.1.0"), "v0.1.0", "v0.3.0"},
		{"none newer", rels("v0.1.0", "v0.0.9"), "v0.1.0", ""},
		{"no releases", nil, "v0.1.0", ""},
		{"prerelease skipped", rels("v0.3.0-rc.1", "v0.2.0"), "v0.1.0", "v0.2.0"},
		{"failed skipped for the next newest", rels("v0.4.0", "v0.3.1"), "v0.3.0", "v0.3.1"},
		{"only a failed one", rels("v0.4.0"), "v0.3.0", ""},
		{"invalid versions skipped", rels("latest", "v1", "v0.2.0+meta", "v0.2.0"), "v0.1.0", "v0.2.0"},
		{"semver order, not string order", rels("v0.10.0", "v0.9.0"), "v0.1.0", "v0.10.0"},
		{"a prerelease running updates to its release", rels("v0.2.0"), "v0.2.0-rc.1", "v0.2.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Pick(tt.rels, tt.running, func(v string) bool { return failed[v] })
			if ok != (tt.want != "") || got.Version != tt.want {
				t.Errorf("Pick = %q %t, want %q", got.Version, ok, tt.want)
			}
		})
	}
}

// host is a state folder and a running binary for an Updater.
type host struct {
	dir, exe, state string
	cfg             *config.Config
}

func newHost(t *testing.T) *host {
	t.Helper()
	dir := t.TempDir()
	h := &host{dir: dir, exe: filepath.Join(dir, "bin", "better-paas-updater"), state: filepath.Join(dir, "state")}
	for _, d := range []string{filepath.Dir(h.exe), h.state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, h.exe, "old binary", 0o755)
	h.cfg = &config.Config{StateDir: h.state}
	return h
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

func (h *host) updater(t *testing.T, version, running string) *Updater {
	t.Helper()
	u, err := New(Options{Config: h.cfg, ConfigPath: filepath.Join(h.dir, "updater.yaml"), Version: version, Executable: running,
		Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// handOver leaves what Once leaves before the exec: <exe>.new and the
// marker of phase.
func (h *host) handOver(t *testing.T, phase string, attempts int) Marker {
	t.Helper()
	writeFile(t, h.exe+".new", "new binary", 0o755)
	m := Marker{From: "v0.1.0", To: "v0.2.0", Exe: h.exe, New: h.exe + ".new", Phase: phase, StartedAt: t0, Attempts: attempts}
	if err := writeMarker(filepath.Join(h.state, MarkerName), m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (h *host) status(t *testing.T) *status.VersionStatus {
	t.Helper()
	st, err := status.Load(filepath.Join(h.state, "status.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (h *host) marker() string { return filepath.Join(h.state, MarkerName) }

// TestTrialCommitsOnTheFirstGoodReconcile: the new updater on trial
// counts its start, and its first successful reconcile keeps the old
// binary as .bak, renames itself over the binary, records Succeeded and
// removes the marker; a cancelled reconcile before it counts neither way.
func TestTrialCommitsOnTheFirstGoodReconcile(t *testing.T) {
	h := newHost(t)
	h.handOver(t, PhaseTrial, 0)
	u := h.updater(t, "v0.2.0", h.exe+".new")
	ctx := context.Background()
	if err := u.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	m, ok, err := readMarker(h.marker())
	if err != nil || !ok || m.Attempts != 1 {
		t.Fatalf("marker after start = %+v %t %v, want attempts 1", m, ok, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for range MaxTrialErrors {
		if err := u.Reconciled(cancelled, context.Canceled); err != nil {
			t.Fatal(err)
		}
	}
	if !exists(h.marker()) || readFile(t, h.exe) != "old binary" {
		t.Fatal("a cancelled reconcile settled the trial")
	}
	select {
	case <-u.checked:
		t.Fatal("release checks started during the trial")
	default:
	}
	if err := u.Reconciled(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if readFile(t, h.exe) != "new binary" || readFile(t, h.exe+".bak") != "old binary" || exists(h.exe+".new") || exists(h.marker()) {
		t.Errorf("after commit: exe %q bak %q new %t marker %t", readFile(t, h.exe), readFile(t, h.exe+".bak"), exists(h.exe+".new"), exists(h.marker()))
	}
	st := h.status(t)
	if r := st.Updater.LastSelfUpdate; r.Result != status.SelfUpdateSucceeded || st.Updater.Version != "v0.2.0" || st.Updater.PreviousVersion != "v0.1.0" {
		t.Errorf("status = %+v %+v", st.Updater, r)
	}
	if u.Executable() != h.exe {
		t.Errorf("Executable() = %s, want %s: the next release is staged beside the binary, not beside .new", u.Executable(), h.exe)
	}
	<-u.checked // release checks may start now
}

// TestTrialRollsBackAfterFailedReconciles: MaxTrialErrors failed
// reconciles in a row put the old binary back: RolledBack recorded, .new
// and the marker removed, a Restart into the binary returned.
func TestTrialRollsBackAfterFailedReconciles(t *testing.T) {
	h := newHost(t)
	h.handOver(t, PhaseTrial, 0)
	u := h.updater(t, "v0.2.0", h.exe+".new")
	ctx := context.Background()
	if err := u.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("cannot observe the host: boom")
	var err error
	for i := range MaxTrialErrors {
		err = u.Reconciled(ctx, boom)
		if i < MaxTrialErrors-1 && err != nil {
			t.Fatalf("reconcile %d: %v", i+1, err)
		}
	}
	r, ok := AsRestart(err)
	if !ok || r.Path != h.exe || r.To != "v0.1.0" {
		t.Fatalf("after %d errors: %v, want a Restart into %s", MaxTrialErrors, err, h.exe)
	}
	if readFile(t, h.exe) != "old binary" || exists(h.exe+".new") || exists(h.marker()) || exists(h.exe+".bak") {
		t.Error("the rollback left files behind or touched the binary")
	}
	st := h.status(t)
	rec := st.Updater.LastSelfUpdate
	if rec.Result != status.SelfUpdateRolledBack || rec.Reason != ReasonReconcileFailed || !strings.Contains(rec.Message, "boom") ||
		!st.SelfUpdateFailed("v0.2.0") || st.Updater.Version != "v0.1.0" {
		t.Errorf("status = %+v %+v", st.Updater, rec)
	}
}

// TestResumeSettlesWhatAStopLeft: each marker a stopped process can leave
// is settled by whichever binary starts next.
func TestResumeSettlesWhatAStopLeft(t *testing.T) {
	tests := []struct {
		name     string
		running  string // version starting
		phase    string
		attempts int
		noNew    bool // .new already renamed over the binary
		exe      string
		result   status.SelfUpdateResult
		reason   string
		restart  bool
	}{
		{"new died on trial: old starts", "v0.1.0", PhaseTrial, 1, false, "old binary", status.SelfUpdateRolledBack, ReasonExited, false},
		{"new never started: old starts", "v0.1.0", PhaseTrial, 0, false, "old binary", status.SelfUpdateRolledBack, ReasonExited, false},
		{"new restarted into itself too often", "v0.2.0", PhaseTrial, maxTrialAttempts, false, "old binary", status.SelfUpdateRolledBack, ReasonExited, true},
		{"new stopped while committing: old finishes", "v0.1.0", PhaseCommitting, 1, false, "new binary", "", "", true},
		{"new stopped while committing: new restarts", "v0.2.0", PhaseCommitting, 1, false, "new binary", status.SelfUpdateSucceeded, "", false},
		{"new stopped after the rename", "v0.2.0", PhaseCommitting, 1, true, "new binary", status.SelfUpdateSucceeded, "", false},
		{"an old copy runs after the rename", "v0.1.0", PhaseCommitting, 1, true, "new binary", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			h.handOver(t, tt.phase, tt.attempts)
			if tt.noNew {
				if err := os.Link(h.exe, h.exe+".bak"); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(h.exe+".new", h.exe); err != nil {
					t.Fatal(err)
				}
			}
			err := h.updater(t, tt.running, h.exe).Resume(context.Background())
			r, isRestart := AsRestart(err)
			if isRestart != tt.restart || (err != nil && !isRestart) {
				t.Fatalf("Resume = %v, want restart %t", err, tt.restart)
			}
			if isRestart && r.Path != h.exe {
				t.Errorf("restart into %s, want %s", r.Path, h.exe)
			}
			if got := readFile(t, h.exe); got != tt.exe {
				t.Errorf("binary = %q, want %q", got, tt.exe)
			}
			if exists(h.exe + ".new") {
				t.Error(".new is left")
			}
			if tt.exe == "new binary" && readFile(t, h.exe+".bak") != "old binary" {
				t.Error(".bak is not the old binary")
			}
			if tt.result == "" {
				if !exists(h.marker()) {
					t.Error("the marker is gone before the new updater settled")
				}
				return
			}
			if exists(h.marker()) {
				t.Error("the marker is left")
			}
			rec := h.status(t).Updater.LastSelfUpdate
			if rec.Result != tt.result || rec.Reason != tt.reason || rec.To != "v0.2.0" {
				t.Errorf("lastSelfUpdate = %+v", rec)
			}
		})
	}
}

// TestResumeDespiteACorruptStatus: a status.yaml that cannot be read does
// not stop the old binary from putting itself back (the reconciler
// rebuilds status.yaml), and is left for the reconciler as it is.
func TestResumeDespiteACorruptStatus(t *testing.T) {
	h := newHost(t)
	h.cfg.SelfUpdate.Enabled = true
	h.handOver(t, PhaseTrial, 1)
	path := filepath.Join(h.state, "status.yaml")
	writeFile(t, path, "{{{ not yaml", 0o644)
	if err := h.updater(t, "v0.1.0", h.exe).Resume(context.Background()); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	if exists(h.exe+".new") || exists(h.marker()) || readFile(t, h.exe) != "old binary" || readFile(t, path) != "{{{ not yaml" {
		t.Error("the trial was not rolled back, or the corrupt status.yaml was overwritten")
	}
	if err := h.updater(t, "v0.1.0", h.exe).Resume(context.Background()); err != nil {
		t.Fatalf("Resume without a marker: %v", err)
	}
}

// TestResumeRemovesAStrangersMarker: a marker of versions this binary is
// neither of (replaced by hand meanwhile) is removed with its .new; a
// malformed marker is an error naming the file.
func TestResumeRemovesAStrangersMarker(t *testing.T) {
	h := newHost(t)
	h.handOver(t, PhaseTrial, 1)
	if err := h.updater(t, "v0.3.0", h.exe).Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exists(h.marker()) || exists(h.exe+".new") || readFile(t, h.exe) != "old binary" {
		t.Error("the stranger's marker or .new is left, or the binary changed")
	}
	writeFile(t, h.marker(), `{"apiVersion":"updates.better-paas.io/v1","kind":"SelfUpdate","from":"v0.1.0"}`, 0o644)
	err := h.updater(t, "v0.1.0", h.exe).Resume(context.Background())
	if err == nil || !strings.Contains(err.Error(), h.marker()) || !strings.Contains(err.Error(), "remove it") {
		t.Errorf("malformed marker: %v", err)
	}
}

// TestResumeRecordsTheRunningVersion: with selfUpdate enabled a start
// records the running version; without, status.yaml is left alone.
func TestResumeRecordsTheRunningVersion(t *testing.T) {
	h := newHost(t)
	if err := h.updater(t, "v0.1.0", h.exe).Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(h.state, "status.yaml")) {
		t.Error("a disabled self-update wrote status.yaml")
	}
	h.cfg.SelfUpdate.Enabled = true
	if err := h.updater(t, "v0.1.0", h.exe).Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := h.status(t).Updater.Version; v != "v0.1.0" {
		t.Errorf("updater.version = %q", v)
	}
}

// fakeBuild is a program that answers as an updater whose version and
// plan outcome are written after its end ("\nFAKE:<version> <plan>"), so
// one build gives every variant: `version -o json` prints the version;
// plan exits 0 when <plan> is "yes"; anything else exits 1 on stderr.
var fakeBuild = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "selfupdate-fake")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	src := `package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

func main() {
	exe, _ := os.Executable()
	b, _ := os.ReadFile(exe)
	tag := []byte("\nFA" + "KE:")
	fields := strings.Fields(string(b[bytes.LastIndex(b, tag)+len(tag):]))
	cmd := ""
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	switch {
	case cmd == "version":
		fmt.Printf("{\"version\":%q}\n", fields[0])
		return
	case cmd == "plan" && fields[1] == "yes":
		fmt.Println("{}")
		return
	}
	fmt.Fprintln(os.Stderr, "error: broken build cannot", cmd)
	os.Exit(1)
}
`
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module fake\n\ngo 1.26\n"), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "build", "-o", "fake", ".")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%v\n%s", err, out)
	}
	return os.ReadFile(filepath.Join(dir, "fake"))
})

// fakeBinary is fakeBuild answering as version, planning fine if planOK.
func fakeBinary(t *testing.T, version string, planOK bool) []byte {
	t.Helper()
	b, err := fakeBuild()
	if err != nil {
		t.Fatalf("cannot build the fake updater: %v", err)
	}
	plan := "no"
	if planOK {
		plan = "yes"
	}
	return append(append([]byte(nil), b...), "\nFAKE:"+version+" "+plan+"\n"...)
}

// releaseHost is a host whose running binary is a fake v0.1.0 that plans
// fine, following releases on a fake GitHub signed with key.
type releaseHost struct {
	*host
	srv *githubtest.Server
	key minisign.PrivateKey
}

func newReleaseHost(t *testing.T) *releaseHost {
	t.Helper()
	h := &releaseHost{host: newHost(t), srv: githubtest.New(t)}
	writeFile(t, h.exe, string(fakeBinary(t, "v0.1.0", true)), 0o755)
	pub, priv, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h.key = priv
	h.cfg.SelfUpdate = config.SelfUpdate{Enabled: true, Repo: "better-paas/updater", PublicKey: pub.String(),
		APIURL: h.srv.APIURL(), Interval: config.Duration{Duration: time.Hour}}
	return h
}

// publish releases bin as version; tamper, when set, changes the files
// after they were signed.
func (h *releaseHost) publish(t *testing.T, version string, bin []byte, tamper func(files map[string][]byte)) {
	t.Helper()
	target := release.Target{OS: runtime.GOOS, Arch: runtime.GOARCH}
	var archive bytes.Buffer
	if err := release.WriteArchive(&archive, release.ArchiveStem(release.Name, version, target),
		[]release.File{{Name: release.Name, Data: bin, Mode: 0o755}}, t0); err != nil {
		t.Fatal(err)
	}
	name := release.ArchiveName(release.Name, version, target)
	sums := signedsums.Sums{name: signedsums.Sum(archive.Bytes())}.Format()
	files := map[string][]byte{name: archive.Bytes(), signedsums.SumsName: sums, signedsums.SigName: signedsums.Sign(h.key, sums, version, t0)}
	if tamper != nil {
		tamper(files)
	}
	h.srv.AddRelease("better-paas", "updater", version, files)
}

// once runs one pass and returns the Restart it handed over with, if any.
func (h *releaseHost) once(t *testing.T) (*Restart, error) {
	t.Helper()
	u := h.updater(t, "v0.1.0", h.exe)
	var got *Restart
	err := u.Once(context.Background(), func(r *Restart) { got = r })
	return got, err
}

// TestOnceHandsOverAVerifiedRelease: a signed release whose binary
// reports its version and plans is staged as .new, the marker written and
// a Restart into .new handed over; the binary is untouched.
func TestOnceHandsOverAVerifiedRelease(t *testing.T) {
	h := newReleaseHost(t)
	newBin := fakeBinary(t, "v0.2.0", true)
	h.publish(t, "v0.2.0", newBin, nil)
	r, err := h.once(t)
	if err != nil || r == nil {
		t.Fatalf("Once = %v %v, want a handover", r, err)
	}
	if r.Path != h.exe+".new" || r.To != "v0.2.0" {
		t.Errorf("restart = %+v", r)
	}
	if !bytes.Equal([]byte(readFile(t, h.exe+".new")), newBin) || readFile(t, h.exe) != string(fakeBinary(t, "v0.1.0", true)) {
		t.Error(".new is not the release's binary, or the binary changed")
	}
	if fi, err := os.Stat(h.exe + ".new"); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf(".new mode: %v %v", fi, err)
	}
	m, ok, err := readMarker(h.marker())
	if err != nil || !ok || m.Phase != PhaseTrial || m.From != "v0.1.0" || m.To != "v0.2.0" || m.Exe != h.exe {
		t.Errorf("marker = %+v %t %v", m, ok, err)
	}
	if st := h.status(t); st.Updater.LastCheck == nil || st.Updater.Version != "v0.1.0" {
		t.Errorf("status = %+v", st.Updater)
	}
	if left, _ := filepath.Glob(filepath.Join(h.state, "self-update", "*", "*")); len(left) != 0 {
		t.Errorf("downloads or unpacked files are left: %v", left)
	}
}

// TestOnceRefusesBadReleases: each release that cannot be trusted or does
// not work is recorded Failed with its reason and leaves nothing beside the
// binary; the next pass does not download it again.
func TestOnceRefusesBadReleases(t *testing.T) {
	target := release.Target{OS: runtime.GOOS, Arch: runtime.GOARCH}
	name := release.ArchiveName(release.Name, "v0.2.0", target)
	tests := []struct {
		name    string
		bin     func(t *testing.T) []byte
		tamper  func(files map[string][]byte)
		reason  string
		message []string
	}{
		{"tampered archive", func(t *testing.T) []byte { return fakeBinary(t, "v0.2.0", true) },
			func(f map[string][]byte) { f[name] = append([]byte(nil), f[name]...); f[name][len(f[name])/2] ^= 1 },
			ReasonUntrusted, []string{name}},
		{"signed by another key", func(t *testing.T) []byte { return fakeBinary(t, "v0.2.0", true) },
			func(f map[string][]byte) {
				_, other, _ := minisign.GenerateKey(rand.Reader)
				f[signedsums.SigName] = signedsums.Sign(other, f[signedsums.SumsName], "v0.2.0", t0)
			}, ReasonUntrusted, []string{name}},
		{"reports another version", func(t *testing.T) []byte { return fakeBinary(t, "v0.1.9", true) }, nil,
			ReasonVersionMismatch, []string{`reports version "v0.1.9"`}},
		{"cannot plan", func(t *testing.T) []byte { return fakeBinary(t, "v0.2.0", false) }, nil,
			ReasonTrialFailed, []string{"exit status 1", "broken build cannot plan", "where the running v0.1.0 succeeds"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newReleaseHost(t)
			h.publish(t, "v0.2.0", tt.bin(t), tt.tamper)
			if r, err := h.once(t); err != nil || r != nil {
				t.Fatalf("Once = %v %v, want a refusal recorded", r, err)
			}
			st := h.status(t)
			rec := st.Updater.LastSelfUpdate
			if rec == nil || rec.Result != status.SelfUpdateFailed || rec.Reason != tt.reason || !st.SelfUpdateFailed("v0.2.0") {
				t.Fatalf("lastSelfUpdate = %+v", rec)
			}
			for _, w := range tt.message {
				if !strings.Contains(rec.Message, w) {
					t.Errorf("message %q does not contain %q", rec.Message, w)
				}
			}
			if exists(h.exe+".new") || exists(h.marker()) {
				t.Error(".new or the marker is left")
			}
			n := len(h.srv.Requests())
			if r, err := h.once(t); err != nil || r != nil {
				t.Fatalf("second Once = %v %v", r, err)
			}
			for _, l := range h.srv.Requests()[n:] {
				if strings.Contains(l, name) || strings.Contains(l, "/objects/") {
					t.Errorf("the failed release was downloaded again: %s", l)
				}
			}
		})
	}
}

// TestOnceRetriesWhatIsNotTheReleasesFault: a release without an archive
// for this platform (uploaded later, maybe) and a trial that fails for
// the running binary too are errors to retry, not failures recorded.
func TestOnceRetriesWhatIsNotTheReleasesFault(t *testing.T) {
	h := newReleaseHost(t)
	h.publish(t, "v0.2.0", fakeBinary(t, "v0.2.0", true), func(f map[string][]byte) {
		for n := range f {
			if strings.HasSuffix(n, ".tar.gz") {
				delete(f, n)
			}
		}
	})
	if _, err := h.once(t); err == nil {
		t.Error("a release without this platform's archive was not an error")
	}
	h = newReleaseHost(t)
	h.publish(t, "v0.2.0", fakeBinary(t, "v0.2.0", false), nil)
	writeFile(t, h.exe, string(fakeBinary(t, "v0.1.0", false)), 0o755) // the running one cannot plan either
	_, err := h.once(t)
	if err == nil || !strings.Contains(err.Error(), "inconclusive") {
		t.Errorf("a trial failing for both binaries: %v", err)
	}
	if st := h.status(t); st.SelfUpdateFailed("v0.2.0") || st.Updater.LastSelfUpdate != nil {
		t.Errorf("recorded as failed: %+v", st.Updater)
	}
	if exists(h.exe + ".new") {
		t.Error(".new is left")
	}
}

// TestOnceWaitsForAnUpdateOfTheApp: while status.yaml shows an operation
// in flight nothing is downloaded or handed over.
func TestOnceWaitsForAnUpdateOfTheApp(t *testing.T) {
	h := newReleaseHost(t)
	h.publish(t, "v0.2.0", fakeBinary(t, "v0.2.0", true), nil)
	st := status.New()
	st.Operation = &status.Operation{ID: "op", Step: "build", Phase: status.PhaseDo, StartedAt: t0}
	if err := status.Save(filepath.Join(h.state, "status.yaml"), st); err != nil {
		t.Fatal(err)
	}
	if r, err := h.once(t); !errors.Is(err, ErrBusy) || r != nil {
		t.Fatalf("Once = %v %v, want ErrBusy", r, err)
	}
	if n := len(h.srv.Requests()); n != 0 || exists(h.marker()) || exists(h.exe+".new") {
		t.Errorf("self-update acted during an app update: %d requests", n)
	}
}

// TestInstallWithoutADaemon: `self-update` installs the verified release
// over the binary at once, keeping the old one as .bak.
func TestInstallWithoutADaemon(t *testing.T) {
	h := newReleaseHost(t)
	old := readFile(t, h.exe)
	newBin := fakeBinary(t, "v0.2.0", true)
	h.publish(t, "v0.2.0", newBin, nil)
	v, err := h.updater(t, "v0.1.0", h.exe).Install(context.Background())
	if err != nil || v != "v0.2.0" {
		t.Fatalf("Install = %q %v", v, err)
	}
	if readFile(t, h.exe) != string(newBin) || readFile(t, h.exe+".bak") != old || exists(h.exe+".new") {
		t.Error("the binary was not replaced, or .bak is not the old one")
	}
	if st := h.status(t); st.Updater.Version != "v0.2.0" || st.Updater.PreviousVersion != "v0.1.0" {
		t.Errorf("status = %+v", st.Updater)
	}
}

// TestAbandonPutsTheOldUpdaterBack: a new updater on trial that stops on
// an error of its own execs the old one at once; a stop signal, or an
// updater not on trial, changes nothing.
func TestAbandonPutsTheOldUpdaterBack(t *testing.T) {
	h := newHost(t)
	h.handOver(t, PhaseTrial, 0)
	u := h.updater(t, "v0.2.0", h.exe+".new")
	ctx := context.Background()
	if err := u.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	if err := u.Abandon(stopped, context.Canceled); !errors.Is(err, context.Canceled) || !exists(h.marker()) {
		t.Fatalf("a stop signal: %v, marker kept %t", err, exists(h.marker()))
	}
	err := u.Abandon(ctx, errors.New("cannot listen on 127.0.0.1:8079: address in use"))
	r, ok := AsRestart(err)
	if !ok || r.Path != h.exe {
		t.Fatalf("Abandon = %v, want a Restart into %s", err, h.exe)
	}
	if exists(h.marker()) || exists(h.exe+".new") || readFile(t, h.exe) != "old binary" {
		t.Error("the trial was not undone")
	}
	rec := h.status(t).Updater.LastSelfUpdate
	if rec.Result != status.SelfUpdateRolledBack || rec.Reason != ReasonExited || !strings.Contains(rec.Message, "address in use") {
		t.Errorf("lastSelfUpdate = %+v", rec)
	}
	other := errors.New("other")
	if err := u.Abandon(ctx, other); err != other {
		t.Errorf("after the trial: %v", err)
	}
}
