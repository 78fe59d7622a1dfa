package fleet_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"aead.dev/minisign"

	"github.com/better-paas/updater/internal/fleet"
	"github.com/better-paas/updater/internal/github/githubtest"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// The GitHub repository the fleet's app releases are published under.
const (
	appOwner = "better-paas"
	appRepo  = "example"
)

// fleetRepoName is the fleet repo's folder under the git server's root.
const fleetRepoName = "fleet.git"

// appReleases is the example app's history as its release pipeline
// builds it, once per test process: v1.0.0, v1.1.0 (good), v1.2.0 (its
// health answers 503) and v1.2.1 (fixes v1.2.0), packed as signed
// prebuilt assets, so the hosts need no toolchain.
type appReleases struct {
	origin string
	pub    string // minisign public key line, prebuilt.publicKey
	assets map[string]map[string][]byte
}

var appReleaseTags = []string{"v1.0.0", "v1.1.0", "v1.2.0", "v1.2.1"}

func buildAppReleases(tb testing.TB) *appReleases {
	tb.Helper()
	ctx := context.Background()
	pub, key, err := minisign.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	text, err := pub.MarshalText()
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(text)), "\n")
	origin, err := sandbox.NewOrigin(ctx, filepath.Join(tb.TempDir(), "origin.git"),
		append(sandbox.DefaultReleases(), sandbox.HealthyAfter("v1.2.1")))
	if err != nil {
		tb.Fatal(err)
	}
	r := &appReleases{origin: origin, pub: lines[len(lines)-1], assets: map[string]map[string][]byte{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, len(appReleaseTags))
	for i, tag := range appReleaseTags {
		wg.Go(func() {
			b, err := sandbox.BuildRelease(ctx, origin, tag)
			if err != nil {
				errs[i] = err
				return
			}
			a, err := b.QuickAssets(key) // gzip's best level is slow under -race
			if err != nil {
				errs[i] = err
				return
			}
			mu.Lock()
			r.assets[tag] = a
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			tb.Fatal(err)
		}
	}
	return r
}

// realFleet is a sandbox.Fleet with what drives it: the fleet repo, the
// git server it is fetched from, and the fake GitHub the app's releases
// are published on.
type realFleet struct {
	*sandbox.Fleet
	repo *sandbox.FleetRepo
	git  *sandbox.GitServer
	gh   *githubtest.Server
	rel  *appReleases
}

type fleetSetup struct {
	hosts     int
	published []string // releases on GitHub from the start
}

func startRealFleet(tb testing.TB, rel *appReleases, s fleetSetup) *realFleet {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	f := &realFleet{gh: githubtest.New(tb), rel: rel}
	for _, tag := range s.published {
		f.publish(tag)
	}
	var err error
	if f.repo, err = sandbox.NewFleetRepo(ctx, filepath.Join(dir, "git", fleetRepoName)); err != nil {
		tb.Fatal(err)
	}
	if f.git, err = sandbox.NewGitServer(filepath.Join(dir, "git")); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.git.Close() })
	bin, err := sandbox.UpdaterBinary()
	if err != nil {
		tb.Fatal(err)
	}
	env, err := sandbox.ToolchainFreeEnv(dir, appOwner+"/"+appRepo)
	if err != nil {
		tb.Fatal(err)
	}
	hostsDir := filepath.Join(dir, "hosts")
	f.Fleet, err = sandbox.StartFleet(ctx, sandbox.FleetOptions{
		Dir: hostsDir, Hosts: s.hosts, Origin: rel.origin, Tag: "v1.0.0", Bin: bin, Env: env,
		Config: sandbox.Options{
			// A healthy release passes in 2 answers 100 ms apart; v1.2.0's
			// 503s fail the gate after 3 (health.failureThreshold). The
			// deadline leaves a loaded machine room to start 100 apps.
			Timings: sandbox.Timings{Interval: 100 * time.Millisecond, Deadline: 20 * time.Second, SuccessThreshold: 2},
			// Releases are published as the test goes.
			Prebuilt: &sandbox.PrebuiltSource{APIURL: f.gh.APIURL(), PublicKey: rel.pub, CacheTTL: time.Millisecond},
		},
		Git: f.git, Repo: fleetRepoName,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := f.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return f
}

// publish publishes a built release on the fake GitHub.
func (f *realFleet) publish(tag string) {
	f.gh.AddRelease(appOwner, appRepo, tag, f.rel.assets[tag])
}

// push commits the fleet file fleet/desired.yaml and sends every host
// the webhook, as a git host would after the push. It fails tb when a
// host gives another HTTP status than code.
func (f *realFleet) push(tb testing.TB, message, file string, code int) (string, []sandbox.WebhookResult) {
	tb.Helper()
	commit, err := f.repo.Commit(context.Background(), message, map[string]string{"fleet/desired.yaml": file})
	if err != nil {
		tb.Fatal(err)
	}
	return commit, f.webhook(tb, code)
}

// webhook sends every host the webhook and checks each answered code.
func (f *realFleet) webhook(tb testing.TB, code int) []sandbox.WebhookResult {
	tb.Helper()
	res := f.Webhook(context.Background())
	for _, r := range res {
		if r.Err != nil || r.Code != code {
			tb.Fatalf("%s: webhook answered %d (%v), want %d: %s; %+v", r.Host.Name, r.Code, r.Err, code, r.Error, r.Fleet)
		}
	}
	return res
}

// fleetFile is a FleetDesiredVersion fleet file.
func fleetFile(version string, percent int, pauseOnFailure bool, canaries ...string) string {
	s := "apiVersion: updates.better-paas.io/v1\nkind: FleetDesiredVersion\nspec:\n  version: " + version +
		fmt.Sprintf("\nrollout:\n  percent: %d\n", percent)
	if len(canaries) > 0 {
		s += "  canaries: [" + strings.Join(canaries, ", ") + "]\n"
	}
	if pauseOnFailure {
		s += "  pauseOnFailure: true\n"
	}
	return s
}

// plainFile is a fleet file of kind DesiredVersion: every host takes it.
func plainFile(version string, allowDowngrade bool) string {
	s := "apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: " + version + "\n"
	if allowDowngrade {
		s += "  allowDowngrade: true\n"
	}
	return s
}

// cohortOf is a host's cohort computed here, independently of
// fleet.Cohort: the first 8 bytes of SHA-256(hostID), big-endian, mod 100.
func cohortOf(hostID string) int {
	sum := sha256.Sum256([]byte(hostID))
	return int(binary.BigEndian.Uint64(sum[:8]) % 100)
}

// hostState is what must not change on a host the fleet leaves alone.
type hostState struct {
	pid     int
	serving string
	desired []byte
}

func observe(t *testing.T, hosts []*sandbox.FleetHost) map[string]hostState {
	t.Helper()
	out := map[string]hostState{}
	for _, h := range hosts {
		pid, err := h.AppPID(context.Background())
		if err != nil || pid == 0 {
			t.Fatalf("%s: no app running (%v)", h.Name, err)
		}
		obs, err := h.Serving(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		d, err := h.Desired()
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = hostState{pid: pid, serving: obs.Version, desired: d}
	}
	return out
}

// untouched asserts hosts run, serve and are asked for what before says.
func untouched(t *testing.T, before map[string]hostState, hosts []*sandbox.FleetHost) {
	t.Helper()
	now := observe(t, hosts)
	for _, h := range hosts {
		b, a := before[h.Name], now[h.Name]
		if a.pid != b.pid || a.serving != b.serving || !bytes.Equal(a.desired, b.desired) {
			t.Errorf("%s changed: app PID %d → %d, serving %s → %s, desired.yaml changed: %v", h.Name, b.pid, a.pid, b.serving, a.serving, !bytes.Equal(a.desired, b.desired))
		}
	}
}

// serving asserts every host of hosts serves version on its own port.
func serving(t *testing.T, hosts []*sandbox.FleetHost, version string) {
	t.Helper()
	ports := map[int]string{}
	for _, h := range hosts {
		obs, err := h.Serving(context.Background())
		if err != nil || obs.Version != version {
			t.Errorf("%s: serves %+v (%v), want %s", h.Name, obs, err, version)
		}
		if other, dup := ports[h.AppPort]; dup {
			t.Errorf("%s and %s share app port %d", h.Name, other, h.AppPort)
		}
		ports[h.AppPort] = h.Name
	}
}

func names(hosts []*sandbox.FleetHost) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, h.Name)
	}
	return out
}

