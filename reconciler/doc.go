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
// Loop wraps Reconcile with an fsnotify watch on desired.yaml's folder and a
// jittered periodic resync; events only enqueue a reconcile.
package reconciler
