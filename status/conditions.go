package status

import "time"

// Condition types, after kstatus: Ready is always present once the daemon
// has reconciled; Reconciling and Stalled are present only while true.
const (
	TypeReady       = "Ready"
	TypeReconciling = "Reconciling"
	TypeStalled     = "Stalled"
	// TypeReleasesStale is present, True, while the release list comes
	// from a cache that could not be refreshed.
	TypeReleasesStale = "ReleasesStale"
)

// ConditionStatus is True, False or Unknown.
type ConditionStatus string

// Condition statuses.
const (
	True    ConditionStatus = "True"
	False   ConditionStatus = "False"
	Unknown ConditionStatus = "Unknown"
)

// Condition is one observation about the host, in the Kubernetes shape.
type Condition struct {
	Type               string          `json:"type"`
	Status             ConditionStatus `json:"status"`
	ObservedGeneration int64           `json:"observedGeneration,omitempty"`
	LastTransitionTime time.Time       `json:"lastTransitionTime"`
	Reason             string          `json:"reason"`
	Message            string          `json:"message,omitempty"`
}

// Get returns the condition of type t, or nil.
func (s *VersionStatus) Get(t string) *Condition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// IsTrue reports whether condition t is present and True.
func (s *VersionStatus) IsTrue(t string) bool {
	c := s.Get(t)
	return c != nil && c.Status == True
}

// Set adds or replaces condition c. LastTransitionTime moves to now only
// when the status flips, so it tells how long the host has been in a state.
func (s *VersionStatus) Set(c Condition, now time.Time) {
	c.ObservedGeneration = s.ObservedGeneration
	if old := s.Get(c.Type); old != nil {
		c.LastTransitionTime = old.LastTransitionTime
		if old.Status != c.Status {
			c.LastTransitionTime = now
		}
		*old = c
		return
	}
	c.LastTransitionTime = now
	s.Conditions = append(s.Conditions, c)
	sortConditions(s.Conditions)
}

// Remove deletes condition t if present.
func (s *VersionStatus) Remove(t string) {
	kept := s.Conditions[:0]
	for _, c := range s.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	s.Conditions = kept
}

// order keeps conditions in one stable order so status.yaml diffs stay small.
var order = map[string]int{TypeReady: 0, TypeReconciling: 1, TypeStalled: 2, TypeReleasesStale: 3}

func sortConditions(cs []Condition) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && order[cs[j].Type] < order[cs[j-1].Type]; j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}
