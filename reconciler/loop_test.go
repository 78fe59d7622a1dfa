package reconciler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/better-paas/updater/spec"
)

// countingReconciler reports each call on a channel, with what the watched
// files held when the call read them (joined by "|"), and returns what the
// test queued.
type countingReconciler struct {
	files   []string
	calls   chan string
	results chan error
	logs    chan logEntry
}

func (c *countingReconciler) Reconcile(context.Context) (Result, error) {
	var err error
	select {
	case err = <-c.results:
	default:
	}
	read := make([]string, len(c.files))
	for i, f := range c.files {
		b, _ := os.ReadFile(f) // through the links, as spec.Load reads; missing reads as ""
		read[i] = string(b)
	}
	c.calls <- strings.Join(read, "|")
	return Result{}, err
}

// logEntry is one line the loop logged, decoded from funcr's JSON.
type logEntry map[string]any

// startLoop runs l; the first reconciles return errs, in order. What the
// loop logs (V(1) included) goes to the test log and to c.logs.
func startLoop(t *testing.T, l *Loop, errs ...error) (*countingReconciler, func()) {
	t.Helper()
	c := &countingReconciler{
		files: append([]string{l.DesiredFile}, l.Files...),
		calls: make(chan string, 16), results: make(chan error, 16), logs: make(chan logEntry, 1024),
	}
	for _, err := range errs {
		c.results <- err
	}
	l.Reconciler = c
	log := funcr.NewJSON(func(obj string) {
		t.Log(obj)
		var e logEntry
		if json.Unmarshal([]byte(obj), &e) == nil {
			select {
			case c.logs <- e:
			default:
			}
		}
	}, funcr.Options{Verbosity: 1})
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), log))
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	return c, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func waitCall(t *testing.T, c *countingReconciler, why string) {
	t.Helper()
	select {
	case <-c.calls:
	case <-time.After(10 * time.Second):
		t.Fatalf("no reconcile %s", why)
	}
}

func noCall(t *testing.T, c *countingReconciler, within time.Duration, why string) {
	t.Helper()
	select {
	case <-c.calls:
		t.Fatalf("unexpected reconcile %s", why)
	case <-time.After(within):
	}
}

// waitContent waits for a reconcile that read want and returns how long
// that took. Reconciles that read something else are skipped: the loop is
// level-triggered, and a burst of renames may well cause an extra one.
func waitContent(t *testing.T, c *countingReconciler, want, why string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(10 * time.Second)
	var seen []string
	for {
		select {
		case got := <-c.calls:
			if got == want {
				return time.Since(start)
			}
			seen = append(seen, got)
		case <-deadline:
			t.Fatalf("no reconcile read %q %s within 10s (reconciles read %q)", want, why, seen)
		}
	}
}

// waitLog waits for a line logged with msg whose "folders" are want.
func waitLog(t *testing.T, c *countingReconciler, msg string, want []string, why string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-c.logs:
			if e["msg"] == msg && slices.Equal(logFolders(e), want) {
				return
			}
		case <-deadline:
			t.Fatalf("no %q with folders %q logged %s within 10s", msg, want, why)
		}
	}
}

func drainLogs(c *countingReconciler) {
	for {
		select {
		case <-c.logs:
		default:
			return
		}
	}
}

func logFolders(e logEntry) []string {
	list, _ := e["folders"].([]any)
	var folders []string
	for _, f := range list {
		s, _ := f.(string)
		folders = append(folders, s)
	}
	return folders
}

// pollRecorder returns a pollHook for a Loop and the channel it reports on.
func pollRecorder() (func(changed bool), chan bool) {
	polls := make(chan bool, 1024)
	return func(changed bool) {
		select {
		case polls <- changed:
		default:
		}
	}, polls
}

// waitPolls waits for n polls that all report changed as want.
func waitPolls(t *testing.T, polls chan bool, n int, want bool, why string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for i := 0; i < n; i++ {
		select {
		case changed := <-polls:
			if changed != want {
				t.Fatalf("poll %d reported changed=%v, want %v %s", i+1, changed, want, why)
			}
		case <-deadline:
			t.Fatalf("only %d of %d polls within 10s %s", i, n, why)
		}
	}
}

