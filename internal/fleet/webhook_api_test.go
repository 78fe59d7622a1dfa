package fleet

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/better-paas/updater/api"
	"github.com/better-paas/updater/internal/apitoken"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/status"
)

// TestAPIWire: POST /api/v1/fleet/sync goes through the API's guard (no
// token: 401) and, with the token, syncs the fleet repo (202 Applied).
func TestAPIWire(t *testing.T) {
	r := newFleetRepo(t)
	r.commit(map[string]string{"fleet/desired.yaml": plainFile("v1.0.0")})
	dir := t.TempDir()
	cfg, err := config.Parse(filepath.Join(dir, "updater.yaml"), []byte(fmt.Sprintf(`apiVersion: updates.better-paas.io/v1
kind: UpdaterConfig
installDir: %s
stateDir: %s
build:
  backend:
    command: ["go", "build", "-o", "$(OUTPUT)", "./backend"]
health:
  url: http://127.0.0.1:8080/api/health
api:
  listen: 127.0.0.1:0
desiredFrom:
  git:
    url: %s
    hostname: web-1
`, filepath.Join(dir, "install"), filepath.Join(dir, "state"), r.Bare)))
	if err != nil {
		t.Fatal(err)
	}
	l := layout.New(cfg)
	if err := l.Create(); err != nil {
		t.Fatal(err)
	}
	tok, err := apitoken.Create(l.APIToken)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Source: *cfg.DesiredFrom.Git, DesiredFile: cfg.DesiredFile, StatusPath: l.Status, CloneDir: CloneDir(cfg.StateDir)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.New(api.Options{Config: cfg, Layout: l, Verifier: apitoken.NewVerifier(l.APIToken), Fleet: WebhookHandler(s)}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/fleet/sync", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, srv.URL+"/api/v1/fleet/sync", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ans WebhookAnswer
	json.NewDecoder(resp.Body).Decode(&ans)
	if resp.StatusCode != http.StatusAccepted || ans.Fleet.Result != status.FleetApplied {
		t.Errorf("with token: %d %+v", resp.StatusCode, ans)
	}
}