// split returns the hosts for which in is true, and the others.
func split(hosts []*sandbox.FleetHost, in func(*sandbox.FleetHost) bool) (yes, no []*sandbox.FleetHost) {
	for _, h := range hosts {
		if in(h) {
			yes = append(yes, h)
		} else {
			no = append(no, h)
		}
	}
	return yes, no
}

// results asserts each host's webhook answer had result, with reason
// when reason is not "".
func results(t *testing.T, res []sandbox.WebhookResult, hosts []*sandbox.FleetHost, result status.FleetResult, reason string) {
	t.Helper()
	want := map[string]bool{}
	for _, h := range hosts {
		want[h.Name] = true
	}
	for _, r := range res {
		if want[r.Host.Name] && (r.Fleet.Result != result || reason != "" && r.Fleet.Reason != reason) {
			t.Errorf("%s: fleet sync %s %s (%s), want %s %s", r.Host.Name, r.Fleet.Result, r.Fleet.Reason, r.Fleet.Message, result, reason)
		}
	}
}

// TestFleetOfRealHosts: 20 hosts on this machine, each its own install,
// data, state, desired.yaml, app port, API and `better-paas-updater run`
// daemon, follow one fleet repo served over git's smart HTTP; every
// commit reaches them by the webhook. They install prebuilt releases
// from a fake GitHub, so no host needs a toolchain. A rollout moves the
// canaries first, then exactly the hosts whose cohort is under the
// percentage; a bad release rolls back on the hosts that tried it and
// pauses them; an unreachable repo or an invalid file changes nothing.
func TestFleetOfRealHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: 20 daemons and apps; run make test")
	}
	const hosts = 20
	began := time.Now()
	phase := time.Now()
	lap := func(what string) {
		t.Logf("%-44s %6.1fs (total %5.1fs)", what, time.Since(phase).Seconds(), time.Since(began).Seconds())
		phase = time.Now()
	}
	rel := buildAppReleases(t)
	lap("build the releases")
	f := startRealFleet(t, rel, fleetSetup{hosts: hosts, published: []string{"v1.0.0", "v1.1.0"}})
	lap(fmt.Sprintf("start %d hosts", hosts))
	ctx := context.Background()
	const long = 3 * time.Minute

	// The wave, worked out here and by fleet.Cohort: the same answer.
	cohort := map[string]int{}
	for _, h := range f.Hosts {
		cohort[h.Name] = cohortOf(h.HostID)
		if c := fleet.Cohort(h.HostID); c != cohort[h.Name] {
			t.Fatalf("%s: fleet.Cohort(%q) = %d, computed %d", h.Name, h.HostID, c, cohort[h.Name])
		}
	}
	// Two canaries outside the 25% cohort, so the wave's growth shows.
	var canaries []string
	for _, h := range f.Hosts {
		if cohort[h.Name] >= 25 && len(canaries) < 2 {
			canaries = append(canaries, h.Name)
		}
	}
	isCanary := func(h *sandbox.FleetHost) bool { return slices.Contains(canaries, h.Name) }
	quarter, _ := split(f.Hosts, func(h *sandbox.FleetHost) bool { return cohort[h.Name] < 25 })
	wave, rest := split(f.Hosts, func(h *sandbox.FleetHost) bool { return cohort[h.Name] < 25 || isCanary(h) })
	if n := len(quarter); n < hosts/10 || n > hosts/2 {
		t.Fatalf("%d of %d hosts have a cohort under 25 (%v): not about a quarter", n, hosts, names(quarter))
	}
	t.Logf("canaries %v; cohort < 25: %v; wave at 25%%: %d hosts", canaries, names(quarter), len(wave))

	var before map[string]hostState
	ok := t.Run("1 every host installs v1.0.0", func(t *testing.T) {
		res := f.webhook(t, http.StatusUnprocessableEntity) // nothing pushed yet: no branch
		results(t, res, f.Hosts, status.FleetRefused, fleet.ReasonBranchMissing)
		_, res = f.push(t, "pin the fleet to v1.0.0", plainFile("v1.0.0", false), http.StatusAccepted)
		results(t, res, f.Hosts, status.FleetApplied, fleet.ReasonInWave)
		if err := f.Wait(ctx, long, "Ready on v1.0.0", nil, sandbox.ReadyOn("v1.0.0")); err != nil {
			t.Fatal(err)
		}
		serving(t, f.Hosts, "v1.0.0")
		for _, h := range f.Hosts {
			if st, _ := h.Status(); st.Fleet == nil || st.Fleet.Cohort != cohort[h.Name] || st.Fleet.Applied == nil || st.Fleet.Applied.Version != "v1.0.0" {
				t.Errorf("%s: status.fleet = %s, want cohort %d and v1.0.0 applied", h.Name, sandbox.Summary(st), cohort[h.Name])
			}
		}
		before = observe(t, f.Hosts)
		lap("1: all hosts install v1.0.0")
	})

	ok = ok && t.Run("2 percent 0 moves the canaries only", func(t *testing.T) {
		movers, stay := split(f.Hosts, isCanary)
		_, res := f.push(t, "v1.1.0 to the canaries", fleetFile("v1.1.0", 0, false, canaries...), http.StatusAccepted)
		results(t, res, movers, status.FleetApplied, fleet.ReasonCanary)
		results(t, res, stay, status.FleetOutsideWave, "")
		if err := f.Wait(ctx, long, "the canaries are Ready on v1.1.0", movers, sandbox.ReadyOn("v1.1.0")); err != nil {
			t.Fatal(err)
		}
		serving(t, movers, "v1.1.0")
		untouched(t, before, stay)
		if err := f.Wait(ctx, 10*time.Second, "status.fleet says OutsideWave", stay, func(h *sandbox.FleetHost, st *status.VersionStatus) bool {
			return st.Fleet != nil && st.Fleet.Result == status.FleetOutsideWave && st.Fleet.Cohort == cohort[h.Name] && st.CurrentVersion == "v1.0.0"
		}); err != nil {
			t.Error(err)
		}
		lap("2: percent 0, the canaries move")
	})

	ok = ok && t.Run("3 percent 25 moves the quarter and the canaries", func(t *testing.T) {
		before = observe(t, f.Hosts)
		_, res := f.push(t, "v1.1.0 to 25%", fleetFile("v1.1.0", 25, false, canaries...), http.StatusAccepted)
		results(t, res, quarter, status.FleetApplied, fleet.ReasonInWave)
		canaryHosts, _ := split(f.Hosts, isCanary)
		results(t, res, canaryHosts, status.FleetUnchanged, fleet.ReasonCanary)
		results(t, res, rest, status.FleetOutsideWave, "")
		if err := f.Wait(ctx, long, "the wave is Ready on v1.1.0", wave, sandbox.ReadyOn("v1.1.0")); err != nil {
			t.Fatal(err)
		}
		serving(t, wave, "v1.1.0")
		untouched(t, before, rest)
		untouched(t, before, canaryHosts) // already there: not restarted
		lap("3: percent 25, the quarter moves")
	})

	ok = ok && t.Run("4 percent 100 converges the fleet", func(t *testing.T) {
		before = observe(t, wave)
		_, res := f.push(t, "v1.1.0 to everyone", fleetFile("v1.1.0", 100, false, canaries...), http.StatusAccepted)
		results(t, res, rest, status.FleetApplied, fleet.ReasonInWave)
		if err := f.Wait(ctx, long, "every host is Ready on v1.1.0", nil, sandbox.ReadyOn("v1.1.0")); err != nil {
			t.Fatal(err)
		}
		serving(t, f.Hosts, "v1.1.0")
		untouched(t, before, wave)
		lap("4: percent 100, all on v1.1.0")
	})

	ok = ok && t.Run("5 a bad release rolls back and pauses the hosts that tried it", func(t *testing.T) {
		before = observe(t, f.Hosts)
		f.publish("v1.2.0")
		_, res := f.push(t, "latest (v1.2.0) to 25%, pause on failure", fleetFile("latest", 25, true, canaries...), http.StatusAccepted)
		results(t, res, wave, status.FleetApplied, "")
		results(t, res, rest, status.FleetOutsideWave, "")
		if err := f.Wait(ctx, long, "v1.2.0 failed, rolled back and paused", wave, func(_ *sandbox.FleetHost, st *status.VersionStatus) bool {
			_, failed := st.Failure("v1.2.0")
			return failed && st.CurrentVersion == "v1.1.0" && st.Operation == nil && st.Fleet != nil && st.Fleet.Paused != nil
		}); err != nil {
			t.Fatal(err)
		}
		serving(t, wave, "v1.1.0")
		for _, h := range wave {
			st, err := h.Status()
			if err != nil {
				t.Fatal(err)
			}
			if fv, _ := st.Failure("v1.2.0"); fv.Reason != reconciler.ReasonHealthCheckFailed {
				t.Errorf("%s: v1.2.0 failed with %s, want %s", h.Name, fv.Reason, reconciler.ReasonHealthCheckFailed)
			}
			if p := st.Fleet.Paused; p.Version != "v1.2.0" || !strings.Contains(p.Message, "fleet/desired.yaml") {
				t.Errorf("%s: paused %+v, want v1.2.0 and the fleet file named", h.Name, p)
			}
			api, err := h.APIStatus(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if api.Fleet == nil || api.Fleet.Paused == nil || api.Fleet.Paused.Version != "v1.2.0" {
				t.Errorf("%s: GET /api/v1/status does not show the pause: %s", h.Name, sandbox.Summary(api))
			}
		}
		untouched(t, before, rest)
		for _, h := range rest {
			st, err := h.Status()
			if err != nil {
				t.Fatal(err)
			}
			if len(st.FailedVersions) > 0 || st.Fleet == nil || st.Fleet.Paused != nil || st.Fleet.Result != status.FleetOutsideWave {
				t.Errorf("%s: the wave's failure reached a host outside it: %s", h.Name, sandbox.Summary(st))
			}
		}
		lap("5: v1.2.0 rolls back, the wave pauses")
	})

	ok = ok && t.Run("6 a paused host takes no newer release until the fleet file changes", func(t *testing.T) {
		before = observe(t, f.Hosts)
		f.publish("v1.2.1")
		// A re-sync of the same commit (a push of another file, say)
		// wakes every loop: the paused hosts' reconcilers see latest move
		// (releases.cacheTTL 1ms) and hold it back. resyncInterval is the
		// default 5m, so nothing else wakes them.
		res := f.webhook(t, http.StatusAccepted)
		results(t, res, wave, status.FleetPaused, fleet.ReasonPaused)
		results(t, res, rest, status.FleetOutsideWave, "")
		if err := f.Wait(ctx, long, "v1.2.1 is held back by the pause", wave, func(_ *sandbox.FleetHost, st *status.VersionStatus) bool {
			return st.Policy != nil && st.Policy.Reason == reconciler.ReasonRolloutPaused && st.Policy.Version == "v1.2.1" && st.CurrentVersion == "v1.1.0"
		}); err != nil {
			t.Fatal(err)
		}
		for _, h := range wave {
			st, _ := h.Status()
			if c := st.Get(status.TypeReady); c == nil || c.Status != status.False || c.Reason != reconciler.ReasonRolloutPaused {
				t.Errorf("%s: Ready %+v, want False %s", h.Name, c, reconciler.ReasonRolloutPaused)
			}
		}
		untouched(t, before, f.Hosts)
		lap("6a: v1.2.1 published, the paused hosts hold")

		// People looked and decided: the fleet file changes, the pause lifts.
		_, res = f.push(t, "latest (v1.2.1) to everyone", fleetFile("latest", 100, true, canaries...), http.StatusAccepted)
		results(t, res, rest, status.FleetApplied, fleet.ReasonInWave)
		if err := f.Wait(ctx, long, "every host is Ready on v1.2.1", nil, sandbox.ReadyOn("v1.2.1")); err != nil {
			t.Fatal(err)
		}
		serving(t, f.Hosts, "v1.2.1")
		for _, h := range f.Hosts {
			if st, _ := h.Status(); st.Fleet == nil || st.Fleet.Paused != nil || st.Policy != nil {
				t.Errorf("%s: still paused or held: %s", h.Name, sandbox.Summary(st))
			}
		}
		lap("6b: the fleet file changes, all on v1.2.1")
	})

	ok = ok && t.Run("7 an unreachable repo or an invalid file changes nothing", func(t *testing.T) {
		before = observe(t, f.Hosts)
		if err := f.git.Stop(); err != nil {
			t.Fatal(err)
		}
		res := f.webhook(t, http.StatusBadGateway)
		results(t, res, f.Hosts, status.FleetRefused, fleet.ReasonUnreachable)
		if err := f.Wait(ctx, 10*time.Second, "status.fleet says Unreachable", nil, func(_ *sandbox.FleetHost, st *status.VersionStatus) bool {
			return st.Fleet != nil && st.Fleet.Result == status.FleetRefused && st.Fleet.Reason == fleet.ReasonUnreachable
		}); err != nil {
			t.Error(err)
		}
		if err := f.git.Start(); err != nil {
			t.Fatal(err)
		}
		_, res = f.push(t, "a typo", strings.Replace(fleetFile("v1.0.0", 100, false), "percent: 100", "percent: 1000", 1), http.StatusUnprocessableEntity)
		results(t, res, f.Hosts, status.FleetRefused, fleet.ReasonInvalidFile)
		for _, r := range res {
			if !strings.Contains(r.Error, "fleet/desired.yaml") || !strings.Contains(r.Error, "percent") {
				t.Errorf("%s: the refusal does not name the file and field: %s", r.Host.Name, r.Error)
			}
		}
		// The webhook woke every loop meanwhile; nothing moves.
		if err := f.Wait(ctx, 10*time.Second, "status.fleet says InvalidFile", nil, func(_ *sandbox.FleetHost, st *status.VersionStatus) bool {
			return st.Fleet != nil && st.Fleet.Result == status.FleetRefused && st.Fleet.Reason == fleet.ReasonInvalidFile && st.CurrentVersion == "v1.2.1"
		}); err != nil {
			t.Error(err)
		}
		untouched(t, before, f.Hosts)
		lap("7: unreachable, then invalid: nothing moves")
	})
	if !ok {
		return
	}
	for _, h := range f.Hosts {
		tr := f.git.Traffic(h.Name)
		if tr.Requests == 0 || tr.BytesOut == 0 {
			t.Errorf("%s: fetched nothing over HTTP: %+v", h.Name, tr)
		}
	}
	t.Logf("git traffic of %s: %+v", f.Hosts[0].Name, f.git.Traffic(f.Hosts[0].Name))
}
