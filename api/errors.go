package api

import (
	"encoding/json"
	"net/http"
)

// Stable error codes: clients branch on these, never on messages.
const (
	CodeUnauthorized     = "unauthorized"
	CodeForbiddenHost    = "forbidden_host"
	CodeForbiddenOrigin  = "forbidden_origin"
	CodeRateLimited      = "rate_limited"
	CodeBadRequest       = "bad_request"
	CodeInvalidSpec      = "invalid_spec"
	CodeConflict         = "conflict"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail says what went wrong: Code is one of the Code constants,
// Message plain words that name the fix.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeJSON answers status with v as JSON, never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.Marshal(ErrorBody{ErrorDetail{CodeInternal, "cannot encode the answer: " + err.Error()}})
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError answers status with an error body.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, ErrorBody{ErrorDetail{Code: code, Message: message}})
}
