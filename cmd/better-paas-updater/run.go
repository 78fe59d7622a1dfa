package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/better-paas/updater/api"
	"github.com/better-paas/updater/internal/apitoken"
	"github.com/better-paas/updater/internal/events"
	"github.com/better-paas/updater/internal/fleet"
	"github.com/better-paas/updater/internal/lock"
	"github.com/better-paas/updater/internal/metrics"
	"github.com/better-paas/updater/internal/selfupdate"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
	"github.com/better-paas/updater/web"
)

func newRunCommand(o *options) *cobra.Command {
	var once bool
	var self *selfupdate.Updater // set by RunE
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the reconcile loop (or one pass with --once)",
		Long: `run watches desired.yaml and reconciles the install toward it, on every change
of the file and at the resync interval. With --once it reconciles until the host
is Ready (exit 0) or Stalled (exit 2), or errors persist (exit 1); a policy of
desired.yaml holding the update back (Held, WindowClosed, SoakPending) is an
answer too: exit 0 with a line saying until when.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, cfg, ctx := o.log, o.cfg, cmd.Context()
			// One process drives a host: a second daemon, or a run --once
			// racing it, stops here and names the holder.
			purpose := "daemon"
			if once {
				purpose = "run --once"
			}
			l, err := lock.Acquire(o.layout.Lock, purpose)
			if err != nil {
				return err
			}
			defer l.Release()
			// A self-update in flight is settled first: this may be the
			// new updater on trial, or the old one it handed over to.
			// Reconciles and self-update share statusMu for status.yaml.
			var statusMu sync.Mutex
			self, err = selfupdate.New(selfupdate.Options{Config: cfg, ConfigPath: cfg.Path(), Version: version, Lock: &statusMu})
			if err != nil {
				return err
			}
			if err := self.Resume(ctx); err != nil {
				if r, ok := selfupdate.AsRestart(err); ok && once {
					log.Info("The new updater is installed; it settles at the daemon's next start", "binary", r.Path, "version", r.To)
				} else {
					return err // a Restart: carried out once the lock is released
				}
			}
			// What the reconciler does, step by step, for GET /api/v1/events
			// and the page, seen on its way by the metrics (GET /metrics);
			// nil in a run --once, which serves no API.
			var broker *events.Broker
			var collector *metrics.Collector
			var pub reconciler.Publisher
			// Under a Type=notify unit, systemd hears from the daemon
			// (no-ops otherwise); r is set before anything is sent.
			var r *reconciler.Reconciler
			notify := newSystemdNotifier(log.WithName("sdnotify"), func() (*status.VersionStatus, error) { return r.Status() })
			if !once {
				broker = events.NewBroker(0)
				collector = metrics.New(metrics.Options{Layout: o.layout, Version: version, Next: broker, Log: log.WithName("metrics")})
				pub = notify.publisher(collector)
			}
			r, err = newReconciler(cfg, pub)
			if err != nil {
				return err
			}
			// A status.yaml of a newer updater holds records this one must
			// not rebuild over: refuse to run rather than lose them.
			if _, err := r.Status(); errors.Is(err, status.ErrNewer) {
				return err
			}
			// A fleet repo (desiredFrom.git) is one more writer of
			// desired.yaml: it syncs beside the loop, sharing statusMu
			// for status.yaml's fleet block.
			// Every sync wakes the loop: a fleet change that leaves
			// desired.yaml as it is (a pause lifted, a push asking hosts to
			// look again) is acted on now, not at the next resync.
			var fleetSync *fleet.Syncer
			fleetSynced := make(chan struct{}, 1)
			if g := cfg.DesiredFrom.Git; g != nil {
				fleetSync, err = fleet.New(fleet.Options{Source: *g, DesiredFile: cfg.DesiredFile, StatusPath: o.layout.Status,
					CloneDir: fleet.CloneDir(cfg.StateDir), Lock: &statusMu, Synced: func(status.FleetStatus, error) {
						select {
						case fleetSynced <- struct{}{}:
						default: // a wake is pending already
						}
					}})
				if err != nil {
					return err
				}
			}
			if once {
				if fleetSync != nil {
					// One sync first, so --once acts on the fleet's current commit;
					// a refusal is recorded in status and leaves desired.yaml as it is.
					if res, err := fleetSync.Sync(ctx); err != nil {
						log.Error(err, "Cannot sync from the fleet repo", "result", res.Result, "reason", res.Reason)
					}
				}
				st, err := reconciler.RunOnce(ctx, r, 5, time.Second)
				if held := (*reconciler.HeldError)(nil); errors.As(err, &held) {
					return &exitError{code: exitHeld, err: fmt.Errorf("%w; it resumes at the next run (or in the daemon)", err)}
				}
				if err != nil {
					return err
				}
				if p := st.Policy; p != nil {
					// Held back by policy: an answer, like Ready.
					fmt.Fprintf(os.Stdout, "%s until %s: %s\n", p.Reason, policyUntil(p), p.Message)
					return nil
				}
				if !st.IsTrue(status.TypeReady) {
					c := st.Get(status.TypeStalled)
					return &exitError{code: exitStalled, err: fmt.Errorf("stalled: %s: %s", c.Reason, c.Message)}
				}
				fmt.Fprintf(os.Stdout, "Ready: %s\n", st.Get(status.TypeReady).Message)
				return nil
			}
			// The API serves beside the loop, under the same context; if it
			// fails, the daemon stops with its error.
			loopCtx, stop := context.WithCancelCause(ctx)
			defer stop(nil)
			page := web.Handler(web.Options{FrameAncestors: cfg.API.FrameAncestors})
			parts := apiParts{Events: broker.Handler(), Metrics: collector.Handler(), Page: page}
			if fleetSync != nil {
				parts.Fleet = fleet.WebhookHandler(fleetSync)
			}
			apiDone, err := startAPI(loopCtx, o, parts, stop)
			if err != nil {
				return err
			}
			loop := &reconciler.Loop{
				Reconciler:  lockedReconciler{r: r, lock: l, metrics: collector, statusMu: &statusMu, self: self, stop: stop},
				DesiredFile: cfg.DesiredFile,
				// `backups restore` leaves its request here for the daemon.
				Files:  []string{reconciler.RestoreRequestFile(cfg)},
				Resync: cfg.ResyncInterval.Duration,
				// An app that crashed is started again at once; a fleet sync
				// is looked at at once.
				Wake: mergeWakes(loopCtx, r.ServiceExits(loopCtx), fleetSynced),
				// systemd's watchdog is fed from the loop itself, so a
				// wedged loop gets the daemon restarted.
				Reconciled:        notify.reconciled,
				Heartbeat:         notify.heartbeat,
				HeartbeatInterval: notify.watchdogInterval(),
				WedgedAfter:       wedgedAfter(cfg),
			}
			// A handover to another updater binary is no stop for systemd:
			// the same process goes on as that binary.
			notify.stopOn(unlessRestarting(loopCtx))
			selfDone := make(chan struct{})
			go func() {
				defer close(selfDone)
				self.Run(loopCtx, func(r *selfupdate.Restart) { stop(r) })
			}()
			fleetDone := make(chan struct{})
			go func() {
				defer close(fleetDone)
				if fleetSync != nil {
					fleetSync.Run(logr.NewContext(loopCtx, log), cfg.DesiredFrom.Git.Interval.Duration, nil)
				}
			}()
			loopErr := loop.Run(loopCtx)
			// Streams have had the last outcome (Interrupted, say); closing
			// the broker ends them, so the API's shutdown need not wait.
			broker.Close()
			stop(nil) // the loop ended: so does the API
			<-selfDone
			<-fleetDone
			if err := errors.Join(loopErr, apiDone()); err != nil {
				return err
			}
			if r, ok := selfupdate.AsRestart(context.Cause(loopCtx)); ok {
				return r // carried out once the lock is released
			}
			if cause := context.Cause(ctx); cause != nil {
				log.Info("Stopped", "cause", cause.Error())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "reconcile until Ready or Stalled, then exit")
	runE := cmd.RunE
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		err := runE(cmd, args)
		if self != nil {
			err = self.Abandon(cmd.Context(), err) // a new updater on trial that could not start
		}
		return restartIfAsked(o.log, err)
	}
	return cmd
}

// lockedReconciler confirms before every reconcile that this daemon still
// holds the state folder's lock, putting back a lock file someone removed,
// so no second process can start driving the host meanwhile. It times
// each reconcile for the metrics (nil: not timed).
//
// It holds statusMu while reconciling, so self-update's reads and writes
// of status.yaml and its handover never interleave with a reconcile; a
// reconcile that waited for it while self-update stopped the loop does
// not start. It tells self every outcome (the new updater's trial); a
// Restart it answers with stops the loop (stop).
type lockedReconciler struct {
	r        reconciler.Interface
	lock     *lock.Lock
	metrics  *metrics.Collector
	statusMu *sync.Mutex
	self     *selfupdate.Updater
	stop     context.CancelCauseFunc
}

func (lr lockedReconciler) Reconcile(ctx context.Context) (reconciler.Result, error) {
	if lr.statusMu != nil {
		lr.statusMu.Lock()
		defer lr.statusMu.Unlock()
		if ctx.Err() != nil {
			return reconciler.Result{}, nil // the loop is stopping
		}
	}
	res, err := lr.reconcile(ctx)
	if lr.self != nil {
		if serr := lr.self.Reconciled(ctx, err); serr != nil {
			if _, ok := selfupdate.AsRestart(serr); ok {
				lr.stop(serr)
			} else {
				logr.FromContextOrDiscard(ctx).Error(serr, "Cannot settle the self-update")
			}
		}
	}
	return res, err
}

func (lr lockedReconciler) reconcile(ctx context.Context) (reconciler.Result, error) {
	restored, err := lr.lock.Check()
	if err != nil {
		return reconciler.Result{}, fmt.Errorf("cannot confirm this daemon still holds %s; not reconciling: %w", lr.lock.Path(), err)
	}
	if restored {
		logr.FromContextOrDiscard(ctx).Info("Restored the lock file someone removed or replaced", "lock", lr.lock.Path())
	}
	began := time.Now()
	res, err := lr.r.Reconcile(ctx)
	lr.metrics.ObserveReconcile(time.Since(began), err)
	return res, err
}

// apiParts are what other packages contribute to the API: the event
// stream, the metrics and the page. Any may be nil (api.Options says what
// is answered then).
type apiParts struct {
	Events  http.Handler
	Metrics http.Handler
	Page    http.Handler
	Fleet   http.Handler
}

// startAPI starts the HTTP API beside the loop when api.listen is set: it
// listens now, so a bad or busy address is a start-up error naming
// api.listen, then serves until ctx ends. A server that fails later stops
// the daemon (stop) with its error. The returned function waits until the
// server has shut down and returns that error, if any.
func startAPI(ctx context.Context, o *options, parts apiParts, stop context.CancelCauseFunc) (wait func() error, err error) {
	cfg, log := o.cfg, o.log
	if !cfg.API.Enabled() {
		log.Info("API off", "reason", `api.listen is ""`)
		return func() error { return nil }, nil
	}
	ln, err := api.Listen(cfg)
	if err != nil {
		return nil, err
	}
	handler := api.New(api.Options{
		Config:   cfg,
		Layout:   o.layout,
		Verifier: apitoken.NewVerifier(o.layout.APIToken),
		Events:   parts.Events,
		Metrics:  parts.Metrics,
		Page:     parts.Page,
		Fleet:    parts.Fleet,
		Log:      log.WithName("api"),
	})
	kv := []any{"address", cfg.API.Address(), "tokenFile", o.layout.APIToken}
	if cfg.API.SocketPath() == "" {
		// The address bound, with the port 0 picked when api.listen asked for any.
		kv = []any{"address", ln.Addr().String(), "url", baseURL(ln.Addr().String()) + "/", "tokenFile", o.layout.APIToken}
	}
	log.Info("API listening", kv...)
	if _, err := os.Stat(o.layout.APIToken); errors.Is(err, fs.ErrNotExist) {
		log.Info("No API token yet: every API request is refused until one is made with `better-paas-updater token create`")
	}
	done := make(chan error, 1)
	go func() {
		err := api.Serve(ctx, ln, handler)
		if err != nil {
			stop(err)
		}
		done <- err
	}()
	return func() error { return <-done }, nil
}

// policyUntil is when a policy hold ends, as run --once and plan print it.
func policyUntil(p *status.PolicyHold) string {
	if p.Until == nil {
		return "further notice"
	}
	return p.Until.UTC().Format(time.RFC3339)
}

// mergeWakes returns a channel that is ready after any receive on one of
// chans (nil ones are left out), until ctx ends. Wakes coalesce: the loop
// reconciles the state as it is then, so one pending wake is enough.
func mergeWakes(ctx context.Context, chans ...<-chan struct{}) <-chan struct{} {
	out := make(chan struct{}, 1)
	for _, c := range chans {
		if c == nil {
			continue
		}
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case _, ok := <-c:
					if !ok {
						return
					}
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}()
	}
	return out
}
