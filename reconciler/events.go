package reconciler

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/layout"
	"github.com/better-paas/updater/internal/service"
	"github.com/better-paas/updater/status"
)

// Publisher receives what the reconciler does as it does it, for the
// page's live view (package events): each step of an operation starting
// and ending, in both phases, with its duration; the lines builds print
// (bounded: see logLines); the conditions of status.yaml whenever a save
// changes them; and how each operation ended, published once status.yaml
// records it. *events.Broker implements it.
//
// Publish is called from the reconciler's goroutine and, for build
// output, from the goroutine copying it; it must be safe for concurrent
// use and must not block: the reconciler waits for it. Events are a view,
// not a record: status.yaml stays the truth, and an operation resumed by
// a restarted daemon publishes only what happens from then on.
type Publisher interface {
	Publish(events.Event) events.Event
}

var _ Publisher = (*events.Broker)(nil)

// Bounds of what a step publishes of its log: the page shows a build's
// progress, the file in <stateDir>/logs keeps the whole of it.
const (
	maxLogLines    = 200     // log events per run of a build step
	maxLogLineSize = 1 << 10 // bytes per log event's line
	maxTailLines   = 20      // lines of an outcome's LogTail
)

// publishStep publishes a step event; a state other than started ends
// the step that began at began. Nothing happens without r.Events.
func (r *Runner) publishStep(op, step, phase, state string, began time.Time, err error) {
	if r.Events == nil {
		return
	}
	e := events.Event{Type: events.TypeStep, Operation: op, Step: step, Phase: phase, State: state}
	if state != events.StateStarted {
		e.DurationMs = events.Millis(time.Since(began))
	}
	if err != nil {
		e.Error = err.Error()
	}
	r.Events.Publish(e)
}

// logTailer is implemented by steps that have a log of their own, whose
// end says why they failed better than an exit code does. It is read
// right after the step failed, before the rollback runs: the rollback
// starts the previous version, whose output follows in the service log.
type logTailer interface {
	logTail() []string
}

var (
	_ logTailer = buildStep{}
	_ logTailer = startStep{}
	_ logTailer = healthStep{}
)

// logTail is the end of the build's log file, which outlives the daemon:
// a rollback resumed after a restart still finds it.
func (s buildStep) logTail() []string {
	return fileTail(layout.New(s.h.Config).BuildLog(s.name), maxTailLines)
}

// logTail is the end of what the new version printed since it started.
func (s startStep) logTail() []string { return serviceTail(s.h.Service) }

// logTail is the end of what the new version printed since it started.
func (s healthStep) logTail() []string { return serviceTail(s.h.Service) }

func serviceTail(m service.Manager) []string {
	t, ok := m.(service.LogTailer)
	if !ok {
		return nil
	}
	tail, err := t.LogTail()
	if err != nil || tail == "" {
		return nil
	}
	return lastLines([]byte(tail), maxTailLines)
}

// fileTail returns the last n lines of the file at path (read from its
// last 64 KiB), nil when it cannot be read.
func fileTail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	const window = 64 << 10
	info, err := f.Stat()
	if err != nil {
		return nil
	}
	start := max(info.Size()-window, 0)
	buf := make([]byte, info.Size()-start)
	if _, err := f.ReadAt(buf, start); err != nil && err != io.EOF {
		return nil
	}
	if start > 0 {
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			buf = buf[i+1:] // the window began mid-line
		}
	}
	return lastLines(buf, n)
}

// lastLines returns the last n lines of b, each cut to maxLogLineSize.
func lastLines(b []byte, n int) []string {
	b = bytes.TrimRight(b, "\n")
	if len(b) == 0 {
		return nil
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		lines[i] = shownLine([]byte(l), false)
	}
	return lines
}

// shownLine is a line of output without its carriage return (CRLF), cut
// to maxLogLineSize bytes at a character boundary. cut says the line was
// already cut while it was read; either cut ends in "…".
func shownLine(b []byte, cut bool) string {
	b = bytes.TrimSuffix(b, []byte("\r"))
	const ellipsis = "…"
	if !cut && len(b) <= maxLogLineSize {
		return string(b)
	}
	b = b[:min(len(b), maxLogLineSize-len(ellipsis))]
	// Drop a character the cut split.
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				b = b[:i]
			}
			break
		}
	}
	return string(b) + ellipsis
}

