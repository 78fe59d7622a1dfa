package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// newTestServer returns a server over a freshly migrated data folder.
func newTestServer(t *testing.T) *server {
	t.Helper()
	cfg := config{dataDir: t.TempDir(), frontendDir: t.TempDir()}
	if err := migrate(cfg.dataDir, migrations); err != nil {
		t.Fatal(err)
	}
	return newServer(cfg)
}

func TestHealth(t *testing.T) {
	version = "v9.9.9"
	// The fixture sets PUBLIC_URL, which is how the missing default slipped
	// through review: the test passes, production answers 503.
	publicURL = "https://notes.example.test"
	t.Cleanup(func() { version, publicURL = "dev", "" })

	rec := httptest.NewRecorder()
	newTestServer(t).routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/health", nil))

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %s", rec.Code, rec.Body)
	}
	var got healthResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if want := (healthResponse{Status: "ok", Version: "v9.9.9"}); got != want {
		t.Errorf("health = %+v, want %+v", got, want)
	}
}

func TestAddNote(t *testing.T) {
	h := newTestServer(t).routes()

	tests := []struct {
		body string
		want int
	}{
		{`{"text": "first"}`, http.StatusCreated},
		{`{"text": "  "}`, http.StatusBadRequest},
		{`not json`, http.StatusBadRequest},
		{`{"text": "second"}`, http.StatusCreated},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/notes", strings.NewReader(tt.body)))
		if rec.Code != tt.want {
			t.Errorf("POST %s: status = %d, want %d; body %s", tt.body, rec.Code, tt.want, rec.Body)
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/notes", nil))
	var got struct{ Notes []note }
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Notes) != 2 || got.Notes[0].Text != "first" || got.Notes[1].ID != 2 {
		t.Errorf("notes = %+v, want first (id 1) and second (id 2)", got.Notes)
	}
}
