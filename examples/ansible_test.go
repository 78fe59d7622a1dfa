package examples_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// TestAnsibleRole runs examples/ansible/site.yml for real with Debian's
// ansible-playbook against localhost, where a real updater daemon keeps a
// sandbox install of the example app: the play pins v1.0.0 and waits for
// it, moves the host to v1.1.0 (changed, then Ready), runs again
// (changed=0), previews v1.2.0 in check mode (reports the change, writes
// nothing), is refused a malformed version by `validate` (in check mode
// and for real), pins v1.2.0 under a hold a day ahead (the play reports
// Held and succeeds at once; the host stays on v1.1.0; a rerun changes
// nothing), then pins v1.2.0 without the hold,
// which fails its health check: the daemon rolls it back and the play
// fails, naming the rollback, on that run and on a rerun (changed=0).
func TestAnsibleRole(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: ansible-playbook against a real daemon and real builds of the example app; run make test")
	}
	playbook, err := exec.LookPath("ansible-playbook")
	if err != nil {
		t.Fatal("ansible-playbook is missing: run scripts/ensure-deps.sh (make deps), which installs Debian's ansible-core")
	}
	h := startAnsibleHost(t)
	began := time.Now()

	run := h.play(t, playbook, "v1.0.0")
	run.want(t, 1, 0)
	h.statusIs(t, "v1.0.0")

	run = h.play(t, playbook, "v1.1.0")
	run.want(t, 1, 0)
	st := h.statusIs(t, "v1.1.0")
	// The role waits on the digest it computes of the spec it writes; it
	// must be the one the updater records (spec.DesiredVersion.Digest), or
	// the role only gets by on its observedGeneration fallback.
	d, err := spec.Load(h.desired)
	if err != nil {
		t.Fatal(err)
	}
	if st.ObservedSpecDigest != d.Digest() {
		t.Fatalf("status observedSpecDigest %s, desired.yaml's digest %s", st.ObservedSpecDigest, d.Digest())
	}
	if want := "spec digest " + d.Digest(); !strings.Contains(run.out, want) {
		t.Errorf("the role's digest differs from the updater's: its output lacks %q:\n%s", want, run.out)
	}
	written, err := os.ReadFile(h.desired)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(h.desired); err != nil {
		t.Fatal(err)
	} else if fi.Mode().Perm() != 0o644 {
		t.Errorf("desired.yaml has mode %v, want 0644 (better_paas_desired_mode)", fi.Mode().Perm())
	}

	run = h.play(t, playbook, "v1.1.0")
	run.want(t, 0, 0)
	h.unchanged(t, written, st)

	run = h.play(t, playbook, "v1.2.0", "--check", "--diff")
	run.want(t, 1, 0)
	if !strings.Contains(run.out, `+  version: "v1.2.0"`) || !strings.Contains(run.out, "skipping: [localhost]") {
		t.Errorf("--check --diff does not show the new version, or does not skip the wait:\n%s", run.out)
	}
	h.unchanged(t, written, st)

	// A malformed version: validate refuses it, in check mode (where the
	// role runs it, as template skips its validate) and for real.
	for _, args := range [][]string{{"--check"}, nil} {
		run = h.play(t, playbook, "v1.2", args...)
		run.want(t, 0, 1)
		if !strings.Contains(run.out, "cannot load") || !strings.Contains(run.out, `is a shorthand; write the full tag`) {
			t.Errorf("v1.2 %v: the output does not show validate refusing it:\n%s", args, run.out)
		}
		h.unchanged(t, written, st)
	}

	// A hold in the future (with the other policy fields, so the digest
	// the role computes covers them all): the daemon acts on the spec and
	// holds v1.2.0 back, and the play reports that and succeeds instead of
	// waiting out better_paas_wait_timeout; its rerun changes nothing.
	held := h.holdRuns(t, playbook, st)

	var failedGeneration int64
	for i, changed := range []int{1, 0} { // the failing run, then its rerun
		run = h.play(t, playbook, "v1.2.0")
		run.want(t, changed, 1)
		if i == 0 { // the run without better_paas_hold took the hold out
			if d, err := spec.Load(h.desired); err != nil {
				t.Fatal(err)
			} else if d.Spec.Hold != nil || d.Spec.Windows != nil || d.Spec.MinReleaseAge.Duration != 0 {
				t.Errorf("desired.yaml keeps the policy the previous run wrote: %+v", d.Spec)
			}
			if st := h.status(t); st.ObservedGeneration == held.ObservedGeneration || st.Policy != nil {
				t.Errorf("the daemon did not act on the spec without the hold: generation %d (held at %d), policy %+v",
					st.ObservedGeneration, held.ObservedGeneration, st.Policy)
			}
		}
		for _, want := range []string{"rolled back v1.2.0", "HealthCheckFailed", "The host runs v1.1.0"} {
			if !strings.Contains(run.out, want) {
				t.Errorf("run %d of v1.2.0: the output lacks %q:\n%s", i+1, want, run.out)
			}
		}
		st = h.status(t)
		f, failed := st.Failure("v1.2.0")
		if st.CurrentVersion != "v1.1.0" || st.IsTrue(status.TypeReady) || !st.IsTrue(status.TypeStalled) || !failed ||
			len(st.History) == 0 || st.History[0].Result != status.ResultRolledBack || st.History[0].To != "v1.2.0" || f.Generation != st.ObservedGeneration {
			t.Fatalf("run %d of v1.2.0: status %+v", i+1, st)
		}
		if i == 0 {
			failedGeneration = st.ObservedGeneration
		} else if st.ObservedGeneration != failedGeneration {
			t.Errorf("the rerun moved the generation from %d to %d: the daemon would try v1.2.0 again", failedGeneration, st.ObservedGeneration)
		}
	}
	t.Logf("the ten plays took %s", time.Since(began).Round(time.Millisecond))
}

