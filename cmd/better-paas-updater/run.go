package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/lock"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

func newRunCommand(o *options) *cobra.Command {
	var once bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the reconcile loop (or one pass with --once)",
		Long: `run watches desired.yaml and reconciles the install toward it, on every change
of the file and at the resync interval. With --once it reconciles until the host
is Ready (exit 0) or Stalled (exit 2), or errors persist (exit 1).`,
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
			r, err := newReconciler(cfg)
			if err != nil {
				return err
			}
			// A status.yaml of a newer updater holds records this one must
			// not rebuild over: refuse to run rather than lose them.
			if _, err := r.Status(); errors.Is(err, status.ErrNewer) {
				return err
			}
			if once {
				st, err := reconciler.RunOnce(ctx, r, 5, time.Second)
				if err != nil {
					return err
				}
				if !st.IsTrue(status.TypeReady) {
					c := st.Get(status.TypeStalled)
					return &exitError{code: 2, err: fmt.Errorf("stalled: %s: %s", c.Reason, c.Message)}
				}
				fmt.Fprintf(os.Stdout, "Ready: %s\n", st.Get(status.TypeReady).Message)
				return nil
			}
			loop := &reconciler.Loop{
				Reconciler:  lockedReconciler{r: r, lock: l},
				DesiredFile: cfg.DesiredFile,
				// `backups restore` leaves its request here for the daemon.
				Files:  []string{reconciler.RestoreRequestFile(cfg)},
				Resync: cfg.ResyncInterval.Duration,
			}
			if err := loop.Run(ctx); err != nil {
				return err
			}
			if cause := context.Cause(ctx); cause != nil {
				log.Info("Stopped", "cause", cause.Error())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "reconcile until Ready or Stalled, then exit")
	return cmd
}

// lockedReconciler confirms before every reconcile that this daemon still
// holds the state folder's lock, putting back a lock file someone removed,
// so no second process can start driving the host meanwhile.
type lockedReconciler struct {
	r    reconciler.Interface
	lock *lock.Lock
}

func (lr lockedReconciler) Reconcile(ctx context.Context) (reconciler.Result, error) {
	restored, err := lr.lock.Check()
	if err != nil {
		return reconciler.Result{}, fmt.Errorf("cannot confirm this daemon still holds %s; not reconciling: %w", lr.lock.Path(), err)
	}
	if restored {
		logr.FromContextOrDiscard(ctx).Info("Restored the lock file someone removed or replaced", "lock", lr.lock.Path())
	}
	return lr.r.Reconcile(ctx)
}
