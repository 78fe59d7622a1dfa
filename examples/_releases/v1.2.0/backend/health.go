package main

import (
	"net/http"
	"os"
)

// publicURL is where users reach the app; share links are built from it.
//
// BUG(v1.2.0): there is no default, so on a host that does not set
// PUBLIC_URL the app never reports healthy. This is the broken release of
// the demo; v1.2.1 would fall back to http://ADDR.
var publicURL = os.Getenv("PUBLIC_URL")

// healthResponse is the body of GET /api/health. The updater reads status
// and version to decide whether an update succeeded.
type healthResponse struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	Reason  string `json:"reason,omitempty"`
}

// handleHealth answers 200 once the server is ready to take requests, and
// 503 while its configuration is incomplete.
func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if publicURL == "" {
		writeJSON(w, http.StatusServiceUnavailable, healthResponse{
			Status: "unavailable", Version: version, Reason: "PUBLIC_URL is not set",
		})
		return
	}
	writeJSON(w, http.StatusOK, healthResponse{Status: "ok", Version: version})
}
