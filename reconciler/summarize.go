package reconciler

import (
	"time"

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
