package fleet

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/better-paas/updater/status"
)

// WebhookAnswer is the body of the webhook's answer.
type WebhookAnswer struct {
	// Fleet is the sync's record, as status.yaml's fleet block holds it.
	Fleet status.FleetStatus `json:"fleet"`
	// Error is why the commit was refused or the sync failed; absent when
	// it went through.
	Error string `json:"error,omitempty"`
}

// WebhookHandler returns the handler a git host's push webhook calls: a
// POST (its body is read and ignored; the fleet repo itself is the truth,
// so a forged body can do no more than ask for a sync) runs one sync now
// and answers with its record:
//
//	202 Accepted          Applied, Unchanged or OutsideWave: the commit was
//	                      taken; the reconciler carries out any update later
//	422 Unprocessable     the commit was refused (unsigned, no file, invalid)
//	502 Bad Gateway       the fleet repo could not be fetched
//	500 Internal Error    this host could not write desired.yaml or status
//	405                   any other method
//
// It does no authentication of its own: mount it behind the API's bearer
// token (the API's route /api/v1/fleet/sync).
func WebhookHandler(s *Syncer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST to ask for a sync of the fleet repo", http.StatusMethodNotAllowed)
			return
		}
		res, err := s.Sync(r.Context())
		code := http.StatusAccepted
		ans := WebhookAnswer{Fleet: res}
		if err != nil {
			ans.Error = err.Error()
			switch {
			case errors.Is(err, ErrUnreachable):
				code = http.StatusBadGateway
			case res.Result == status.FleetRefused:
				code = http.StatusUnprocessableEntity
			default:
				code = http.StatusInternalServerError
			}
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(ans)
	})
}
