package main

import (
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/backup"
	"github.com/better-paas/updater/internal/lock"
)

func newBackupsCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backups",
		Short: "List, verify and restore the backups of data/ taken before each update",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List complete backups, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.loadConfig()
			if err != nil {
				return err
			}
			list, err := backup.List(cfg.BackupDir)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tCREATED\tCONSISTENT\tFILES\tBYTES")
			for _, b := range list {
				consistent := "no (hot pass only)"
				if !b.FinishedAt.IsZero() {
					consistent = b.FinishedAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\n", b.ID, b.CreatedAt.UTC().Format(time.RFC3339), consistent, b.Files, b.Bytes)
			}
			return w.Flush()
		},
	}, &cobra.Command{
		Use:   "verify ID",
		Short: "Re-hash every file of a backup against its manifest",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.loadConfig()
			if err != nil {
				return err
			}
			if err := backup.Verify(cmd.Context(), cfg.BackupDir, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: every file matches its manifest\n", args[0])
			return nil
		},
	}, &cobra.Command{
		Use:   "restore ID",
		Short: "Stop the service, put backup ID back as data/ (the current data is kept aside), start and health-check",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := o.logger()
			if err != nil {
				return err
			}
			cfg, err := o.loadConfig()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
				return fmt.Errorf("cannot create stateDir: %w", err)
			}
			// No update may run while data/ is being replaced.
			l, err := lock.Acquire(filepath.Join(cfg.StateDir, "lock"), "backups restore")
			if err != nil {
				return err
			}
			defer l.Release()
			ctx := logr.NewContext(cmd.Context(), log)
			r, err := newReconciler(ctx, cfg)
			if err != nil {
				return err
			}
			replaced, err := r.RestoreBackup(ctx, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %s into %s; the replaced data is kept in %s\n", args[0], cfg.DataDir, replaced)
			return nil
		},
	})
	return cmd
}
