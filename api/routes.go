package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/spec"
	"github.com/better-paas/updater/status"
)

// maxBody bounds a request body, bodyTimeout the time to read it.
const (
	maxBody     = 64 << 10
	bodyTimeout = 30 * time.Second
)

// StatusAnswer is GET /api/v1/status.
type StatusAnswer struct {
	Desired desired.State `json:"desired"`
	// Status is status.yaml as status.VersionStatus marshals it; an empty
	// document before the daemon first reconciled; null when it cannot be
	// read, with StatusError saying why.
	Status      *status.VersionStatus `json:"status"`
	StatusError string                `json:"statusError,omitempty"`
}

// DesiredAnswer is the answer of the routes that write desired.yaml.
type DesiredAnswer struct {
	Desired desired.State `json:"desired"`
	// Version is the version rolled back to (rollback) or retried (retry,
	// in words); absent for update.
	Version string `json:"version,omitempty"`
}

// HistoryAnswer is GET /api/v1/history.
type HistoryAnswer struct {
	History []status.HistoryEntry `json:"history"`
}

func (s *server) getStatus(w http.ResponseWriter, r *http.Request) {
	ans := StatusAnswer{Desired: desired.Read(s.cfg.DesiredFile)}
	st, err := s.loadStatus()
	if err != nil {
		ans.StatusError = err.Error()
	} else {
		ans.Status = st
	}
	writeJSON(w, http.StatusOK, ans)
}

// loadStatus reads status.yaml; a missing one is an empty document.
func (s *server) loadStatus() (*status.VersionStatus, error) {
	st, err := status.Load(s.layout.Status)
	if errors.Is(err, fs.ErrNotExist) {
		return status.New(), nil
	}
	return st, err
}

func (s *server) getReleases(w http.ResponseWriter, r *http.Request) {
	refresh := false
	if v := r.URL.Query().Get("refresh"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("refresh=%q: use refresh=true to ask the source now, bypassing the cache", v))
			return
		}
		refresh = b
	}
	res, err := reconciler.Check(r.Context(), s.cfg, s.source, refresh)
	if err != nil {
		s.log.Error(err, "Cannot check for updates for the API")
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *server) getHistory(w http.ResponseWriter, r *http.Request) {
	st, err := s.loadStatus()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, err.Error()+"; the daemon rebuilds it at its next reconcile")
		return
	}
	h := st.History
	if h == nil {
		h = []status.HistoryEntry{}
	}
	writeJSON(w, http.StatusOK, HistoryAnswer{History: h})
}

func (s *server) getBackups(w http.ResponseWriter, r *http.Request) {
	list, err := reconciler.ListBackups(r.Context(), s.cfg)
	if err != nil {
		s.log.Error(err, "Cannot list backups for the API")
		writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *server) getEvents(w http.ResponseWriter, r *http.Request) {
	if s.events == nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "this daemon has no event stream; poll GET /api/v1/status instead")
		return
	}
	s.events.ServeHTTP(w, r)
}

// updateRequest is POST /api/v1/update.
type updateRequest struct {
	Version      string `json:"version"`
	IfGeneration string `json:"ifGeneration"`
}

func (s *server) postUpdate(w http.ResponseWriter, r *http.Request) {
	var req updateRequest
	if !s.decode(w, r, &req) || !validGeneration(w, req.IfGeneration) {
		return
	}
	st, err := desired.Set(s.cfg.DesiredFile, req.IfGeneration, desired.SetOptions{Version: req.Version})
	if err != nil {
		s.editFailed(w, err)
		return
	}
	s.log.Info("Set the desired version through the API", "desiredVersion", req.Version, "client", r.RemoteAddr)
	writeJSON(w, http.StatusOK, DesiredAnswer{Desired: st})
}

// rollbackRequest is POST /api/v1/rollback.
type rollbackRequest struct {
	IfGeneration string `json:"ifGeneration"`
}

func (s *server) postRollback(w http.ResponseWriter, r *http.Request) {
	var req rollbackRequest
	if !s.decode(w, r, &req) || !validGeneration(w, req.IfGeneration) {
		return
	}
	st, version, err := desired.Rollback(s.cfg.DesiredFile, s.layout.Status, req.IfGeneration, s.now())
	if err != nil {
		s.editFailed(w, err)
		return
	}
	s.log.Info("Asked for a rollback through the API", "desiredVersion", version, "client", r.RemoteAddr)
	writeJSON(w, http.StatusOK, DesiredAnswer{Desired: st, Version: version})
}

// retryRequest is POST /api/v1/retry.
type retryRequest struct {
	Version      string `json:"version"`
	IfGeneration string `json:"ifGeneration"`
}

func (s *server) postRetry(w http.ResponseWriter, r *http.Request) {
	var req retryRequest
	if !s.decode(w, r, &req) || !validGeneration(w, req.IfGeneration) {
		return
	}
	st, what, err := desired.Retry(s.cfg.DesiredFile, req.IfGeneration, req.Version, s.now())
	if err != nil {
		s.editFailed(w, err)
		return
	}
	s.log.Info("Asked for a retry through the API", "retry", what, "client", r.RemoteAddr)
	writeJSON(w, http.StatusOK, DesiredAnswer{Desired: st, Version: what})
}

// editFailed answers an error of internal/desired with its code.
func (s *server) editFailed(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, desired.ErrConflict):
		writeError(w, http.StatusConflict, CodeConflict, err.Error()+" (GET /api/v1/status gives the current generation)")
	case errors.Is(err, desired.ErrNothingToRollBack):
		writeError(w, http.StatusConflict, CodeConflict, err.Error())
	case errors.Is(err, desired.ErrUnusable):
		writeError(w, http.StatusConflict, CodeConflict, err.Error()+"; POST /api/v1/update sets a version")
	case errors.Is(err, spec.ErrMissingVersion), errors.Is(err, spec.ErrInvalidVersion),
		errors.Is(err, spec.ErrInvalidCommit), errors.Is(err, spec.ErrInvalidChannel), errors.Is(err, spec.ErrTooLarge):
		writeError(w, http.StatusBadRequest, CodeInvalidSpec, err.Error())
	default:
		s.log.Error(err, "Cannot change desired.yaml for the API", "desiredFile", s.cfg.DesiredFile)
		writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
	}
}

// generationPattern is what desired.Generation returns.
var generationPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// validGeneration refuses an ifGeneration that no answer of this API
// could have given.
func validGeneration(w http.ResponseWriter, g string) bool {
	if g == "" || generationPattern.MatchString(g) {
		return true
	}
	writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf(
		"ifGeneration %q is not a generation; send desired.generation as GET /api/v1/status gave it (sha256:...), or leave it out", g))
	return false
}

// decode reads a JSON request body of at most maxBody bytes into v,
// refusing unknown fields and trailing data. An empty body is {}; a body
// needs Content-Type: application/json. It reports whether v was filled;
// otherwise the request was answered.
func (s *server) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	// A client that sends its body slowly must not hold a handler.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyTimeout))
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, fmt.Sprintf("the body is larger than %d KiB; send only the documented fields", maxBody>>10))
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, CodeBadRequest, "cannot read the body: "+err.Error())
		return false
	case len(bytes.TrimSpace(data)) == 0:
		return true
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, CodeBadRequest, "send the body as JSON with Content-Type: application/json")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the body is not the JSON this route takes: "+err.Error())
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the body holds more than one JSON value; send one object")
		return false
	}
	return true
}
