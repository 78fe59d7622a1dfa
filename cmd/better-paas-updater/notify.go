package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/sdnotify"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

// systemdNotifier tells systemd what the daemon does, for a Type=notify
// unit (everything is a no-op outside one): READY=1 once the first
// reconcile has observed the host, STATUS= with the step in flight or the
// outcome, WATCHDOG=1 from the loop (Loop.Heartbeat), STOPPING=1 when the
// daemon begins to stop. A message that cannot be sent is logged once and
// never stops the daemon.
type systemdNotifier struct {
	n      *sdnotify.Notifier
	log    logr.Logger
	status func() (*status.VersionStatus, error)

	ready   sync.Once
	mu      sync.Mutex
	failing bool
}

func newSystemdNotifier(log logr.Logger, st func() (*status.VersionStatus, error)) *systemdNotifier {
	return &systemdNotifier{n: sdnotify.FromEnv(), log: log, status: st}
}

func (s *systemdNotifier) send(f func() error) {
	err := f()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && !s.failing {
		s.log.Error(err, "Cannot notify systemd")
	}
	s.failing = err != nil
}

// markReady sends READY=1 the first time it is called.
func (s *systemdNotifier) markReady() {
	s.ready.Do(func() {
		s.send(s.n.Ready)
		s.log.V(1).Info("Notified systemd: ready", "enabled", s.n.Enabled())
	})
}

// publisher wraps next so that each step that starts sets STATUS=. The
// reconciler publishes a step only after it has observed the host and
// decided, so the first step also marks the daemon ready: a first
// reconcile that resumes a long update does not hold up the unit's start.
func (s *systemdNotifier) publisher(next reconciler.Publisher) reconciler.Publisher {
	if !s.n.Enabled() {
		return next
	}
	return notifyingPublisher{next: next, s: s}
}

type notifyingPublisher struct {
	next reconciler.Publisher
	s    *systemdNotifier
}

func (p notifyingPublisher) Publish(e events.Event) events.Event {
	if e.Type == events.TypeStep && e.State == events.StateStarted {
		p.s.markReady()
		p.s.send(func() error { return p.s.n.Status(p.s.stepStatus(e)) })
	}
	if p.next == nil {
		return e
	}
	return p.next.Publish(e)
}

// stepStatus is "Updating v1.0.0 -> v1.1.0: build-backend", from the
// journal status.yaml holds (written before the step runs).
func (s *systemdNotifier) stepStatus(e events.Event) string {
	step := e.Step
	if e.Phase == events.PhaseUndo {
		step = "undo " + step
	}
	st, err := s.status()
	if err != nil || st.Operation == nil {
		return "Running step " + step
	}
	op := st.Operation
	verb := "Updating"
	if op.Phase == status.PhaseUndo {
		verb = "Rolling back"
	}
	from := op.From.Version
	if from == "" {
		from = "nothing"
	}
	return fmt.Sprintf("%s %s -> %s: %s", verb, from, op.To.Version, step)
}

// reconciled is Loop.Reconciled: the first reconcile marks the daemon
// ready (if no step did), and each one sets STATUS= to what status.yaml
// says now.
func (s *systemdNotifier) reconciled(_ reconciler.Result, rerr error) {
	s.markReady()
	if !s.n.Enabled() {
		return
	}
	s.send(func() error { return s.n.Status(s.idleStatus(rerr)) })
}

func (s *systemdNotifier) idleStatus(rerr error) string {
	if rerr != nil {
		return "Reconcile failed; retrying: " + rerr.Error()
	}
	st, err := s.status()
	if err != nil {
		return "Reconciled; cannot read status: " + err.Error()
	}
	for _, t := range []string{status.TypeStalled, status.TypeReady} {
		if c := st.Get(t); c != nil && c.Status == status.True {
			return fmt.Sprintf("%s: %s", t, c.Message)
		}
	}
	return "Reconciling"
}

// heartbeat is Loop.Heartbeat: WATCHDOG=1.
func (s *systemdNotifier) heartbeat() { s.send(s.n.Watchdog) }

// watchdogInterval is Loop.HeartbeatInterval: half the unit's
// WatchdogSec=, 0 without a watchdog.
func (s *systemdNotifier) watchdogInterval() time.Duration { return s.n.WatchdogInterval() }

// stopOn sends STOPPING=1 as soon as ctx ends (a SIGTERM from `systemctl
// stop`, or the API failing), while the loop finishes.
func (s *systemdNotifier) stopOn(ctx context.Context) {
	context.AfterFunc(ctx, func() {
		s.send(s.n.Stopping)
		s.send(func() error { return s.n.Status("Stopping") })
	})
}

// wedgedAfter is how long one reconcile may run before the loop is taken
// as wedged and the watchdog pings stop (Loop.WedgedAfter): an update's
// every step at its timeout, forward and undone, and some slack. A longer
// reconcile cannot be a working one.
func wedgedAfter(cfg *config.Config) time.Duration {
	steps := cfg.Timeouts.Backup.Duration + cfg.Timeouts.Fetch.Duration + cfg.Timeouts.Checkout.Duration +
		cfg.Build.Backend.Timeout.Duration + cfg.Build.Frontend.Timeout.Duration +
		cfg.Service.StopTimeout.Duration + cfg.Health.Deadline.Duration
	return 2*steps + 10*time.Minute
}
