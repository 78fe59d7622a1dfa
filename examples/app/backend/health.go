package main

import "net/http"

// healthResponse is the body of GET /api/health. The updater reads status
// and version to decide whether an update succeeded.
type healthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	Reason  string `json:"reason,omitempty"`
}

// handleHealth answers 200 once the server is ready to take requests. Boot
// (migrations) finishes before the listener opens, so reaching this handler
// means ready.
func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthResponse{Status: "ok", Version: version})
}
