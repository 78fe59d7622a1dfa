package fleet

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/better-paas/updater/status"
)

// TestWebhook: a POST syncs at once and answers the record; other
// methods are refused; an unreachable repo is a 502.
func TestWebhook(t *testing.T) {
	t.Parallel()
	r := newFleetRepo(t)
	commit := r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.0.0")})
	h := newHost(t, r.Bare, "web-1", "")
	srv := httptest.NewServer(WebhookHandler(h.syncer(t)))
	defer srv.Close()
	post := func(url string) (int, WebhookAnswer) {
		t.Helper()
		resp, err := http.Post(url, "application/json", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ans WebhookAnswer
		if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, ans
	}
	code, ans := post(srv.URL)
	if code != http.StatusAccepted || ans.Fleet.Result != status.FleetApplied || ans.Fleet.Commit != commit || ans.Error != "" {
		t.Fatalf("POST = %d %+v", code, ans)
	}
	if v := desiredVersion(t, h); v != "v1.0.0" {
		t.Errorf("desired.yaml asks for %s", v)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET = %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}

	gone := newHost(t, filepath.Join(t.TempDir(), "gone.git"), "web-2", "")
	srv2 := httptest.NewServer(WebhookHandler(gone.syncer(t)))
	defer srv2.Close()
	if code, ans := post(srv2.URL); code != http.StatusBadGateway || ans.Fleet.Reason != ReasonUnreachable || ans.Error == "" {
		t.Errorf("POST to an unreachable fleet = %d %+v", code, ans)
	}
	r.commit(map[string]string{"fleet/desired.yaml": "kind: Nonsense\n"})
	if code, ans := post(srv.URL); code != http.StatusUnprocessableEntity || ans.Fleet.Reason != ReasonInvalidFile {
		t.Errorf("POST after an invalid commit = %d %+v", code, ans)
	}
}

// TestRun: Run syncs at start and again when woken.
func TestRun(t *testing.T) {
	t.Parallel()
	r := newFleetRepo(t)
	r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.0.0")})
	h := newHost(t, r.Bare, "web-1", "")
	synced := make(chan status.FleetStatus)
	s, err := New(Options{Source: h.Source, DesiredFile: h.Desired, StatusPath: h.Status, CloneDir: CloneDir(h.State),
		Synced: func(res status.FleetStatus, _ error) { synced <- res }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	wake := make(chan struct{})
	go func() { defer close(done); s.Run(ctx, time.Hour, wake) }()
	if res := <-synced; res.Result != status.FleetApplied {
		t.Fatalf("first sync = %+v", res)
	}
	r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.1.0")})
	wake <- struct{}{}
	if res := <-synced; res.Result != status.FleetApplied || res.Applied == nil || res.Applied.Version != "v1.1.0" {
		t.Fatalf("woken sync = %+v", res)
	}
	cancel()
	<-done
	if v := desiredVersion(t, h); v != "v1.1.0" {
		t.Errorf("desired.yaml asks for %s", v)
	}
}
