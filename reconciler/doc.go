// Package reconciler drives a git-checkout install of Better-PaaS to the
// version desired.yaml asks for.
//
// Reconcile is level-triggered: every call re-reads desired.yaml, observes
// the host from scratch (git HEAD, the backend binary, the service, one
// health probe), decides one action and carries it out. An update is a
// fixed list of steps (see steps.go) run by a Runner that journals each step
// in status.yaml before it runs it, so a restarted daemon resumes where the
// last one stopped; when a step fails, the completed steps are undone in
// reverse, which restores the previous binary, frontend and git ref and
// brings the previous version back up. A failed release is remembered and
// not retried until desired.yaml changes.
//
// Every state that holds an update back (a failed or refused version, a
// missing tag, an unusable desired.yaml) still keeps the last known good
// version running. A cancelled context (the daemon is stopping) is neither
// success nor failure: the journal is left as it is and the next daemon
// resumes it, except that an undo already begun finishes first.
//
// With Options.Events set, the reconciler also publishes a live view of
// its work (package internal/events): each step's start and end, the first
// lines of each build's output, condition changes once saved, and each
// operation's outcome once status.yaml records it (events.go).
//
// Loop wraps Reconcile with fsnotify watches that follow desired.yaml
// through its links and folder replacements, a cheap digest poll, and a
// jittered periodic resync; events only enqueue a reconcile.
package reconciler
