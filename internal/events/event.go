package events

import "time"

// Event types: the "event:" field of the stream and Event.Type.
const (
	// TypeStep is a step of an operation starting or ending (Phase, State,
	// DurationMs on the end, Error when it failed).
	TypeStep = "step"
	// TypeLog is one line of a build's output (Line).
	TypeLog = "log"
	// TypeCondition is a condition of status.yaml that changed (Condition).
	TypeCondition = "condition"
	// TypeOutcome is how an operation ended (From, To, Result, Failure,
	// LogTail, Message).
	TypeOutcome = "outcome"
	// TypeGap tells one client that events it asked for are no longer
	// kept (Message). It is never published: Handler writes it, without
	// an id, to the client concerned.
	TypeGap = "gap"
)

// Phases of a step event.
const (
	PhaseDo   = "do"
	PhaseUndo = "undo"
)

// States of a step event. Every "started" is followed by exactly one of
// the others for the same step and phase, unless the daemon stops in
// between (an "Interrupted" outcome then says where it was left).
// "held": a hook script asked to wait (exit 21); the step did not run and
// starts again at a later reconcile, the operation kept as it was.
const (
	StateStarted   = "started"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
	StateSkipped   = "skipped"
	StateHeld      = "held"
)

// Results of an outcome event.
const (
	// ResultSucceeded: every step succeeded; the new version runs, healthy.
	ResultSucceeded = "Succeeded"
	// ResultRolledBack: a step failed and every completed step was undone;
	// the previous version runs again (Failure says why, LogTail shows the
	// end of the failing step's log when it has one).
	ResultRolledBack = "RolledBack"
	// ResultRollbackFailed: a step failed and then an undo failed too; a
	// human must look (Failure.Message names both).
	ResultRollbackFailed = "RollbackFailed"
	// ResultFailed: the operation stopped without an outcome of its own
	// (its journal or its result could not be written); it is resumed
	// from the journal at the next reconcile.
	ResultFailed = "Failed"
	// ResultInterrupted: the daemon is stopping; the operation resumes
	// from its journal when it starts again (Message says where).
	ResultInterrupted = "Interrupted"
)

// Event is one thing that happened, in the one JSON shape the stream
// carries. Type says which fields are set; the others are left out of the
// JSON. Publish assigns ID and Time.
//
// An Event is a value shared by every subscriber once published: do not
// modify what its pointers and slices refer to after publishing it.
type Event struct {
	// ID increases by one with every published event of a Broker; it is
	// the stream's "id:" and what Last-Event-ID resumes after. 0 only in
	// a gap event, which is not published.
	ID   uint64    `json:"id,omitempty"`
	Time time.Time `json:"time"`
	Type string    `json:"type"`
	// Operation is status.yaml's operation.id, on step, log and outcome
	// events.
	Operation string `json:"operation,omitempty"`
	// Step is the reconciler's step name ("build-backend"), on step and
	// log events.
	Step string `json:"step,omitempty"`
	// Phase (PhaseDo or PhaseUndo) and State (State*) of a step event.
	Phase string `json:"phase,omitempty"`
	State string `json:"state,omitempty"`
	// DurationMs is how long the step ran, on the events that end one
	// (present even when 0).
	DurationMs *int64 `json:"durationMs,omitempty"`
	// Error is why a step failed (State StateFailed).
	Error string `json:"error,omitempty"`
	// Line is one line of build output, without its newline (left out of
	// the JSON when the line is empty).
	Line string `json:"line,omitempty"`
	// Condition is the condition as it is now, on condition events.
	Condition *Condition `json:"condition,omitempty"`
	// From and To are the versions of an outcome's operation (From left
	// out when nothing was installed before).
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Result (Result*) and, unless it succeeded, Failure of an outcome.
	Result  string   `json:"result,omitempty"`
	Failure *Failure `json:"failure,omitempty"`
	// LogTail is the end of the failing step's log (at most 20 lines), on
	// an outcome whose failing step has a log: a build's output, or the
	// app's own output for start and health.
	LogTail []string `json:"logTail,omitempty"`
	// Message explains a gap, an Interrupted or a Failed outcome in plain
	// words.
	Message string `json:"message,omitempty"`
}

// Condition is a condition of status.yaml (status.Condition without its
// bookkeeping). A condition that was removed (kstatus: Reconciling and
// Stalled are present only while true) is published with Status "False"
// and no reason.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Failure is the step that failed and why, as status.yaml records it.
type Failure struct {
	Step    string `json:"step"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Millis returns d in whole milliseconds, for Event.DurationMs.
func Millis(d time.Duration) *int64 {
	ms := d.Milliseconds()
	return &ms
}