// logLines publishes a command's output as log events, a line each: the
// first maxLogLines lines, each cut to maxLogLineSize bytes, then (at
// Close) one line saying how many more there were and where the whole log
// is. It never fails a write: the build must not notice it.
type logLines struct {
	pub               Publisher
	op, step, logPath string

	mu      sync.Mutex
	line    []byte // the line so far, at most maxLogLineSize bytes
	cut     bool   // the line so far was longer
	sent    int
	omitted int
}

var _ io.Writer = (*logLines)(nil)

func newLogLines(pub Publisher, op, step, logPath string) *logLines {
	return &logLines{pub: pub, op: op, step: step, logPath: logPath}
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxLogLineSize - len(l.line); len(chunk) > room {
			chunk, l.cut = chunk[:room], true
		}
		l.line = append(l.line, chunk...)
		if i < 0 {
			return n, nil
		}
		l.endLine()
		p = p[i+1:]
	}
}

func (l *logLines) endLine() {
	if l.sent < maxLogLines {
		l.publish(shownLine(l.line, l.cut))
		l.sent++
	} else {
		l.omitted++
	}
	l.line, l.cut = l.line[:0], false
}

func (l *logLines) publish(line string) {
	l.pub.Publish(events.Event{Type: events.TypeLog, Operation: l.op, Step: l.step, Line: line})
}

// Close publishes a last line without its newline, and the count of the
// lines left out. Nothing may be written after it.
func (l *logLines) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.line) > 0 || l.cut {
		l.endLine()
	}
	if l.omitted > 0 {
		l.publish(fmt.Sprintf("... %d more lines not shown here; the whole log is in %s", l.omitted, l.logPath))
	}
}

// tee writes to every writer and ignores their errors: command.Run stops
// writing to an Output after its first error, and a log file that fails
// must not silence the live view (nor the other way round).
type tee []io.Writer

func (t tee) Write(p []byte) (int, error) {
	for _, w := range t {
		_, _ = w.Write(p)
	}
	return len(p), nil
}

// conditionEvents returns the condition events that take the conditions
// before to after: each one added or changed (status, reason or message)
// as it is now, then each one removed, with status False and no reason.
func conditionEvents(before, after []status.Condition) []events.Event {
	var out []events.Event
	old := map[string]status.Condition{}
	for _, c := range before {
		old[c.Type] = c
	}
	for _, c := range after {
		o, ok := old[c.Type]
		delete(old, c.Type)
		if ok && o.Status == c.Status && o.Reason == c.Reason && o.Message == c.Message {
			continue
		}
		out = append(out, events.Event{Type: events.TypeCondition, Condition: &events.Condition{
			Type: c.Type, Status: string(c.Status), Reason: c.Reason, Message: c.Message}})
	}
	for _, c := range before {
		if _, removed := old[c.Type]; removed {
			out = append(out, events.Event{Type: events.TypeCondition, Condition: &events.Condition{
				Type: c.Type, Status: string(status.False)}})
		}
	}
	return out
}

// saveStatus writes st to status.yaml and then publishes how its
// conditions changed since status.yaml was last read or saved.
//
// A fleet block's pause is derived from the fleet file and the failed
// versions, which the reconcile may have just changed: it is brought up
// to date here, so status.yaml never shows a stale one.
func (r *Reconciler) saveStatus(st *status.VersionStatus) error {
	if st.Fleet != nil {
		st.Fleet.Paused = st.RolloutPause()
	}
	if err := status.Save(StatusPath(r.cfg), st); err != nil {
		return err
	}
	if r.events != nil {
		for _, e := range conditionEvents(r.saved, st.Conditions) {
			r.events.Publish(e)
		}
	}
	r.saved = append(r.saved[:0:0], st.Conditions...)
	return nil
}

// setOutcome keeps the outcome of op, to be published once status.yaml
// records it (publishOutcome): a page that reads the status when it sees
// the outcome must find it there.
func (r *Reconciler) setOutcome(op *status.Operation, result string, f *events.Failure, message string, tail []string) {
	if r.events == nil {
		return
	}
	r.outcome = &events.Event{Type: events.TypeOutcome, Operation: op.ID, From: op.From.Version, To: op.To.Version,
		Result: result, Failure: f, Message: message, LogTail: tail}
}

// publishOutcome publishes the outcome setOutcome kept, if any.
func (r *Reconciler) publishOutcome() {
	if r.outcome != nil {
		r.events.Publish(*r.outcome)
		r.outcome = nil
	}
}
