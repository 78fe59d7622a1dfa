package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/lock"
	"github.com/better-paas/updater/internal/selfupdate"
	"github.com/better-paas/updater/status"
)

// selfUpdateCheck is what `self-update --check -o json` prints.
type selfUpdateCheck struct {
	Repo    string `json:"repo"`
	Running string `json:"running"`
	// Newest is the release self-update would install; "" when none.
	Newest          string                    `json:"newest,omitempty"`
	UpdateAvailable bool                      `json:"updateAvailable"`
	LastSelfUpdate  *status.SelfUpdateRecord  `json:"lastSelfUpdate,omitempty"`
	FailedVersions  []status.FailedSelfUpdate `json:"failedVersions,omitempty"`
}

func newSelfUpdateCommand(o *options) *cobra.Command {
	var check bool
	var output string
	var checkOutput func() error // set with the flag, below
	cmd := &cobra.Command{
		Use:   "self-update",
		Short: "Update the updater itself to its newest verified release (--check: only say)",
		Long: `self-update installs the newest stable release of the updater from the GitHub
releases of selfUpdate.repo: it downloads the archive for this platform, checks
SHA256SUMS against its minisign signature (selfUpdate.publicKey), checks that the
binary reports the release's version, tries it (a read-only plan with this
updater.yaml) and then renames it over the running binary, keeping the old one as
<binary>.bak. A release that fails any of this is recorded in status.yaml and not
tried again.

It runs only while no daemon runs: a daemon with selfUpdate.enabled does the same
every selfUpdate.interval, and hands over to the new binary only once that
reconciled, or puts the old one back.

--check only says whether there is a newer release (exit 100, like check) and
which versions failed here; it changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(); err != nil {
				return err
			}
			ctx, cfg, w := cmd.Context(), o.cfg, cmd.OutOrStdout()
			u, err := selfupdate.New(selfupdate.Options{Config: cfg, ConfigPath: cfg.Path(), Version: version})
			if err != nil {
				return err
			}
			if check {
				rel, ok, err := u.Check(ctx, false)
				if err != nil {
					return err
				}
				res := selfUpdateCheck{Repo: cfg.SelfUpdate.Repo, Running: version, Newest: rel.Version, UpdateAvailable: ok}
				if st, err := status.Load(o.layout.Status); err == nil && st.Updater != nil {
					res.LastSelfUpdate, res.FailedVersions = st.Updater.LastSelfUpdate, st.Updater.FailedVersions
				}
				if output == "json" {
					if err := printDocument(w, "json", res); err != nil {
						return err
					}
				} else {
					printSelfUpdateCheck(cmd, res)
				}
				if ok {
					return &exitError{code: exitUpdateAvailable, quiet: output == "json",
						err: fmt.Errorf("updater update available: %s -> %s", version, rel.Version)}
				}
				return nil
			}
			l, err := lock.Acquire(o.layout.Lock, "self-update")
			var held *lock.HeldError
			if errors.As(err, &held) {
				return fmt.Errorf("%w; a running daemon updates itself every selfUpdate.interval when selfUpdate.enabled is true, or stop it (systemctl stop) to run self-update by hand", err)
			}
			if err != nil {
				return err
			}
			defer l.Release()
			v, err := u.Install(ctx)
			if err != nil {
				return err
			}
			if v == "" {
				fmt.Fprintf(w, "The updater is up to date: %s\n", version)
				return nil
			}
			fmt.Fprintf(w, "Installed updater %s over %s (%s; the old binary is %s.bak). It runs from the next start of the daemon.\n",
				v, version, u.Executable(), u.Executable())
			return nil
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "only say whether a newer release exists (exit 100 when one does)")
	checkOutput = outputFlag(cmd, &output, "text", "json")
	return cmd
}

// printSelfUpdateCheck writes res in words.
func printSelfUpdateCheck(cmd *cobra.Command, res selfUpdateCheck) {
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "repo:      %s\n", res.Repo)
	fmt.Fprintf(w, "running:   %s\n", res.Running)
	if res.UpdateAvailable {
		fmt.Fprintf(w, "newest:    %s\n", res.Newest)
	} else {
		fmt.Fprintf(w, "newest:    %s (no newer release that has not failed here)\n", res.Running)
	}
	if r := res.LastSelfUpdate; r != nil {
		fmt.Fprintf(w, "last:      %s -> %s: %s", r.From, r.To, r.Result)
		if r.Reason != "" {
			fmt.Fprintf(w, " (%s)", r.Reason)
		}
		fmt.Fprintf(w, " at %s\n", r.Time.Format("2006-01-02T15:04:05Z07:00"))
	}
	for _, f := range res.FailedVersions {
		fmt.Fprintf(w, "failed:    %s: %s: %s\n", f.Version, f.Reason, f.Message)
	}
}

// restartIfAsked carries out a selfupdate.Restart that the run command
// returned, once its deferred clean-ups (the lock, the API) have run: the
// process becomes the other updater binary. Any other err is returned.
func restartIfAsked(log logr.Logger, err error) error {
	r, ok := selfupdate.AsRestart(err)
	if !ok {
		return err
	}
	log.Info("Restarting as another updater binary", "binary", r.Path, "from", r.From, "to", r.To)
	return r.Exec()
}

// unlessRestarting returns a context that ends when ctx does, unless ctx
// ended because of a selfupdate.Restart.
func unlessRestarting(ctx context.Context) context.Context {
	out, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	context.AfterFunc(ctx, func() {
		if _, ok := selfupdate.AsRestart(context.Cause(ctx)); !ok {
			cancel(context.Cause(ctx))
		}
	})
	return out
}
