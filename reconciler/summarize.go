package reconciler

import (
	"fmt"
	"time"

	"github.com/better-paas/updater/internal/releases"

	"github.com/better-paas/updater/status"
)

// phase is the one word that sums up the host for the conditions.
type phase int

const (
	phaseReady       phase = iota // at the desired version and healthy
	phaseProgressing              // an update is running
	phaseRetrying                 // something failed that a retry may fix
	phaseStalled                  // nothing will change until desired.yaml does or a human acts
)

// summarize is the only place that writes conditions, kstatus style: Ready
// is always present; Reconciling and Stalled are present only when true.
func summarize(st *status.VersionStatus, p phase, reason, message string, now time.Time) {
	ready := status.Condition{Type: status.TypeReady, Status: status.False, Reason: reason, Message: message}
	switch p {
	case phaseReady:
		ready.Status = status.True
		st.Remove(status.TypeReconciling)
		st.Remove(status.TypeStalled)
	case phaseProgressing, phaseRetrying:
		st.Set(status.Condition{Type: status.TypeReconciling, Status: status.True, Reason: reason, Message: message}, now)
		st.Remove(status.TypeStalled)
	case phaseStalled:
		st.Set(status.Condition{Type: status.TypeStalled, Status: status.True, Reason: reason, Message: message}, now)
		st.Remove(status.TypeReconciling)
	}
	st.Set(ready, now)
}

// markSource records whether the release list is fresh: the ReleasesStale
// condition is present only while releases come from a cache that could
// not be refreshed, and says why and since when.
func markSource(st *status.VersionStatus, l releases.Listing, now time.Time) {
	if l.Stale == nil {
		st.Remove(status.TypeReleasesStale)
		return
	}
	st.Set(status.Condition{Type: status.TypeReleasesStale, Status: status.True, Reason: ReasonSourceUnavailable,
		Message: fmt.Sprintf("using %s fetched at %s: %v", l.Source, l.FetchedAt.UTC().Format(time.RFC3339), l.Stale)}, now)
}
