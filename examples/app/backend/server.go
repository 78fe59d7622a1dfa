package main

import (
	"encoding/json"
	"net/http"
	"sync"
)

// server holds what the handlers share.
type server struct {
	dataDir     string
	frontendDir string

	// notesMu serialises the read-modify-write of app.db.json.
	notesMu sync.Mutex
}

func newServer(cfg config) *server {
	return &server{dataDir: cfg.dataDir, frontendDir: cfg.frontendDir}
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", s.handleHealth)
	mux.HandleFunc("GET /api/notes", s.handleListNotes)
	mux.HandleFunc("POST /api/notes", s.handleAddNote)
	mux.Handle("GET /", http.FileServer(http.Dir(s.frontendDir)))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type errorResponse struct {
	Error string `json:"error"`
}
