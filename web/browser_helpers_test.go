package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// skipEndToEnd skips tests that build and run real things under -short,
// in the words of the other end-to-end tests.
func skipEndToEnd(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end: real builds and a real browser; run make test")
	}
}

// chromiumPath finds Debian's chromium (scripts/ensure-deps.sh installs it);
// the test is skipped, saying how to get it, when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("chromium is not installed: run make deps (scripts/ensure-deps.sh installs Debian's chromium)")
	return ""
}

// artifactsDir is where screenshots go: $TEST_ARTIFACTS/<test> when set
// (CI keeps it), else a folder of the test's own.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	dir = filepath.Join(dir, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one tab of a headless Chromium started for one test, with
// the flags this machine's closed network needs and a fresh profile.
type browser struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
	shots     int

	mu       sync.Mutex
	problems []string // exceptions and CSP violations the page reported
	console  []string // everything it reported, for a failure message
}

func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	exe := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		// Chromium's own temporary folders (its singleton socket) go
		// where the test's do, and are removed with them.
		chromedp.Env("TMPDIR=" + t.TempDir()),
		chromedp.WindowSize(width, height),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx, artifacts: artifactsDir(t)}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser, then listen to the console from the first page on.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), int64(height))); err != nil {
		t.Fatalf("cannot start %s: %v", exe, err)
	}
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			line := m.String()
			b.mu.Lock()
			b.console = append(b.console, line)
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") {
				b.problems = append(b.problems, line)
			}
			b.mu.Unlock()
		}
	}()
	t.Logf("screenshots of %s go to %s", t.Name(), b.artifacts)
	return b
}

// do runs actions, failing the test with a screenshot when one fails.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

// click clicks the element sel names once it is visible.
func (b *browser) click(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.fail("cannot click %s: %v", sel, err)
	}
}

// eval evaluates a JavaScript expression and decodes its value into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.fail("cannot evaluate %s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript condition until it holds or timeout passes; on
// timeout the test fails with what the page showed and a screenshot.
func (b *browser) wait(what, cond string, timeout time.Duration) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		b.fail("waiting %s for %s (%s): %v", timeout, what, cond, err)
	}
}

// text is the visible text of the first element sel matches ("" when none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	return eval[string](b, fmt.Sprintf(`(document.querySelector(%s) || {innerText: ''}).innerText`, jsString(sel)))
}

// shot writes a PNG of the whole page into the artifacts folder and
// returns its path.
func (b *browser) shot(name string) string {
	b.t.Helper()
	return b.capture(name, chromedp.FullScreenshot(100))
}

// viewShot writes a PNG of what the viewport shows.
func (b *browser) viewShot(name string) string {
	b.t.Helper()
	return b.capture(name, chromedp.CaptureScreenshot())
}

func (b *browser) capture(name string, action chromedp.Action[[]byte]) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, action)
	if err != nil {
		b.t.Errorf("cannot take screenshot %s: %v", name, err)
		return ""
	}
	b.shots++
	path := filepath.Join(b.artifacts, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Errorf("cannot write %s: %v", path, err)
	}
	return path
}

// colorScheme emulates prefers-color-scheme.
func (b *browser) colorScheme(scheme string) {
	b.t.Helper()
	b.do("emulate prefers-color-scheme: "+scheme, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	}))
	// Colours fade on buttons; a screenshot waits until they are done.
	b.wait("the colours to settle", `document.getAnimations().every(a => !(a instanceof CSSTransition))`, 5*time.Second)
}

// localize makes the page's clock read in the time zone tz (an IANA name)
// and its words in locale (ICU style, "en_US"), as a browser set up so
// would: Intl formats with them. Call it before the page loads; its
// formatters are made once.
func (b *browser) localize(tz, locale string) {
	b.t.Helper()
	b.do("emulate the time zone "+tz+" and the locale "+locale, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: tz}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: locale})
		return err
	}))
}

// holdRequests pauses the page's requests whose URL matches pattern (a
// DevTools URL pattern such as "*/api/v1/status*") until release is
// called. The page then shows a state older than the server's on purpose,
// so a test can stage a conflict without racing the page's refreshes.
func (b *browser) holdRequests(pattern string) (release func()) {
	b.t.Helper()
	ctx, stop := context.WithCancel(b.ctx)
	paused := chromedp.Events(ctx, fetch.RequestPaused) // subscribed before any request can pause
	var mu sync.Mutex
	var held []fetch.RequestID
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for ev, err := range paused {
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, ev.RequestID)
			mu.Unlock()
		}
	}()
	b.do("hold requests to "+pattern, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern}}})
		return err
	}))
	return func() {
		b.t.Helper()
		// Stop pausing, then let every held request go on.
		if _, err := chromedp.Call(b.ctx, fetch.Disable, cdp.Empty{}); err != nil {
			b.t.Errorf("cannot stop holding requests: %v", err)
		}
		stop()
		<-collected
		for _, id := range held {
			// A request the page gave up on cannot be continued: fine.
			_, _ = chromedp.Call(b.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
		}
	}
}

// fail takes a screenshot and ends the test with msg, what the page shows
// and what it wrote to its console.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	shot := b.shot("failure")
	page, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	b.mu.Lock()
	console := strings.Join(b.console, "\n")
	b.mu.Unlock()
	b.t.Fatalf("%s\n--- the page shows:\n%s\n--- console:\n%s\n--- screenshot: %s", fmt.Sprintf(format, args...), page, console, shot)
}

// checkConsole fails the test when the page threw an exception or broke
// its Content-Security-Policy.
func (b *browser) checkConsole() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("the page reported: %s", p)
	}
}

func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// stepOrder reads the steps the progress card shows, in order, each as
// "name=state".
func stepOrder(b *browser) []string {
	return eval[[]string](b, `[...document.querySelectorAll('#steps .step')].map(li => li.dataset.step + '=' + li.dataset.state)`)
}
