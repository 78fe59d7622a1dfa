package web_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/sandbox"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/internal/strictyaml"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// updateScreenshot rewrites testdata/software-updates.png, the picture of
// the page the README shows, from this run: go test ./web -run
// TestSoftwareUpdatesPage -update-screenshot.
var updateScreenshot = flag.Bool("update-screenshot", false, "rewrite testdata/software-updates.png from this run")

// maxScreenshot bounds the committed screenshot.
const maxScreenshot = 150 << 10

// The steps of an update of the example app, in order (recover does
// nothing going forward and is not shown).
var updateSteps = []string{"backup", "fetch", "checkout", "build-backend", "build-frontend", "stop", "cold-backup", "swap", "start", "health"}

// Release notes as GitHub returns them (markdown). v1.2.0's hold markup the
// page must show as text, never run.
const (
	notesV110 = "## What's new\n\n- The web UI lists the notes, newest first.\n- Migration 2 adds `data/settings.json` with default settings; existing data\n  is left as it is.\n\n**Full changelog**: https://github.com/acme/app/compare/v1.0.0...v1.1.0"
	notesV120 = "## What's new\n\n- Reads `PUBLIC_URL`, the address users reach the app at.\n- `/api/health` reports unavailable until the configuration is complete.\n\n" +
		"Known issue: <img src=x onerror=\"document.title='pwned'\"> <script>document.title='pwned'</script> shown as text."
)

