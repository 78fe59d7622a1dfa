package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/bytesize"
	"github.com/better-paas/updater/internal/config"
	"github.com/better-paas/updater/internal/lock"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

func newBackupsCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backups",
		Short: "List, verify and restore the backups of data/ taken before each update",
	}
	cmd.AddCommand(newBackupsListCommand(o), newBackupsVerifyCommand(o), newRestoreCommand(o))
	return cmd
}

// newBackupsListCommand lists the backups, saying whose data each holds,
// and the copies of data/ that restores set aside.
func newBackupsListCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List complete backups, oldest first, and the data that restores replaced",
		Long: `list shows every complete backup, oldest first: when it was taken, whose data
it holds (DATA OF: the version that ran) and which update took it (BEFORE
INSTALLING), whether it had its cold pass (CONSISTENT: when the app was
stopped), its files and size. A dash is a label the backup does not have
(taken before labels existed, or before any version was installed).
Then, under "Data replaced by restores", the copies of data/ (and of each
of backup.paths) that restores set aside beside it, which retention
prunes after each backup to the newest backupsToKeep. -o json prints the
same as the API's GET /api/v1/backups.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: use text or json", output)
			}
			list, err := reconciler.ListBackups(cmd.Context(), o.cfg)
			if err != nil {
				return err
			}
			if output == "json" {
				b, err := json.MarshalIndent(list, "", "  ")
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				return err
			}
			return printBackups(cmd.OutOrStdout(), list)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// printBackups writes the tables of `backups list`.
func printBackups(out io.Writer, list reconciler.BackupList) error {
	orDash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tCREATED\tDATA OF\tBEFORE INSTALLING\tCONSISTENT\tFILES\tSIZE")
	for _, b := range list.Backups {
		consistent := "no (hot pass only)"
		if b.Consistent {
			consistent = b.FinishedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", b.ID, b.CreatedAt.Format(time.RFC3339),
			orDash(b.DataOf), orDash(b.TakenBefore), consistent, b.Files, bytesize.Format(uint64(b.Bytes)))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(list.Replaced) == 0 {
		return nil
	}
	fmt.Fprintln(out, "\nData replaced by restores:")
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "PATH\tREPLACED\tSIZE")
	for _, r := range list.Replaced {
		size := "?"
		if r.Bytes != nil {
			size = bytesize.Format(uint64(*r.Bytes))
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", r.Path, r.ReplacedAt.Format(time.RFC3339), size)
	}
	return w.Flush()
}

// newBackupsVerifyCommand re-hashes a backup and names every file that
// does not match its manifest, one line each.
func newBackupsVerifyCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "verify ID",
		Short: "Re-hash every file of a backup against its manifest and name every file that differs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := o.cfg
			id := args[0]
			err := backup.Verify(cmd.Context(), cfg.BackupDir, id)
			var ce *backup.CorruptError
			if errors.As(err, &ce) {
				// One line per path, quoted: a name may hold a newline.
				for _, m := range ce.Mismatches {
					if m.Part != "" { // a path in the install, in backup.paths
						fmt.Fprintf(cmd.OutOrStdout(), "%q (backup.paths %q): %s\n", m.Path, m.Part, m.Problem)
						continue
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%q: %s\n", m.Path, m.Problem)
				}
				return fmt.Errorf("cannot verify backup %s: %w at %d paths (listed above)", id, backup.ErrCorrupt, len(ce.Mismatches))
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: every file matches its manifest\n", id)
			return nil
		},
	}
}

func newRestoreCommand(o *options) *cobra.Command {
	var force bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "restore ID",
		Short: "Stop the service, put backup ID back as data/ (the current data is kept aside), start and health-check",
		Long: `restore puts a backup of data/ back, and the extra paths of backup.paths it
holds (each current one is moved aside; one the backup recorded as missing is
only moved aside). When a daemon runs, it is asked to do it
(it owns the host and holds the lock) between two updates, and restore waits for
its answer in status.yaml. Otherwise restore does it itself, holding the lock.
A backup with only its hot pass (copied while the app ran) needs --force.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, ctx, id := o.cfg, cmd.Context(), args[0]
			// No update may run while data/ is being replaced.
			l, err := lock.Acquire(o.layout.Lock, "backups restore")
			var held *lock.HeldError
			if errors.As(err, &held) {
				return askDaemon(ctx, cmd.OutOrStdout(), cfg, held, id, force, timeout)
			}
			if err != nil {
				return err
			}
			defer l.Release()
			r, err := newReconciler(cfg, nil)
			if err != nil {
				return err
			}
			res, err := r.RestoreBackup(ctx, id, force)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), reconciler.RestoreSummary(cfg, id, res))
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "restore a backup that has only its hot pass (copied while the app ran)")
	cmd.Flags().DurationVar(&timeout, "timeout", 15*time.Minute, "how long to wait for a running daemon to carry the restore out")
	return cmd
}

// askDaemon hands the restore to the daemon that holds the lock and waits
// for its answer in status.yaml.
func askDaemon(ctx context.Context, out io.Writer, cfg *config.Config, held *lock.HeldError, id string, force bool, timeout time.Duration) error {
	req, err := reconciler.NewRestoreRequest(id, force, time.Now())
	if err != nil {
		return err
	}
	if err := reconciler.WriteRestoreRequest(cfg, req); err != nil {
		return err
	}
	holder := "the running daemon"
	if held.PID > 0 {
		holder = fmt.Sprintf("the running daemon (pid %d)", held.PID)
	}
	fmt.Fprintf(out, "asked %s to restore %s; waiting for it (it finishes an update in progress first)\n", holder, id)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := status.Load(reconciler.StatusPath(cfg))
		if err == nil && st.Restore != nil && st.Restore.RequestID == req.ID {
			switch st.Restore.Phase {
			case status.RestoreSucceeded:
				fmt.Fprintln(out, st.Restore.Message)
				return nil
			case status.RestoreFailed:
				return errors.New(st.Restore.Message)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cannot confirm the restore of %s: no answer from %s within %s; the request stays in %s (remove it to withdraw it) and status.yaml will say how it went",
				id, holder, timeout, reconciler.RestoreRequestFile(cfg))
		case <-tick.C:
		}
	}
}