// holdRuns pins v1.2.0 with better_paas_hold a day ahead (in a zone the
// role must convert to UTC, with a reason Go's JSON escapes), a window and
// a minReleaseAge, twice, on a host that runs v1.1.0 (status before): both
// plays succeed reporting Held, desired.yaml holds the policy, the host
// stays on v1.1.0, and the second play changes nothing. It returns the
// status after them.
func (h *ansibleHost) holdRuns(t *testing.T, playbook string, before *status.VersionStatus) *status.VersionStatus {
	t.Helper()
	until := time.Now().Add(24 * time.Hour).UTC().Truncate(time.Second)
	policy := fmt.Sprintf(`{"better_paas_hold": {"until": %q, "reason": "R&D <freeze>"}, `+
		`"better_paas_windows": [{"schedule": "0 3 * * *", "duration": "1h30m", "timeZone": "Europe/Berlin"}], `+
		`"better_paas_min_release_age": "72h"}`, until.In(time.FixedZone("", 2*3600)).Format(time.RFC3339))
	wantOut := "held back: Held until " + until.Format(time.RFC3339) + ": spec.hold holds the update to v1.2.0 back"
	var written []byte
	var st, first *status.VersionStatus
	for i, changed := range []int{1, 0} {
		run := h.play(t, playbook, "v1.2.0", "-e", policy)
		run.want(t, changed, 0)
		if !strings.Contains(run.out, wantOut) || !strings.Contains(run.out, "(R&D <freeze>)") {
			t.Errorf("hold run %d: the output lacks %q and the reason:\n%s", i+1, wantOut, run.out)
		}
		d, err := spec.Load(h.desired)
		if err != nil {
			t.Fatal(err)
		}
		if hd := d.Spec.Hold; hd == nil || !hd.Until.Equal(until) || hd.Reason != "R&D <freeze>" ||
			len(d.Spec.Windows) != 1 || d.Spec.Windows[0].Duration.Duration != 90*time.Minute || d.Spec.Windows[0].TimeZone != "Europe/Berlin" ||
			d.Spec.MinReleaseAge.Duration != 72*time.Hour {
			t.Fatalf("hold run %d: desired.yaml's spec is %+v, want the hold until %s, the window and minReleaseAge", i+1, d.Spec, until)
		}
		st = h.status(t)
		if p := st.Policy; p == nil || p.Reason != "Held" || p.Until == nil || !p.Until.Equal(until) {
			t.Fatalf("hold run %d: status.policy %+v, want Held until %s", i+1, p, until)
		}
		if st.CurrentVersion != "v1.1.0" || st.Operation != nil || len(st.History) != len(before.History) {
			t.Fatalf("hold run %d: the host moved: running %q, operation %+v, %d history entries (was %d)",
				i+1, st.CurrentVersion, st.Operation, len(st.History), len(before.History))
		}
		// The role decided on its own digest of the spec, policy included.
		if st.ObservedSpecDigest != d.Digest() || !strings.Contains(run.out, "spec digest "+d.Digest()) {
			t.Errorf("hold run %d: status observedSpecDigest %s, desired.yaml's digest %s; the role's output:\n%s",
				i+1, st.ObservedSpecDigest, d.Digest(), run.out)
		}
		if i == 0 {
			if written, err = os.ReadFile(h.desired); err != nil {
				t.Fatal(err)
			}
			first = st
			continue
		}
		h.unchanged(t, written, first) // the same bytes, the same generation
	}
	return st
}