// TestSoftwareUpdatesPage drives the page in headless Chromium against a
// real daemon updating a real sandbox install of the example app, with
// releases from a fake GitHub speaking GitHub's JSON: sign in with a token
// from `token create`; Check for updates shows v1.1.0 and its notes;
// Update now shows every step in order and success, and the running
// version changes without a reload; v1.2.0 fails its health check and the
// page explains the rollback (reason, step, log tail); Retry tries it once
// more; Roll back pins the last known good version.
func TestSoftwareUpdatesPage(t *testing.T) {
	skipEndToEnd(t)
	t.Parallel()
	chromiumPath(t)
	for _, tool := range []string{"git", "go", "node", "pnpm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: run make deps", tool)
		}
	}
	gh := newFakeGitHub(t)
	gh.publish(ghRelease("v1.0.0", "The first release", "2026-10-01T12:00:00Z", "First release."))
	gh.publish(ghRelease("v1.1.0", "Notes, newest first", "2026-11-01T12:00:00Z", notesV110))
	h := startHost(t, gh.URL)

	b := newBrowser(t, 1000, 1000)
	b.do("open the page", chromedp.Navigate(h.pageURL))

	// Sign in: a wrong token is refused in plain words, the right one opens
	// the page.
	b.wait("the token prompt", `document.getElementById('token-dialog').open`, 10*time.Second)
	b.do("type a wrong token", chromedp.SendKeys(chromedp.CSS("#token-input"), "not-the-token"))
	b.click("#token-submit")
	b.wait("the refusal", `!document.getElementById('token-error').hidden`, 10*time.Second)
	if msg := b.text("#token-error"); !strings.Contains(msg, "not accepted") {
		t.Errorf("a wrong token says %q, want that it was not accepted", msg)
	}
	b.do("type the token", chromedp.SendKeys(chromedp.CSS("#token-input"), h.token))
	b.click("#token-submit")
	b.wait("the running version", `document.getElementById('cur-version').innerText === 'v1.0.0'`, 15*time.Second)
	if stored := eval[string](b, `sessionStorage.getItem('better-paas-updater.token')`); stored != h.token {
		t.Errorf("sessionStorage holds %q, want the token", stored)
	}
	if cookies := eval[string](b, `document.cookie`); cookies != "" {
		t.Errorf("the page set cookies %q; the token goes in a header only", cookies)
	}
	commit := h.tagCommit(t, "v1.0.0")
	if got := b.text("#cur-commit"); got != commit[:7] {
		t.Errorf("commit shown %q, want %q", got, commit[:7])
	}

	// Check for updates: v1.1.0 with its notes.
	b.click("#check")
	b.wait("v1.1.0 offered", `(document.querySelector('#update-now') || {}).dataset?.version === 'v1.1.0' &&
		document.getElementById('checked').innerText === 'Checked just now'`, 30*time.Second)
	notes := b.text(`.release[data-version="v1.1.0"] .notes`)
	for _, want := range []string{"What's new", "The web UI lists the notes, newest first.", "data/settings.json", "Full changelog"} {
		if !strings.Contains(notes, want) {
			t.Errorf("v1.1.0's notes on the page lack %q:\n%s", want, notes)
		}
	}
	if n := eval[int](b, `document.querySelectorAll('.release[data-version="v1.1.0"] .notes li').length`); n != 2 {
		t.Errorf("v1.1.0's notes show %d list items, want 2", n)
	}
	b.shot("update-available")

	// Update now with the keyboard: Tab from Check for updates reaches it,
	// with a visible focus ring; Enter opens the confirm dialog, focused on
	// its button; Escape cancels, and nothing is asked of the API.
	b.do("focus Check for updates", chromedp.Focus(chromedp.CSS("#check")))
	b.do("Tab", chromedp.KeyEvent("\t"))
	if got := eval[string](b, `document.activeElement.id + ' ' + getComputedStyle(document.activeElement).outlineStyle`); got != "update-now solid" {
		t.Errorf("after Tab the focus is on %q, want update-now with a solid outline", got)
	}
	b.do("Enter", chromedp.KeyEvent("\r"))
	b.wait("the confirm dialog", `document.getElementById('confirm-dialog').open && document.activeElement.id === 'confirm-ok'`, 5*time.Second)
	b.do("Escape", chromedp.KeyEvent(kb.Escape))
	b.wait("the dialog to close", `!document.getElementById('confirm-dialog').open`, 5*time.Second)
	if n := eval[int](b, `performance.getEntriesByType('resource').filter(e => e.name.endsWith('/api/v1/update')).length`); n != 0 {
		t.Errorf("cancelling the dialog still sent %d POST update", n)
	}

	// Someone else writes desired.yaml while the page shows the older
	// state: Update now is refused with 409, nothing changes, and the page
	// says so and shows the current state.
	conflictRefused(t, b, h)

	// Update now, confirmed: every step in order, then success, and the
	// version changes on this same page.
	firstOp := eval[string](b, `document.getElementById('progress').dataset.operation || ''`)
	recordSteps(b)
	b.click("#update-now")
	b.wait("the confirm dialog", `document.getElementById('confirm-dialog').open`, 5*time.Second)
	b.shot("confirm-update")
	b.click("#confirm-ok")
	b.wait("the first step", `document.querySelector('#steps .is-running')`, 60*time.Second)
	b.shot("update-running")
	b.wait("success", `document.getElementById('progress-badge').innerText === 'Succeeded' &&
		document.getElementById('cur-version').innerText === 'v1.1.0'`, 3*time.Minute)
	op := eval[string](b, `document.getElementById('progress').dataset.operation`)
	if op == "" || op == firstOp {
		t.Fatalf("the progress card shows operation %q, want a new one (before: %q)", op, firstOp)
	}
	checkStepsInOrder(t, b, op)
	if !eval[bool](b, `window.__samePage === true`) {
		t.Error("the page was reloaded; the version must change in place")
	}
	for _, s := range eval[[]string](b, `[...document.querySelectorAll('#steps .step.is-done')].map(li => li.dataset.step + ':' + li.querySelector('.step-time').innerText)`) {
		if strings.HasSuffix(s, ":") {
			t.Errorf("step %s shows no duration", s)
		}
	}
	if got := b.text("#cur-commit"); got != h.tagCommit(t, "v1.1.0")[:7] {
		t.Errorf("after the update the commit shown is %q, want v1.1.0's", got)
	}
	if got := b.text("#progress-text"); !strings.HasPrefix(got, "Updated to v1.1.0") {
		t.Errorf("the outcome says %q", got)
	}
	if n := eval[int](b, `document.querySelectorAll('#history-list .row[data-result="Succeeded"]').length`); n < 2 {
		t.Errorf("history shows %d successful updates, want the install of v1.0.0 and the update to v1.1.0", n)
	}
	if n := eval[int](b, `document.querySelectorAll('#backups-list tr').length`); n == 0 {
		t.Error("no backups listed after an update")
	}
	b.do("open the build log", chromedp.Click(chromedp.CSS("#log-panel > summary")))
	if log := b.text("#log"); !strings.Contains(log, "built web UI v1.1.0") {
		t.Errorf("the build log panel shows no build output:\n%s", log)
	}
	b.shot("updated")

	// v1.2.0 is published; it fails its health check and is rolled back.
	gh.publish(ghRelease("v1.2.0", "Share links groundwork", "2026-11-20T12:00:00Z", notesV120))
	b.click("#check")
	b.wait("v1.2.0 offered", `(document.querySelector('#update-now') || {}).dataset?.version === 'v1.2.0'`, 30*time.Second)
	if got := eval[int](b, `document.querySelectorAll('.notes img, .notes script').length`); got != 0 {
		t.Errorf("the notes' markup became %d elements; it must be shown as text", got)
	}
	if notes := b.text(`.release[data-version="v1.2.0"] .notes`); !strings.Contains(notes, "<img src=x onerror=") {
		t.Errorf("v1.2.0's notes do not show their markup as text:\n%s", notes)
	}
	recordSteps(b)
	b.click("#update-now")
	b.click("#confirm-ok")
	b.wait("the rollback", `document.getElementById('progress-badge').innerText === 'Rolled back' &&
		document.querySelector('#failed-list [data-version="v1.2.0"]')`, 3*time.Minute)
	rolledBack := eval[string](b, `document.getElementById('progress').dataset.operation`)
	explained := b.text("#progress-text")
	if want := "Rolled back: the new version did not pass its health check, at Health check."; explained != want {
		t.Errorf("the rollback is explained as %q, want %q", explained, want)
	}
	outcome := b.text("#outcome")
	if !strings.Contains(outcome, "v1.1.0 is running again") || !strings.Contains(outcome, "503") {
		t.Errorf("the outcome does not say why and what runs:\n%s", outcome)
	}
	if tail := b.text("#outcome .tail"); !strings.Contains(tail, "better-paas v1.2.0 listening") {
		t.Errorf("the outcome's log tail is %q, want the app's output", tail)
	}
	states := stepStates(b)
	if states["health"] != "failed" || states["recover"] != "done" || states["swap"] != "undone" || states["checkout"] != "undone" {
		t.Errorf("after the rollback the steps show %v, want health failed, swap and checkout undone, the previous version started", states)
	}
	if got := b.text("#cur-version"); got != "v1.1.0" {
		t.Errorf("after the rollback the running version shown is %q, want v1.1.0", got)
	}
	b.shot("rolled-back")
	if *updateScreenshot {
		writeReadmeScreenshot(t, b)
	}

	// The page on a phone and in dark mode.
	b.do("a 375 px phone", chromedp.EmulateViewport(375, 812, chromedp.EmulateMobile, chromedp.EmulateScale(2)))
	if w := eval[int](b, `document.documentElement.scrollWidth`); w > 375 {
		wide := eval[[]string](b, `[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 376 && !e.closest('.table-scroll')).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 12)`)
		t.Errorf("on a 375 px phone the page is %d px wide: something does not wrap: %v", w, wide)
	}
	b.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	b.viewShot("phone")
	b.do("back to the desktop", chromedp.EmulateViewport(1000, 1000))
	b.colorScheme("dark")
	if bg := eval[string](b, `getComputedStyle(document.body).backgroundColor`); bg == "rgb(245, 246, 248)" {
		t.Errorf("with prefers-color-scheme: dark the background stays light (%s)", bg)
	}
	b.shot("dark")
	b.colorScheme("light")

	// Retry v1.2.0: one more try, rolled back again.
	b.click(`#failed-list button[data-action="retry"][data-version="v1.2.0"]`)
	b.wait("the confirm dialog", `document.getElementById('confirm-dialog').open`, 5*time.Second)
	b.click("#confirm-ok")
	b.wait("the retry rolled back", fmt.Sprintf(`document.getElementById('progress').dataset.operation !== %s &&
		document.getElementById('progress-badge').innerText === 'Rolled back' &&
		document.querySelectorAll('#history-list .row[data-result="RolledBack"]').length === 2`, jsString(rolledBack)), 3*time.Minute)
	b.shot("retried")

	// Roll back: v1.1.0 runs healthy, so the page offers the good version
	// before it.
	st := h.status(t)
	if st.LastKnownGood == nil || st.LastKnownGood.Version != "v1.1.0" || st.CurrentVersion != "v1.1.0" ||
		st.PreviousGood == nil || st.PreviousGood.Version != "v1.0.0" {
		t.Fatalf("status: current %q, last known good %+v, previous good %+v; want v1.1.0, v1.1.0, v1.0.0",
			st.CurrentVersion, st.LastKnownGood, st.PreviousGood)
	}
	b.wait("Roll back to the previous good version offered", `!document.getElementById('rollback-actions').hidden &&
		document.getElementById('rollback').innerText === 'Roll back to v1.0.0'`, 10*time.Second)
	h.rollbackScenario(t, b)
	h.rollBackByHand(t, b)

	// The token is rotated on the server: the next request is refused and
	// the page asks for the token again; the new one works.
	h.token = h.rotateToken(t)
	b.click("#check")
	b.wait("the token prompt again", `document.getElementById('token-dialog').open && !document.getElementById('token-error').hidden`, 10*time.Second)
	if got := b.text("#token-error"); got == "" {
		t.Error("after a 401 the token prompt says nothing")
	}
	b.do("type the new token", chromedp.SendKeys(chromedp.CSS("#token-input"), h.token))
	b.click("#token-submit")
	b.wait("the page again", `!document.getElementById('app').hidden && document.getElementById('cur-version').innerText === 'v1.0.0'`, 15*time.Second)

	b.checkConsole()
}