// waitPollChange waits for a poll that saw the digest change.
func waitPollChange(t *testing.T, polls chan bool, why string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case changed := <-polls:
			if changed {
				return
			}
		case <-deadline:
			t.Fatalf("no poll saw a change %s within 10s", why)
		}
	}
}

func writeLoopFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// overwriteInPlace writes content over the start of path without
// truncating it first, so a reader never sees an empty file: with the same
// bytes, only the modification time changes.
func overwriteInPlace(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte(content), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// replaceByRename writes content next to path and renames it over path,
// as editors, git and Ansible do.
func replaceByRename(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	writeLoopFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// realPath returns path with its links resolved, as the loop logs it.
func realPath(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// projectConfigMap updates a Kubernetes ConfigMap volume at dir exactly as
// kubelet's AtomicWriter does (pkg/volume/util/atomic_writer.go): the files
// go into a new timestamped folder, each user-visible name is a link to
// ..data/<name>, a link ..data_tmp to the new folder is renamed over ..data,
// and the previous timestamped folder is removed.
func projectConfigMap(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	dataDir := filepath.Join(dir, "..data")
	old, err := os.Readlink(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(ts, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name := range files {
		if _, err := os.Readlink(filepath.Join(dir, name)); errors.Is(err, fs.ErrNotExist) {
			if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dataDir); err != nil {
		t.Fatal(err)
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoopReconcilesOnStartAndOnAtomicReplace(t *testing.T) {
	dir := t.TempDir()
	desired := filepath.Join(dir, "etc", "desired.yaml")
	c, stop := startLoop(t, &Loop{DesiredFile: desired, Resync: time.Hour, Debounce: 10 * time.Millisecond})
	defer stop()
	waitCall(t, c, "on start")

	// spec.Write replaces the file by rename, as editors and Ansible do.
	if err := spec.Write(desired, spec.New("v1.1.0")); err != nil {
		t.Fatal(err)
	}
	waitCall(t, c, "after an atomic replace")

	// A plain rewrite in place is seen too.
	if err := os.WriteFile(desired, []byte("spec: {version: v1.2.0}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCall(t, c, "after an in-place write")

	// Another file in the folder does not trigger a reconcile.
	if err := os.WriteFile(filepath.Join(dir, "etc", "other.yaml"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	noCall(t, c, 300*time.Millisecond, "for an unrelated file")
}

func TestLoopRetriesErrorsWithBackoffAndResyncs(t *testing.T) {
	dir := t.TempDir()
	l := &Loop{DesiredFile: filepath.Join(dir, "desired.yaml"), Resync: 50 * time.Millisecond,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 40 * time.Millisecond}
	var results []error
	l.Reconciled = func(_ Result, err error) { results = append(results, err) }
	c, stop := startLoop(t, l, errors.New("network down"), errors.New("network down"))
	for i := 0; i < 4; i++ { // two failures retried, then resyncs keep coming
		waitCall(t, c, "for retry or resync")
	}
	stop()
	// The fourth call proves the loop went on after the success; by then
	// the first three have been reported (one reconcile at a time).
	if len(results) < 3 || results[0] == nil || results[1] == nil || results[2] != nil {
		t.Errorf("results = %v", results)
	}
	if got := l.backoff(1); got != 20*time.Millisecond {
		t.Errorf("backoff(1) = %v", got)
	}
	if got := l.backoff(10); got != 40*time.Millisecond {
		t.Errorf("backoff(10) = %v, want capped at MaxBackoff", got)
	}
	for i := 0; i < 100; i++ {
		if j := jitter(time.Minute); j < 54*time.Second || j > 66*time.Second {
			t.Fatalf("jitter(1m) = %v, outside ±10%%", j)
		}
	}
}

// The fsnotify tests below set Resync and Poll to an hour, so only the
// watch can be what noticed a change.

func TestLoopSeesChangesAfterFolderIsRecreated(t *testing.T) {
	etc := filepath.Join(realPath(t, t.TempDir()), "etc")
	dir := filepath.Join(etc, "better-paas")
	desired := filepath.Join(dir, "desired.yaml")
	writeLoopFile(t, desired, "v1")
	c, stop := startLoop(t, &Loop{DesiredFile: desired, Resync: time.Hour, Poll: time.Hour, Debounce: 10 * time.Millisecond})
	defer stop()
	waitContent(t, c, "v1", "on start")

	// A config-management tool replaces the folder in one go.
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	writeLoopFile(t, desired, "v2") // mkdir, then write
	waitContent(t, c, "v2", "after the folder was replaced")
	writeLoopFile(t, desired, "v3")
	waitContent(t, c, "v3", "for an edit in the new folder")

	// Step by step: while the folder is gone its parent is watched, and
	// once it is back the folder is watched again.
	drainLogs(c)
	if err := os.Rename(dir, dir+".older"); err != nil {
		t.Fatal(err)
	}
	waitLog(t, c, "Re-established watch", []string{etc}, "when the folder went away")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	waitLog(t, c, "Re-established watch", []string{dir}, "when the folder came back")
	writeLoopFile(t, desired, "v4")
	d := waitContent(t, c, "v4", "for a file written into the recreated folder")
	t.Logf("reaction: %v from the write to the reconcile (debounce 10ms)", d)
}

func TestLoopFollowsConfigMapStyleSymlinkSwap(t *testing.T) {
	vol := filepath.Join(realPath(t, t.TempDir()), "config")
	if err := os.Mkdir(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	// desired.yaml -> ..data/desired.yaml, ..data -> ..2026_11_30_..., as kubelet mounts a ConfigMap.
	projectConfigMap(t, vol, map[string]string{"desired.yaml": "v1", "other.yaml": "x"})
	desired := filepath.Join(vol, "desired.yaml")
	c, stop := startLoop(t, &Loop{DesiredFile: desired, Resync: time.Hour, Poll: time.Hour, Debounce: 10 * time.Millisecond})
	defer stop()
	waitContent(t, c, "v1", "on start")

	projectConfigMap(t, vol, map[string]string{"desired.yaml": "v2", "other.yaml": "x"})
	d := waitContent(t, c, "v2", "after kubelet swapped ..data")
	t.Logf("reaction: %v from the ..data swap to the reconcile (debounce 10ms)", d)
	// The chain is resolved again after the swap, so the next one is seen too.
	projectConfigMap(t, vol, map[string]string{"desired.yaml": "v3", "other.yaml": "x"})
	waitContent(t, c, "v3", "after a second swap")
	ts, err := os.Readlink(filepath.Join(vol, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	waitLog(t, c, "Re-established watch", []string{vol, filepath.Join(vol, ts)}, "for the new timestamped folder")
}

func TestLoopFollowsSymlinkIntoAnotherFolder(t *testing.T) {
	root := realPath(t, t.TempDir())
	web1 := filepath.Join(root, "fleet", "hosts", "web1", "desired.yaml")
	web2 := filepath.Join(root, "fleet", "hosts", "web2", "desired.yaml")
	writeLoopFile(t, web1, "v1")
	writeLoopFile(t, web2, "w1")
	etc := filepath.Join(root, "etc")
	desired := filepath.Join(etc, "desired.yaml")
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../fleet/hosts/web1/desired.yaml", desired); err != nil {
		t.Fatal(err)
	}
	c, stop := startLoop(t, &Loop{DesiredFile: desired, Resync: time.Hour, Poll: time.Hour, Debounce: 10 * time.Millisecond})
	defer stop()
	waitContent(t, c, "v1", "on start")

	writeLoopFile(t, web1, "v2") // edited in place
	d := waitContent(t, c, "v2", "after the link's target was edited in place")
	t.Logf("reaction: %v from the write to the target to the reconcile (debounce 10ms)", d)
	replaceByRename(t, web1, "v3") // replaced by rename, as git checkout does
	waitContent(t, c, "v3", "after the link's target was replaced by rename")

	// The link itself is re-pointed (ln -sfn): from then on the new
	// target's folder is the one that matters.
	tmp := filepath.Join(etc, ".desired.yaml.tmp")
	if err := os.Symlink("../fleet/hosts/web2/desired.yaml", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, desired); err != nil {
		t.Fatal(err)
	}
	waitContent(t, c, "w1", "after the link was re-pointed")
	writeLoopFile(t, web2, "w2")
	waitContent(t, c, "w2", "after the new target was edited in place")
	waitLog(t, c, "Re-established watch", []string{etc, filepath.Dir(web2)}, "for the new target's folder")
}

// linkedElsewhere writes desired.yaml ("v1") and a hard link to it in a
// folder the loop does not watch, through which a test can write unseen.
func linkedElsewhere(t *testing.T) (desired, elsewhere string) {
	t.Helper()
	root := t.TempDir()
	desired = filepath.Join(root, "etc", "desired.yaml")
	writeLoopFile(t, desired, "v1")
	elsewhere = filepath.Join(root, "elsewhere", "desired.yaml")
	if err := os.Mkdir(filepath.Dir(elsewhere), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(desired, elsewhere); err != nil {
		t.Fatal(err)
	}
	return desired, elsewhere
}

// A write through a hard link in another folder is reported by inotify to
// that folder only, so the watch on desired.yaml's folder never sees it
// (as with a bind mount of the file, or an overflowed event queue): the
// poll must.
func TestLoopPollCatchesWhatTheWatchMissed(t *testing.T) {
	desired, elsewhere := linkedElsewhere(t)
	hook, polls := pollRecorder()
	l := &Loop{DesiredFile: desired, Resync: time.Hour, Poll: 50 * time.Millisecond, Debounce: 10 * time.Millisecond, pollHook: hook}
	c, stop := startLoop(t, l)
	defer stop()
	waitContent(t, c, "v1", "on start")

	written := time.Now()
	overwriteInPlace(t, elsewhere, "v2")
	waitPollChange(t, polls, "after a write the watch cannot see")
	waitContent(t, c, "v2", "after the poll saw the digest change")
	t.Logf("reaction: %v from the unseen write to the reconcile (poll 50ms, debounce 10ms)", time.Since(written))
}

func TestLoopIdlePollDoesNotReconcile(t *testing.T) {
	desired, elsewhere := linkedElsewhere(t)
	hook, polls := pollRecorder()
	l := &Loop{DesiredFile: desired, Resync: time.Hour, Poll: 20 * time.Millisecond, Debounce: 10 * time.Millisecond, pollHook: hook}
	c, stop := startLoop(t, l)
	defer stop()
	waitContent(t, c, "v1", "on start")

	waitPolls(t, polls, 5, false, "while nothing changed")
	// The same bytes written again (unseen by the watch): the modification
	// time changes, the digest does not.
	overwriteInPlace(t, elsewhere, "v1")
	waitPolls(t, polls, 5, false, "after the same content was written again")
	if n := len(c.calls); n != 0 {
		t.Fatalf("%d reconciles while the content of desired.yaml did not change", n)
	}

	// The same poll does notice a real change.
	overwriteInPlace(t, elsewhere, "v2")
	waitPollChange(t, polls, "after the content changed")
	waitContent(t, c, "v2", "after the poll saw the digest change")
}

func TestLoopWatchesAdditionalFiles(t *testing.T) {
	root := realPath(t, t.TempDir())
	etc := filepath.Join(root, "etc")
	desired := filepath.Join(etc, "desired.yaml")
	writeLoopFile(t, desired, "v1")
	state := filepath.Join(root, "var", "lib", "better-paas") // does not exist yet
	request := filepath.Join(state, "request.yaml")
	c, stop := startLoop(t, &Loop{DesiredFile: desired, Files: []string{request},
		Resync: time.Hour, Poll: time.Hour, Debounce: 10 * time.Millisecond})
	defer stop()
	waitContent(t, c, "v1|", "on start")

	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	waitLog(t, c, "Re-established watch", []string{etc, state}, "once the state folder exists")
	writeLoopFile(t, request, "r1")
	waitContent(t, c, "v1|r1", "after the request file was written")
	replaceByRename(t, request, "r2")
	waitContent(t, c, "v1|r2", "after the request file was replaced")
	if err := os.Remove(request); err != nil {
		t.Fatal(err)
	}
	waitContent(t, c, "v1|", "after the request file was removed")
}

// TestLoopWakesOnAppExitButNotDuringBackoff: a value on Wake (the exec
// supervisor's Exits) enqueues a reconcile at once, long before the
// resync; while a failure waits out its backoff a wake is ignored, so an
// app that keeps crashing cannot make the loop spin.
func TestLoopWakesOnAppExitButNotDuringBackoff(t *testing.T) {
	wake := make(chan struct{}, 1)
	l := &Loop{DesiredFile: filepath.Join(t.TempDir(), "desired.yaml"), Resync: time.Hour, Poll: time.Hour,
		Debounce: 10 * time.Millisecond, MinBackoff: time.Hour, MaxBackoff: time.Hour, Wake: wake}
	c, stop := startLoop(t, l)
	defer stop()
	waitCall(t, c, "on start")

	wake <- struct{}{}
	waitCall(t, c, "after a wake")

	c.results <- errors.New("app crashed again")
	wake <- struct{}{}
	waitCall(t, c, "after the second wake (it fails: backoff of an hour)")
	wake <- struct{}{}
	noCall(t, c, 300*time.Millisecond, "after a wake during the backoff")
}

// TestLoopActsOnARenameAtOnceButNeverOnAHalfWrittenFile: a desired.yaml
// renamed into place (every atomic writer: spec.Write, editors, Ansible)
// is reconciled at once, without waiting for the debounce; an in-place
// edit (truncate, then writes, as `echo >` and `cat >` do) and an in-place
// create are only ever reconciled after the debounce, so a reconcile never
// reads them half-written. The debounce here is an hour: a reconcile
// that reads a file must have come from the immediate path.
func TestLoopActsOnARenameAtOnceButNeverOnAHalfWrittenFile(t *testing.T) {
	dir := t.TempDir()
	desired := filepath.Join(dir, "desired.yaml")
	writeLoopFile(t, desired, "v0")
	type decision struct {
		op  fsnotify.Op
		now bool
	}
	decisions := make(chan decision, 64)
	l := &Loop{DesiredFile: desired, Resync: time.Hour, Poll: time.Hour, Debounce: time.Hour,
		eventHook: func(ev fsnotify.Event, now bool) { decisions <- decision{ev.Op, now} }}
	c, stop := startLoop(t, l)
	defer stop()
	waitContent(t, c, "v0", "on start")

	for i := range 20 {
		want := fmt.Sprintf("renamed %d", i)
		replaceByRename(t, desired, want)
		if got := recv(t, c.calls, "after rename "+want); got != want {
			t.Fatalf("the reconcile after rename %d read %q", i, got)
		}
		if d := recv(t, decisions, "rename "+want); !d.now || !d.op.Has(fsnotify.Create) {
			t.Fatalf("rename %d: event %s enqueued at once = %v", i, d.op, d.now)
		}
	}

	// In place: truncate, write half, write the rest. Every event it raises
	// waits for the debounce; the half never reaches a reconcile.
	f, err := os.OpenFile(desired, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{"spec: {version: v1.2", ".10}\n"} {
		if _, err := f.WriteString(part); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// And a file created in place (removed first, then written).
	if err := os.Remove(desired); err != nil {
		t.Fatal(err)
	}
	writeLoopFile(t, desired, "created")
	// A rename afterwards is acted on at once; being in order, it shows
	// every earlier event was seen, and none of them reconciled.
	replaceByRename(t, desired, "final")
	if got := recv(t, c.calls, "after the final rename"); got != "final" {
		t.Fatalf("a reconcile read %q: an in-place edit was acted on before the debounce", got)
	}
	immediate := 0
	for {
		d := recv(t, decisions, "the final rename")
		if !d.now {
			if !d.op.Has(fsnotify.Write) && !d.op.Has(fsnotify.Remove) && !d.op.Has(fsnotify.Create) && !d.op.Has(fsnotify.Chmod) {
				t.Errorf("debounced an unexpected event %s", d.op)
			}
			continue
		}
		immediate++
		if !d.op.Has(fsnotify.Create) {
			t.Errorf("acted at once on %s", d.op)
		}
		break
	}
	if immediate != 1 {
		t.Errorf("%d events acted on at once, want only the final rename", immediate)
	}
}

// recv receives from ch, failing the test after 10 s.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("nothing within 10s: %s", what)
		panic("unreachable")
	}
}
