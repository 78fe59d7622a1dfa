package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/better-paas/updater/api"
	"github.com/better-paas/updater/internal/apitoken"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/metrics"
	"github.com/better-paas/updater/internal/releases"
	"github.com/better-paas/updater/status"
	"github.com/better-paas/updater/web"
)

// The fleet the statuses below come from.
const (
	fleetRepo    = "https://git.example.com/ops/fleet.git"
	fleetCommitA = "9fceb02d0ae598e95dc970b74767f19372d61af8"
	fleetCommitB = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
	fleetBlobA   = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
	fleetBlobB   = "2e65efe2a145dda7ee51d1741299f848e5bf752e"
)

// TestPageShowsPolicyFleetAndPause drives the page in headless Chromium,
// set to India's time zone, against the real API (package api, with the
// real metrics exporter and event broker) over a state folder whose
// status.yaml the test writes, as the reconciler and the fleet sync would:
//
//  1. spec.hold holds v1.2.0 back and the fleet sync left this host
//     outside the wave: the page says what waits, why, and until when in
//     the browser's local time, and shows the fleet block (repo, branch,
//     short commit, file, cohort, result and reason, the file's version,
//     what was applied); no pause banner.
//  2. v1.2.0 failed under a fleet file with rollout.pauseOnFailure and
//     latest moved to v1.2.1: the page shows the pause banner with its
//     message and how to resume, the RolloutPaused wait, the fleet result
//     Paused; GET /api/v1/status and /metrics say the same.
//  3. the fleet file changed: the banner and the wait go.
//
// Each change reaches the open page through a condition event on
// /api/v1/events, as the daemon's do.
func TestPageShowsPolicyFleetAndPause(t *testing.T) {
	skipEndToEnd(t)
	t.Parallel()
	chromiumPath(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: run make deps")
	}
	s := newStatusServer(t)
	now := time.Now().UTC().Truncate(time.Second)

	// 1. Held, outside the wave.
	until := now.Add(3*time.Hour + 20*time.Minute).Truncate(time.Minute)
	held := s.baseStatus(now)
	held.Policy = &status.PolicyHold{Reason: "Held", Version: "v1.2.0", Until: &until,
		Message: "spec.hold holds the update to v1.2.0 back until " + until.Format(time.RFC3339) + " (quarter-end freeze); the host stays on v1.1.0"}
	held.Conditions = []status.Condition{{Type: status.TypeReady, Status: status.False, Reason: "Held", Message: held.Policy.Message, LastTransitionTime: now}}
	held.Fleet = fleetStatus(now, fleetCommitA, fleetBlobA)
	held.Fleet.Result, held.Fleet.Reason = status.FleetOutsideWave, ""
	held.Fleet.Message = "fleet/desired.yaml at 9fceb02d0ae5 asks for latest with rollout.percent 10; this host's cohort 42 is outside the wave"
	s.write(t, held)

	b := newBrowser(t, 1000, 1100)
	b.localize("Asia/Kolkata", "en_US")
	b.do("open the page", chromedp.Navigate(s.url+"/"))
	b.wait("the token prompt", `document.getElementById('token-dialog').open`, 10*time.Second)
	b.do("type the token", chromedp.SendKeys(chromedp.CSS("#token-input"), s.token))
	b.click("#token-submit")
	b.wait("the policy and the fleet", `!document.getElementById('policy').hidden && !document.getElementById('fleet').hidden &&
		document.getElementById('live-state').innerText === 'Live'`, 15*time.Second)

	if got, want := b.text("#policy-title"), "The update to v1.2.0 is on hold"; got != want {
		t.Errorf("the policy title is %q, want %q", got, want)
	}
	if got := b.text("#policy-message"); got != held.Policy.Message {
		t.Errorf("the policy message is %q, want status.policy.message %q", got, held.Policy.Message)
	}
	// Until, in India's time (UTC+5:30, no summer time), named.
	ist := until.In(time.FixedZone("IST", 5*3600+1800)).Format("Jan 2, 2006, 3:04 PM")
	if got := spaces(b.text("#policy-until")); got != "Until "+ist+" GMT+5:30 (in 3 h)" {
		t.Errorf("the policy's end reads %q, want %q", got, "Until "+ist+" GMT+5:30 (in 3 h)")
	}
	if got := eval[string](b, `document.querySelector('#policy-until time').getAttribute('datetime')`); got != until.Format("2006-01-02T15:04:05.000Z") {
		t.Errorf("the policy's <time datetime> is %q, want %s", got, until.Format(time.RFC3339))
	}
	if got := b.text("#health"); got != "Update waiting" {
		t.Errorf("the health badge says %q while a hold waits, want Update waiting", got)
	}
	if !eval[bool](b, `document.getElementById('cur-message').hidden`) {
		t.Errorf("the hold's message is shown twice: also under the running version: %q", b.text("#cur-message"))
	}
	wantFleet := map[string]string{
		"#fleet-result":   "Outside the wave",
		"#fleet-repo":     fleetRepo,
		"#fleet-branch":   "main",
		"#fleet-commit":   fleetCommitA[:7],
		"#fleet-path":     "fleet/desired.yaml",
		"#fleet-cohort":   "42 (moves when rollout.percent > 42)",
		"#fleet-document": "latest · pauses on failure",
		"#fleet-applied":  "v1.1.0 from " + fleetCommitA[:7] + " · 1 h ago",
		"#fleet-message":  held.Fleet.Message,
	}
	for sel, want := range wantFleet {
		if got := b.text(sel); got != want {
			t.Errorf("%s shows %q, want %q", sel, got, want)
		}
	}
	if got := eval[string](b, `document.querySelector('#fleet-synced time').getAttribute('datetime')`); got != now.Format("2006-01-02T15:04:05.000Z") {
		t.Errorf("the last sync's <time datetime> is %q, want %s", got, now.Format(time.RFC3339))
	}
	if got := eval[string](b, `document.getElementById('fleet-commit').title`); got != fleetCommitA {
		t.Errorf("the fleet commit's title is %q, want the full id", got)
	}
	if !eval[bool](b, `document.getElementById('paused').hidden`) {
		t.Error("the pause banner shows on a host that is not paused")
	}
	b.shot("fleet-held")

	// 2. v1.2.0 failed under pauseOnFailure; latest moved on to v1.2.1.
	failedAt := time.Now().UTC().Add(-2 * time.Minute).Truncate(time.Second)
	paused := s.baseStatus(now)
	paused.FailedVersions = []status.FailedVersion{{Version: "v1.2.0", Step: "health", Reason: "HealthCheckFailed",
		Message: "GET /api/health answered 503", FailedAt: failedAt, Generation: 3}}
	paused.Fleet = fleetStatus(now.Add(-time.Hour), fleetCommitA, fleetBlobA)
	paused.Fleet.SyncedAt = now
	paused.Fleet.Result, paused.Fleet.Reason = status.FleetPaused, ""
	paused.Fleet.Message = "this host is paused: v1.2.0 failed here under fleet/desired.yaml with rollout.pauseOnFailure; desired.yaml was left as it was"
	paused.Fleet.Paused = paused.RolloutPause()
	if paused.Fleet.Paused == nil {
		t.Fatal("status.RolloutPause returned nil for a failure after the file was read with pauseOnFailure")
	}
	paused.Policy = &status.PolicyHold{Reason: "RolloutPaused", Version: "v1.2.1",
		Message: "the update to v1.2.1 is paused: " + paused.Fleet.Paused.Message}
	paused.Conditions = []status.Condition{{Type: status.TypeReady, Status: status.False, Reason: "RolloutPaused", Message: paused.Policy.Message, LastTransitionTime: now}}
	s.write(t, paused)
	s.changed(status.TypeReady, "RolloutPaused")
	b.wait("the pause banner", `!document.getElementById('paused').hidden &&
		document.getElementById('fleet-result').innerText === 'Paused'`, 15*time.Second)

	if got := b.text("#paused-h"); got != "Fleet rollout paused on this server" {
		t.Errorf("the banner's heading is %q", got)
	}
	if got := b.text("#paused-text"); got != paused.Fleet.Paused.Message {
		t.Errorf("the banner says %q, want status.fleet.paused.message %q", got, paused.Fleet.Paused.Message)
	}
	if got, want := b.text("#paused-detail"), "v1.2.0 failed here 2 min ago. This server writes nothing but its own status until fleet/desired.yaml changes in "+fleetRepo+" (branch main): commit a change to it to resume."; got != want {
		t.Errorf("the banner's detail is %q, want %q", got, want)
	}
	if got := eval[string](b, `document.querySelector('#paused-detail time').getAttribute('datetime')`); got != failedAt.Format("2006-01-02T15:04:05.000Z") {
		t.Errorf("the banner's <time datetime> is %q, want the failure's %s", got, failedAt.Format(time.RFC3339))
	}
	if got := eval[string](b, `getComputedStyle(document.getElementById('paused')).borderLeftColor`); got != "rgb(180, 35, 24)" {
		t.Errorf("the banner's edge is %s, want the alarm red rgb(180, 35, 24)", got)
	}
	if got := eval[string](b, `[...document.querySelectorAll('#app > *')].find(e => !e.hidden).id`); got != "paused" {
		t.Errorf("the first thing the page shows is #%s, want the pause banner", got)
	}
	if got := b.text("#policy-title"); got != "The update to v1.2.1 is paused with the fleet rollout" {
		t.Errorf("the policy title is %q while paused", got)
	}
	if got := b.text("#policy-until"); got != "Until the fleet file for this server changes." {
		t.Errorf("a pause's end reads %q", got)
	}
	if !eval[bool](b, `document.getElementById('policy-message').hidden`) {
		t.Errorf("the pause's message is said twice: in the banner and under the running version: %q", b.text("#policy-message"))
	}
	if got := b.text("#health"); got != "Paused" {
		t.Errorf("the health badge says %q while paused, want Paused", got)
	}
	if got := eval[string](b, `document.getElementById('fleet-result').className`); got != "badge bad" {
		t.Errorf("the Paused badge has class %q, want badge bad", got)
	}
	if n := eval[int](b, `document.querySelectorAll('#failed-list li[data-version="v1.2.0"]').length`); n != 1 {
		t.Errorf("failed versions list v1.2.0 %d times, want once", n)
	}
	b.shot("fleet-paused")

	// The API and the metrics say the same as the page.
	var ans struct {
		Status struct {
			Policy struct{ Reason, Version string }
			Fleet  struct {
				Result string
				Paused *struct{ Version, Message string }
			}
		}
	}
	if err := json.Unmarshal([]byte(s.get(t, "/api/v1/status")), &ans); err != nil {
		t.Fatal(err)
	}
	if st := ans.Status; st.Policy.Reason != "RolloutPaused" || st.Fleet.Result != "Paused" || st.Fleet.Paused == nil ||
		st.Fleet.Paused.Version != "v1.2.0" || st.Fleet.Paused.Message != paused.Fleet.Paused.Message {
		t.Errorf("GET /api/v1/status says %+v, want the pause on v1.2.0 and the RolloutPaused wait", st)
	}
	scrape := s.get(t, "/metrics")
	for _, want := range []string{
		`better_paas_updater_fleet_paused{version="v1.2.0"} 1`,
		`better_paas_updater_policy_wait{reason="RolloutPaused",version="v1.2.1"} 1`,
		`better_paas_updater_fleet_info{branch="main",commit="` + fleetCommitA + `",path="fleet/desired.yaml",reason="",repo="` + fleetRepo + `",result="Paused"} 1`,
		`better_paas_updater_fleet_cohort 42`,
	} {
		if !strings.Contains(scrape, want+"\n") {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// On a phone nothing of it overflows; in the dark it stays legible.
	b.do("a 375 px phone", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 375 {
		wide := eval[[]string](b, `[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 376 && !e.closest('.table-scroll')).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 12)`)
		t.Errorf("on a 375 px phone the page is %d px wide: something does not wrap: %v", w, wide)
	}
	b.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	b.viewShot("fleet-paused-phone")
	b.do("back to the desktop", chromedp.EmulateViewport(1000, 1100))
	b.colorScheme("dark")
	if c := eval[string](b, `getComputedStyle(document.getElementById('paused-h')).color`); c != "rgb(255, 123, 110)" {
		t.Errorf("in the dark the banner's heading is %s, want the dark palette's red", c)
	}
	b.shot("fleet-paused-dark")
	b.colorScheme("light")

	// 3. People changed the fleet file: a new blob; the pause lifts.
	resumed := s.baseStatus(now)
	resumed.FailedVersions = paused.FailedVersions
	resumed.Fleet = fleetStatus(now.Add(time.Minute), fleetCommitB, fleetBlobB)
	resumed.Fleet.Paused = resumed.RolloutPause()
	resumed.Conditions = []status.Condition{{Type: status.TypeReady, Status: status.True, Reason: "UpToDate", LastTransitionTime: now}}
	s.write(t, resumed)
	s.changed(status.TypeReady, "UpToDate")
	b.wait("the pause to lift", `document.getElementById('paused').hidden && document.getElementById('policy').hidden &&
		document.getElementById('fleet-result').innerText === 'Applied'`, 15*time.Second)
	if got := b.text("#fleet-commit"); got != fleetCommitB[:7] {
		t.Errorf("after the fleet file changed the commit shown is %q, want %q", got, fleetCommitB[:7])
	}
	if got := b.text("#health"); got != "Healthy" {
		t.Errorf("after the pause lifted the health badge says %q, want Healthy", got)
	}
	if scrape := s.get(t, "/metrics"); !strings.Contains(scrape, "better_paas_updater_fleet_paused{version=\"\"} 0\n") &&
		!strings.Contains(scrape, "better_paas_updater_fleet_paused 0\n") || strings.Contains(scrape, "better_paas_updater_policy_wait") {
		t.Errorf("/metrics after the pause lifted:\n%s", grepLines(scrape, "better_paas_updater_fleet_paused", "better_paas_updater_policy_wait"))
	}
	b.checkConsole()
}

// statusServer is the real API over a state folder whose status.yaml the
// test writes: the page (package web), /metrics (package metrics) and
// /api/v1/events (an events.Broker the metrics Collector publishes to, as
// in the daemon) included.
type statusServer struct {
	url, token string
	layout     layout.Layout
	collector  *metrics.Collector
}

func newStatusServer(t *testing.T) *statusServer {
	t.Helper()
	dir := t.TempDir()
	install := filepath.Join(dir, "install")
	for _, args := range [][]string{{"init", "-q", install}, {"-C", install, "remote", "add", "origin", "https://git.example.com/acme/app.git"}} {
		if out, err := exec.Command("git", args...).CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	cfg, err := config.Parse(filepath.Join(dir, "updater.yaml"), fmt.Appendf(nil, `apiVersion: updates.better-paas.io/v1
kind: UpdaterConfig
installDir: %s
stateDir: %s
desiredFile: %s
releases:
  source: git-tags
build:
  backend:
    command: ["go", "build", "-o", "$(OUTPUT)", "./backend"]
health:
  url: http://127.0.0.1:8080/api/health
api:
  listen: 127.0.0.1:0
`, install, filepath.Join(dir, "state"), filepath.Join(dir, "desired.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	s := &statusServer{layout: layout.New(cfg)}
	if err := s.layout.Create(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg.DesiredFile, []byte("apiVersion: updates.better-paas.io/v1\nkind: DesiredVersion\nspec:\n  version: latest\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s.token, err = apitoken.Create(s.layout.APIToken); err != nil {
		t.Fatal(err)
	}
	broker := events.NewBroker(0)
	t.Cleanup(broker.Close)
	s.collector = metrics.New(metrics.Options{Layout: s.layout, Version: "v0.0.0-test", Next: broker})
	published := time.Now().Add(-30 * 24 * time.Hour)
	srv := httptest.NewServer(api.New(api.Options{
		Config: cfg, Layout: s.layout, Verifier: apitoken.NewVerifier(s.layout.APIToken),
		Events: broker.Handler(), Metrics: s.collector.Handler(), Page: web.Handler(web.Options{}),
		Source: fixedReleases{Listing: releases.Listing{Source: "git tags of https://git.example.com/acme/app.git", FetchedAt: time.Now(),
			Releases: []releases.Release{
				{Version: "v1.2.1", Tag: "v1.2.1", Commit: strings.Repeat("3", 40), PublishedAt: published},
				{Version: "v1.2.0", Tag: "v1.2.0", Commit: strings.Repeat("2", 40), PublishedAt: published},
				{Version: "v1.1.0", Tag: "v1.1.0", Commit: strings.Repeat("1", 40), PublishedAt: published},
			}}},
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

// baseStatus is a host running v1.1.0, installed by the fleet an hour ago.
func (s *statusServer) baseStatus(now time.Time) *status.VersionStatus {
	st := status.New()
	st.ObservedGeneration = 3
	st.DesiredVersion, st.TargetVersion = "latest", "v1.1.0"
	st.CurrentVersion, st.CurrentCommit = "v1.1.0", strings.Repeat("1", 40)
	st.LastKnownGood = &status.Revision{Version: "v1.1.0", Commit: st.CurrentCommit}
	st.AddHistory(status.HistoryEntry{ID: "op-1", To: "v1.1.0", Result: status.ResultSucceeded,
		StartedAt: now.Add(-61 * time.Minute), FinishedAt: now.Add(-time.Hour)})
	return st
}

// fleetStatus is a fleet block whose last sync applied the file at commit
// (blob), read with rollout.pauseOnFailure at readAt.
func fleetStatus(readAt time.Time, commit, blob string) *status.FleetStatus {
	applied := readAt.Add(-time.Hour)
	return &status.FleetStatus{
		Repo: fleetRepo, Branch: "main", Commit: commit, Path: "fleet/desired.yaml", Cohort: 42,
		Result: status.FleetApplied, Reason: "InWave", SyncedAt: readAt,
		Applied:  &status.FleetWrite{Commit: commit, Path: "fleet/desired.yaml", Version: "v1.1.0", Generation: "sha256:" + strings.Repeat("a", 64), At: applied},
		Document: &status.FleetDocument{Commit: commit, Path: "fleet/desired.yaml", Blob: blob, Version: "latest", PauseOnFailure: true, ReadAt: readAt},
	}
}

// write replaces status.yaml, as the reconciler and the fleet sync do.
func (s *statusServer) write(t *testing.T, st *status.VersionStatus) {
	t.Helper()
	if err := status.Save(s.layout.Status, st); err != nil {
		t.Fatal(err)
	}
}

// changed publishes a condition event, as the reconciler does once
// status.yaml holds the change: the page reads the status again.
func (s *statusServer) changed(condition, reason string) {
	s.collector.Publish(events.Event{Type: events.TypeCondition,
		Condition: &events.Condition{Type: condition, Status: "False", Reason: reason}})
}

// get answers GET path with the token; the test fails unless it is 200.
func (s *statusServer) get(t *testing.T, path string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d, %v\n%s", path, res.StatusCode, err, body)
	}
	return string(body)
}

// fixedReleases is a release source that always answers the same.
type fixedReleases struct{ releases.Listing }

func (f fixedReleases) List(context.Context) (releases.Listing, error) { return f.Listing, nil }

// spaces turns the no-break spaces Intl puts into times into spaces.
func spaces(s string) string {
	return strings.NewReplacer("\u202f", " ", "\u00a0", " ").Replace(s)
}

// grepLines keeps the lines of s that start with one of prefixes.
func grepLines(s string, prefixes ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, p := range prefixes {
			if strings.HasPrefix(l, p) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}