// ansibleHost is a sandbox install of the example app with its updater
// daemon running, and an inventory naming it as localhost.
type ansibleHost struct {
	cfg        *config.Config
	desired    string
	inventory  string
	ansibleEnv []string
}

func startAnsibleHost(t *testing.T) *ansibleHost {
	t.Helper()
	bin, err := sandbox.UpdaterBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(dir, "origin.git"), sandbox.DefaultReleases())
	if err != nil {
		t.Fatal(err)
	}
	install := filepath.Join(dir, "install")
	if err := sandbox.Clone(ctx, origin, install, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	raw, err := sandbox.ConfigWith(dir, install, freeLoopbackPort(t), sandbox.Options{
		Timings:     sandbox.Timings{Interval: 100 * time.Millisecond, Deadline: 3 * time.Second, SuccessThreshold: 2},
		ShareBuilds: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "updater.yaml")
	if err := os.WriteFile(cfgPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	h := &ansibleHost{cfg: cfg, desired: cfg.DesiredFile}

	// The daemon starts with no desired.yaml: the play writes the first one.
	logPath := filepath.Join(dir, "daemon.log")
	d, err := sandbox.StartDaemon(bin, logPath, nil, "run", "--config", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(30 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			if out, err := os.ReadFile(logPath); err == nil {
				t.Logf("daemon log:\n%s", out)
			}
		}
		// The app runs in a session of its own and outlives the daemon.
		l := layout.New(cfg)
		svc, err := service.NewExec(service.ExecConfig{Command: cfg.Service.Exec.Command, Dir: cfg.InstallDir, Env: cfg.Service.Exec.Env,
			PIDFile: l.PIDFile, LogFile: l.ServiceLog, StopTimeout: cfg.Service.StopTimeout.Duration})
		if err == nil {
			err = svc.Stop(context.Background())
		}
		if err != nil {
			t.Errorf("cannot stop the app: %v", err)
		}
	})

	// The inventory a user would write for this host: its paths as host
	// variables; the version comes from -e on each run.
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Fatal(err)
	}
	python, err := exec.LookPath("python3") // ansible-core's own interpreter on Debian
	if err != nil {
		t.Fatal(err)
	}
	h.inventory = filepath.Join(dir, "inventory.ini")
	inv := fmt.Sprintf(`[better_paas]
localhost ansible_connection=local ansible_python_interpreter=%s ansible_pipelining=true ansible_become=false

[better_paas:vars]
better_paas_updater_binary=%s
better_paas_updater_config=%s
better_paas_desired_file=%s
better_paas_desired_owner=%s
better_paas_desired_group=%s
better_paas_poll_interval=1
better_paas_wait_timeout=120
`, python, bin, cfgPath, cfg.DesiredFile, u.Username, g.Name)
	if err := os.WriteFile(h.inventory, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	// Ansible's own files in the test's folder, plain output whatever the
	// user's ansible.cfg says.
	ansibleHome := filepath.Join(dir, "ansible-home")
	ansibleCfg := filepath.Join(dir, "ansible.cfg")
	if err := os.WriteFile(ansibleCfg, []byte("[defaults]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.ansibleEnv = append(os.Environ(),
		"ANSIBLE_CONFIG="+ansibleCfg,
		"ANSIBLE_HOME="+ansibleHome,
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(ansibleHome, "tmp"),
		"ANSIBLE_REMOTE_TEMP="+filepath.Join(ansibleHome, "tmp"),
		"ANSIBLE_NOCOLOR=1",
		"ANSIBLE_STDOUT_CALLBACK=default",
		"ANSIBLE_RETRY_FILES_ENABLED=0",
	)
	return h
}

// playRun is one ansible-playbook run: its output and its PLAY RECAP.
type playRun struct {
	out             string
	changed, failed int
}

var recapLine = regexp.MustCompile(`(?m)^localhost\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=(\d+)`)

// play runs site.yml pinning version, with extra arguments.
func (h *ansibleHost) play(t *testing.T, playbook, version string, args ...string) playRun {
	t.Helper()
	argv := append([]string{"-i", h.inventory, "site.yml", "-e", "better_paas_version=" + version}, args...)
	cmd := exec.Command(playbook, argv...)
	cmd.Dir = "ansible"
	cmd.Env = h.ansibleEnv
	began := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("ansible-playbook %s: %s (%v)", strings.Join(argv[3:], " "), time.Since(began).Round(time.Millisecond), err)
	m := recapLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("ansible-playbook %s printed no PLAY RECAP for localhost (%v):\n%s", strings.Join(argv, " "), err, out)
	}
	r := playRun{out: string(out)}
	r.changed, _ = strconv.Atoi(string(m[1]))
	r.failed, _ = strconv.Atoi(string(m[2]))
	if (err != nil) != (r.failed > 0) {
		t.Errorf("ansible-playbook exited %v with failed=%d", err, r.failed)
	}
	return r
}

// want checks the run's recap.
func (r playRun) want(t *testing.T, changed, failed int) {
	t.Helper()
	if r.changed != changed || r.failed != failed {
		t.Fatalf("PLAY RECAP changed=%d failed=%d, want changed=%d failed=%d:\n%s", r.changed, r.failed, changed, failed, r.out)
	}
}

func (h *ansibleHost) status(t *testing.T) *status.VersionStatus {
	t.Helper()
	st, err := status.Load(layout.New(h.cfg).Status)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// statusIs checks that the host runs version, Ready, with desired.yaml
// asking for it: when the play ended, the update was done.
func (h *ansibleHost) statusIs(t *testing.T, version string) *status.VersionStatus {
	t.Helper()
	st := h.status(t)
	if st.CurrentVersion != version || st.DesiredVersion != version || !st.IsTrue(status.TypeReady) || st.Operation != nil {
		t.Fatalf("status after the play: current %q desired %q Ready %v operation %+v; want %s Ready, idle",
			st.CurrentVersion, st.DesiredVersion, st.IsTrue(status.TypeReady), st.Operation, version)
	}
	return st
}

// unchanged checks that desired.yaml still holds written and that the
// daemon saw no new spec since st.
func (h *ansibleHost) unchanged(t *testing.T, written []byte, st *status.VersionStatus) {
	t.Helper()
	now, err := os.ReadFile(h.desired)
	if err != nil {
		t.Fatal(err)
	}
	if string(now) != string(written) {
		t.Fatalf("desired.yaml changed:\n%s\nwas:\n%s", now, written)
	}
	if after := h.status(t); after.ObservedGeneration != st.ObservedGeneration || after.CurrentVersion != st.CurrentVersion {
		t.Fatalf("status moved: generation %d -> %d, running %s -> %s",
			st.ObservedGeneration, after.ObservedGeneration, st.CurrentVersion, after.CurrentVersion)
	}
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