// conflictRefused stages a write of desired.yaml by someone else while the
// page holds the older generation (its status reads are held back, so no
// refresh can sneak in), then clicks Update now: the API answers 409, the
// page says someone else changed desired.yaml, and nothing was updated.
func conflictRefused(t *testing.T, b *browser, h *host) {
	t.Helper()
	release := b.holdRequests("*/api/v1/status*")
	d, err := spec.Load(h.cfg.DesiredFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.Metadata.Annotations == nil {
		d.Metadata.Annotations = map[string]string{}
	}
	d.Metadata.Annotations["example.com/edited-by"] = "ansible"
	if err := spec.Write(h.cfg.DesiredFile, d); err != nil {
		t.Fatal(err)
	}
	b.click("#update-now")
	b.click("#confirm-ok")
	b.wait("the 409", `performance.getEntriesByType('resource').some(e => e.name.endsWith('/api/v1/update') && e.responseStatus === 409)`, 15*time.Second)
	release()
	b.wait("the conflict explained", `!document.getElementById('notice').hidden`, 15*time.Second)
	if got := b.text("#notice-text"); !strings.Contains(got, "someone else changed desired.yaml") || !strings.Contains(got, "asks for v1.0.0") {
		t.Errorf("after a 409 the page says %q", got)
	}
	if d, err := spec.Load(h.cfg.DesiredFile); err != nil || d.Spec.Version != "v1.0.0" || d.Metadata.Annotations["example.com/edited-by"] != "ansible" {
		t.Errorf("the refused update changed desired.yaml: %+v, %v", d, err)
	}
	b.shot("conflict")
	b.click("#notice-close")
}

// recordSteps makes the page remember every step row it draws, with the
// operation it belongs to, as rows are drawn (a MutationObserver sees each
// new row, so no state is missed between two polls). It also marks the
// page, so the test can tell it was not reloaded.
func recordSteps(b *browser) {
	b.t.Helper()
	b.do("watch the steps", chromedp.Evaluate[chromedp.Void](`(() => {
		window.__samePage = true;
		window.__steps = [];
		if (window.__stepObserver) window.__stepObserver.disconnect();
		const card = document.getElementById('progress');
		const seen = (li) => window.__steps.push(card.dataset.operation + ' ' + li.dataset.step + '=' + li.dataset.state);
		window.__stepObserver = new MutationObserver((records) => {
			for (const r of records) for (const n of r.addedNodes) if (n.dataset && n.dataset.step) seen(n);
		});
		window.__stepObserver.observe(document.getElementById('steps'), {childList: true});
	})()`))
}

// checkStepsInOrder checks that every step of op was drawn, each one first
// started (running) or skipped in the order of the update, that the
// backend build was seen running, and that all ended done or skipped.
func checkStepsInOrder(t *testing.T, b *browser, op string) {
	t.Helper()
	var order []string
	running := map[string]bool{}
	for _, s := range eval[[]string](b, `window.__steps`) {
		opID, rest, _ := strings.Cut(s, " ")
		step, state, _ := strings.Cut(rest, "=")
		if opID != op || state == "pending" {
			continue
		}
		if state == "running" {
			running[step] = true
		}
		if !slices.Contains(order, step) {
			order = append(order, step)
		}
	}
	if !slices.Equal(order, updateSteps) {
		t.Errorf("the steps appeared in the order %v, want %v", order, updateSteps)
	}
	if !running["build-backend"] {
		t.Errorf("the backend build was never shown running (seen running: %v); the steps must move live", running)
	}
	for step, state := range stepStates(b) {
		if state != "done" && state != "skipped" {
			t.Errorf("after success step %s shows %s", step, state)
		}
	}
}

// stepStates maps each step row of the progress card to its state.
func stepStates(b *browser) map[string]string {
	states := map[string]string{}
	for _, s := range stepOrder(b) {
		step, state, _ := strings.Cut(s, "=")
		states[step] = state
	}
	return states
}

// writeReadmeScreenshot saves the top of the page, 1000 px wide, as the
// README's picture.
func writeReadmeScreenshot(t *testing.T, b *browser) {
	t.Helper()
	b.do("scroll to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if len(png) > maxScreenshot {
		t.Fatalf("the screenshot is %d KiB, more than %d KiB: take a smaller part of the page", len(png)>>10, maxScreenshot>>10)
	}
	if err := os.WriteFile(filepath.Join("testdata", "software-updates.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote testdata/software-updates.png (%d KiB)", len(png)>>10)
}

// ---- The host: a sandbox install, a real daemon, its token ----

// daemonBinary builds better-paas-updater once per test run, with its
// fault points live (-tags faultinject, as the crash matrix does): the
// rollback scenario makes an automatic rollback fail. Without
// BETTER_PAAS_FAULTS the daemon behaves as a normal build.
func daemonBinary(t *testing.T) string {
	t.Helper()
	bin, err := sandbox.UpdaterBinary("faultinject")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

type host struct {
	root, install, cfgPath string
	cfg                    *config.Config
	bin                    string
	origin                 string
	pageURL                string
	token                  string
	daemons                int
	exited                 <-chan struct{} // closed when the running daemon exits
	stop                   func()          // stops the running daemon
}

// startHost makes a sandbox install of the example app at v1.0.0 whose
// releases come from the fake GitHub at ghURL, starts the daemon with the
// API on a free loopback port, waits until v1.0.0 runs, and creates a
// token with the CLI.
func startHost(t *testing.T, ghURL string) *host {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	h := &host{root: filepath.Join(dir, "host"), bin: daemonBinary(t)}
	h.install = filepath.Join(h.root, "install")
	h.cfgPath = filepath.Join(h.root, "updater.yaml")
	var err error
	if h.origin, err = sandbox.NewOrigin(ctx, filepath.Join(dir, "origin.git"), sandbox.DefaultReleases()); err != nil {
		t.Fatal(err)
	}
	if err := sandbox.Clone(ctx, h.origin, h.install, "v1.0.0"); err != nil {
		t.Fatal(err)
	}
	apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	raw, err := sandbox.ConfigWith(h.root, h.install, freePort(t), sandbox.Options{
		Timings:     sandbox.Timings{Interval: 100 * time.Millisecond, Deadline: 3 * time.Second, SuccessThreshold: 2},
		ShareBuilds: true,
		APIListen:   apiAddr,
	})
	if err != nil {
		t.Fatal(err)
	}
	// Releases come from GitHub (the fake), read through GitHub Releases.
	var c config.Config
	if err := strictyaml.Unmarshal(raw, &c, 4<<20); err != nil {
		t.Fatal(err)
	}
	c.Releases.Source = "github"
	c.Releases.GitHub.APIURL = ghURL
	// The loop's resync (5 minutes on a host) comes within the test: after
	// a failed rollback status.yaml learns what the host holds at the next
	// reconcile.
	c.ResyncInterval.Duration = time.Second
	if raw, err = yaml.Marshal(&c); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.cfgPath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if h.cfg, err = config.Load(h.cfgPath); err != nil {
		t.Fatal(err)
	}
	if err := spec.Write(h.cfg.DesiredFile, spec.New("v1.0.0")); err != nil {
		t.Fatal(err)
	}
	h.token = h.createToken(t)
	h.startDaemon(t, "")
	t.Cleanup(func() { h.stopApp(t) })
	h.pageURL = "http://" + apiAddr + "/"
	waitFor(t, "the API to answer", 30*time.Second, func() error {
		if err := h.alive(); err != nil {
			t.Fatal(err)
		}
		res, err := http.Get("http://" + apiAddr + "/healthz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /healthz: %s", res.Status)
		}
		return nil
	})
	waitFor(t, "v1.0.0 to be installed and Ready", 2*time.Minute, func() error {
		if err := h.alive(); err != nil {
			t.Fatal(err)
		}
		st, err := status.Load(reconciler.StatusPath(h.cfg))
		if err != nil {
			return err
		}
		if st.CurrentVersion != "v1.0.0" || !st.IsTrue(status.TypeReady) {
			return fmt.Errorf("current %q, Ready %v", st.CurrentVersion, st.Get(status.TypeReady))
		}
		return nil
	})
	return h
}

// createToken runs `better-paas-updater token create` and returns the
// token it prints.
func (h *host) createToken(t *testing.T) string {
	t.Helper()
	token, err := sandbox.CreateToken(h.bin, h.cfgPath, false)
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// startDaemon runs the daemon with the fault points faults
// (BETTER_PAAS_FAULTS; "" for none) until stopDaemon or the end of the
// test. Its log goes to daemon-N.log in the artifacts folder.
func (h *host) startDaemon(t *testing.T, faults string) {
	t.Helper()
	h.daemons++
	logPath := filepath.Join(artifactsDir(t), fmt.Sprintf("daemon-%d.log", h.daemons))
	d, err := sandbox.StartDaemon(h.bin, logPath,
		append(os.Environ(), "UPDATE_REPO=acme/app", "GITHUB_TOKEN=", "BETTER_PAAS_FAULTS="+faults),
		"run", "--config", h.cfgPath, "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	h.exited = d.Exited()
	h.stop = func() {
		if err := d.Stop(30 * time.Second); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			if out, err := os.ReadFile(logPath); err == nil {
				t.Logf("daemon log (%s):\n%s", logPath, tail(string(out), 150))
			}
		}
	}
	t.Cleanup(h.stop)
}

// restartDaemon stops the daemon (SIGTERM) and starts a new one with faults.
func (h *host) restartDaemon(t *testing.T, faults string) {
	t.Helper()
	h.stop()
	h.startDaemon(t, faults)
}

// stopApp stops the app the daemon started: it runs in a session of its
// own and outlives the daemon.
func (h *host) stopApp(t *testing.T) {
	svc, err := service.NewExec(service.ExecConfig{Command: h.cfg.Service.Exec.Command, Dir: h.install, Env: h.cfg.Service.Exec.Env,
		PIDFile: filepath.Join(h.cfg.StateDir, "service.pid"), LogFile: filepath.Join(h.cfg.StateDir, "logs", "service.log"),
		StopTimeout: h.cfg.Service.StopTimeout.Duration})
	if err == nil {
		err = svc.Stop(context.Background())
	}
	if err != nil {
		t.Errorf("cannot stop the app: %v", err)
	}
}

// alive is an error once the daemon has exited.
func (h *host) alive() error {
	select {
	case <-h.exited:
		return fmt.Errorf("the daemon exited (its log is in the artifacts folder)")
	default:
		return nil
	}
}

// rotateToken runs `better-paas-updater token rotate` and returns the new
// token; the old one stops working at once.
func (h *host) rotateToken(t *testing.T) string {
	t.Helper()
	token, err := sandbox.CreateToken(h.bin, h.cfgPath, true)
	if err != nil {
		t.Fatal(err)
	}
	if token == h.token {
		t.Fatal("token rotate printed the old token")
	}
	return token
}

// status reads status.yaml.
func (h *host) status(t *testing.T) *status.VersionStatus {
	t.Helper()
	st, err := status.Load(reconciler.StatusPath(h.cfg))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// tagCommit is the commit a release tag points to in the origin.
func (h *host) tagCommit(t *testing.T, tag string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", h.origin, "rev-parse", tag+"^{commit}").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// rollbackScenario: an automatic rollback can fail too (here a fault
// after the undo of start, as a service that cannot be handled would);
// the host then holds v1.2.0, stopped, and the page offers Roll back to
// the last known good version, which pins it (allowDowngrade) and
// installs it again. The daemon is restarted for it, so the page also
// rides out a daemon restart: its event stream reconnects by itself.
func (h *host) rollbackScenario(t *testing.T, b *browser) {
	t.Helper()
	h.restartDaemon(t, "start:undo:after=error")
	b.wait("the event stream to reconnect", `document.getElementById('live-state').innerText === 'Live'`, 30*time.Second)
	before := eval[string](b, `document.getElementById('progress').dataset.operation`)
	b.click(`#failed-list button[data-action="retry"][data-version="v1.2.0"]`)
	b.click("#confirm-ok")
	b.wait("the failed rollback", fmt.Sprintf(`document.getElementById('progress').dataset.operation !== %s &&
		document.getElementById('progress-badge').innerText === 'Rollback failed'`, jsString(before)), 3*time.Minute)
	if got := b.text("#progress-text"); !strings.Contains(got, "rolling it back failed") {
		t.Errorf("a failed rollback is explained as %q", got)
	}
	b.wait("Roll back offered", `!document.getElementById('rollback-actions').hidden &&
		document.getElementById('rollback').innerText === 'Roll back to v1.1.0'`, 30*time.Second)
	b.shot("rollback-failed")

	b.click("#rollback")
	b.wait("the confirm dialog", `document.getElementById('confirm-dialog').open`, 5*time.Second)
	if got := b.text("#confirm-h"); got != "Roll back to v1.1.0?" {
		t.Errorf("the rollback dialog asks %q", got)
	}
	b.click("#confirm-ok")
	b.wait("v1.1.0 running again", `document.getElementById('progress-badge').innerText === 'Succeeded' &&
		document.getElementById('progress-h').innerText === 'Update to v1.1.0' &&
		document.getElementById('cur-version').innerText === 'v1.1.0' &&
		document.getElementById('health').innerText === 'Healthy' &&
		document.getElementById('rollback').innerText === 'Roll back to v1.0.0'`, 3*time.Minute)
	d, err := spec.Load(h.cfg.DesiredFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.Spec.Version != "v1.1.0" || !d.Spec.AllowDowngrade || d.Metadata.Annotations[spec.RollbackAnnotation] == "" {
		t.Errorf("after Roll back desired.yaml is %+v %v, want v1.1.0 pinned with allowDowngrade and the rollback annotation", d.Spec, d.Metadata.Annotations)
	}
	b.shot("rolled-back-by-hand")
}

// rollBackByHand: the everyday rollback. v1.1.0 runs healthy after
// v1.0.0; Roll back to v1.0.0 installs v1.0.0 again, and the history says
// it was a rollback someone asked for.
func (h *host) rollBackByHand(t *testing.T, b *browser) {
	t.Helper()
	b.click("#rollback")
	b.wait("the confirm dialog", `document.getElementById('confirm-dialog').open`, 5*time.Second)
	if got := b.text("#confirm-h"); got != "Roll back to v1.0.0?" {
		t.Errorf("the rollback dialog asks %q", got)
	}
	b.click("#confirm-ok")
	b.wait("v1.0.0 running again", `document.getElementById('progress-badge').innerText === 'Succeeded' &&
		document.getElementById('cur-version').innerText === 'v1.0.0' &&
		document.getElementById('health').innerText === 'Healthy'`, 3*time.Minute)
	b.wait("the history to show the rollback", `(() => {
		const row = document.querySelector('#history-list .row');
		return row && row.dataset.kind === 'Rollback' && row.innerText.includes('Rolled back v1.1.0 → v1.0.0');
	})()`, 30*time.Second)
	st := h.status(t)
	if len(st.History) == 0 || st.History[0].Kind != status.KindRollback || st.History[0].To != "v1.0.0" {
		t.Errorf("history[0] = %+v, want the rollback to v1.0.0", st.History)
	}
	b.shot("rolled-back-to-previous")
}

// waitFor polls check until it returns nil or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %v", timeout, what, err)
		}
		<-tick.C
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// ---- A fake GitHub ----

// fakeGitHub answers GET /repos/acme/app/releases as api.github.com does:
// its JSON (newest first), an ETag that changes with the list, 304 to a
// matching If-None-Match, and rate-limit headers.
type fakeGitHub struct {
	*httptest.Server
	mu       sync.Mutex
	releases []map[string]any
}

func newFakeGitHub(t *testing.T) *fakeGitHub {
	t.Helper()
	f := &fakeGitHub{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/repos/acme/app/releases" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest"}`)
			return
		}
		f.mu.Lock()
		body, err := json.Marshal(f.releases)
		f.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		etag := fmt.Sprintf(`W/"%x"`, len(body))
		w.Header().Set("ETag", etag)
		w.Header().Set("X-RateLimit-Limit", "60")
		w.Header().Set("X-RateLimit-Remaining", "59")
		w.Header().Set("X-RateLimit-Reset", fmt.Sprint(time.Now().Add(time.Hour).Unix()))
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	}))
	t.Cleanup(f.Close)
	return f
}

// publish adds a release; GitHub lists the newest first.
func (f *fakeGitHub) publish(rel map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases = append([]map[string]any{rel}, f.releases...)
}

func ghRelease(tag, name, published, body string) map[string]any {
	return map[string]any{
		"url":              "https://api.github.com/repos/acme/app/releases/" + tag,
		"html_url":         "https://github.com/acme/app/releases/tag/" + tag,
		"tag_name":         tag,
		"target_commitish": "main",
		"name":             name,
		"body":             body,
		"draft":            false,
		"prerelease":       false,
		"created_at":       published,
		"published_at":     published,
		"author":           map[string]any{"login": "acme-bot", "type": "Bot"},
		"assets":           []map[string]any{},
	}
}
