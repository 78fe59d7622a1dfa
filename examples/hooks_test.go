package examples_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/better-paas/updater/hooks"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/reconciler"
)

// exampleHooks copies examples/hooks into a fresh folder with mode 0755 (a
// checkout made under umask 002 leaves them group-writable, which the
// updater refuses, rightly) and returns it, after checking that each
// shipped script is executable and parses under bash and sh.
func exampleHooks(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir("hooks")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	for _, e := range entries {
		src := filepath.Join("hooks", e.Name())
		if strings.HasSuffix(e.Name(), ".md") {
			continue
		}
		fi, err := os.Stat(src)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o111 == 0 {
			t.Errorf("%s is not executable; chmod +x it", src)
		}
		for _, sh := range []string{"bash", "sh"} {
			if out, err := exec.Command(sh, "-n", src).CombinedOutput(); err != nil {
				t.Errorf("%s -n %s: %v\n%s", sh, src, err, out)
			}
		}
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), data, 0o755); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Errorf("examples/hooks has %d scripts, want 3", n)
	}
	return dir
}

// TestExampleHooksAreValid: the example scripts have names the updater
// accepts, for states the example updater.yaml's update has.
func TestExampleHooksAreValid(t *testing.T) {
	dir := exampleHooks(t)
	scripts, err := hooks.Discover(dir)
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	data, err := os.ReadFile(filepath.Join("config", "updater.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("/etc/better-paas/updater.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	if err := hooks.ValidateStates(scripts, reconciler.StepNames(cfg)...); err != nil {
		t.Errorf("ValidateStates: %v", err)
	}
	got := map[string]bool{}
	for _, s := range scripts {
		got[s.State+"_"+string(s.Action)] = true
	}
	for _, want := range []string{"Backup_Enter", "Health_Enter", "Rollback_Leave"} {
		if !got[want] {
			t.Errorf("no %s script among %v", want, scripts)
		}
	}
}

// TestExampleSQLiteBackup runs the Backup_Enter script on a real database
// through the hook runner: the copy is a database with the same rows.
func TestExampleSQLiteBackup(t *testing.T) {
	if _, err := exec.LookPath("sqlite3"); err != nil {
		t.Skip("sqlite3 is not installed")
	}
	dir := exampleHooks(t)
	data, out := t.TempDir(), filepath.Join(t.TempDir(), "backups")
	db := filepath.Join(data, "app.db")
	if b, err := exec.Command("sqlite3", db, "PRAGMA journal_mode=WAL; CREATE TABLE notes(text); INSERT INTO notes VALUES ('keep me'), ('and me');").CombinedOutput(); err != nil {
		t.Fatalf("sqlite3: %v\n%s", err, b)
	}
	r := hooks.Runner{Dir: dir, Env: []string{"SQLITE_DB=" + db, "SQLITE_BACKUP_DIR=" + out}}
	if err := r.Run(context.Background(), "backup", hooks.ActionEnter, map[string]string{"OPERATION": "20260101T000000Z-v1.1.0"}); err != nil {
		t.Fatalf("Backup_Enter: %v", err)
	}
	copied := filepath.Join(out, "app-20260101T000000Z-v1.1.0.db")
	b, err := exec.Command("sqlite3", copied, "SELECT group_concat(text, ',') FROM notes;").CombinedOutput()
	if err != nil || strings.TrimSpace(string(b)) != "keep me,and me" {
		t.Errorf("backup %s holds %q, %v; want the two notes", copied, b, err)
	}
	if _, err := os.Stat(copied + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary copy left behind: %v", err)
	}
}

// TestExampleSmokeTest runs the Health_Enter script against a real HTTP
// server: it passes when the page has the expected text and fails the step
// when it does not.
func TestExampleSmokeTest(t *testing.T) {
	dir := exampleHooks(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<title>Better-PaaS</title>")
	}))
	defer srv.Close()
	run := func(expect string) error {
		r := hooks.Runner{Dir: dir, Env: []string{"SMOKE_URL=" + srv.URL, "SMOKE_EXPECT=" + expect, "SMOKE_WAIT=2"}}
		return r.Run(context.Background(), "health", hooks.ActionEnter, map[string]string{"TO_VERSION": "v1.1.0"})
	}
	if err := run("Better-PaaS"); err != nil {
		t.Errorf("smoke test of a good page: %v", err)
	}
	err := run("Dashboard")
	var se *hooks.ScriptError
	if !errors.As(err, &se) || se.Code != 1 || !strings.Contains(se.Tail, `does not contain "Dashboard"`) {
		t.Errorf("smoke test of a page without the text: %v (%+v), want exit 1 saying why", err, se)
	}
}

// TestExampleRollbackWebhook runs the Rollback_Leave script against a real
// HTTP server: one POST of JSON that says what was rolled back and why.
func TestExampleRollbackWebhook(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	dir := exampleHooks(t)
	var mu sync.Mutex
	var got []map[string]string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var body map[string]string
		err := json.NewDecoder(req.Body).Decode(&body)
		if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" || err != nil {
			t.Errorf("webhook got %s %s (%v)", req.Method, req.Header.Get("Content-Type"), err)
		}
		mu.Lock()
		got = append(got, body)
		mu.Unlock()
	}))
	defer srv.Close()
	r := hooks.Runner{Dir: dir, Env: []string{"ROLLBACK_WEBHOOK_URL=" + srv.URL + "/hook"}}
	err := r.Run(context.Background(), "rollback", hooks.ActionLeave, map[string]string{
		"OPERATION": "op-1", "FROM_VERSION": "v1.0.0", "TO_VERSION": "v1.2.0",
		"FAILED_STEP": "health", "FAILURE_REASON": "HealthCheckFailed", "FAILURE_MESSAGE": "answered 503 \"unavailable\"\nthree times",
	})
	if err != nil {
		t.Fatalf("Rollback_Leave: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("webhook called %d times, want once", len(got))
	}
	b := got[0]
	if b["to"] != "v1.2.0" || b["failedStep"] != "health" || b["reason"] != "HealthCheckFailed" || !strings.Contains(b["message"], `"unavailable"`) ||
		!strings.Contains(b["text"], "v1.0.0 -> v1.2.0 failed at health") {
		t.Errorf("payload = %v", b)
	}

	noURL := hooks.Runner{Dir: dir}
	if err := noURL.Run(context.Background(), "rollback", hooks.ActionLeave, nil); err == nil {
		t.Error("the webhook script succeeded without ROLLBACK_WEBHOOK_URL")
	}
}
