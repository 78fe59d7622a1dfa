package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/gitrepo"
	"github.com/better-paas/updater/internal/updaterepo"
	"github.com/better-paas/updater/reconciler"
)

func newRepoCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "repo",
		Short: "Show or set UPDATE_REPO, the repository releases come from",
		Long: `UPDATE_REPO is resolved in this order: the UPDATE_REPO environment variable, the
value stored with "repo set", the checkout's git remote origin.`,
	}
	resolver := func() (updaterepo.Resolver, error) {
		cfg := o.cfg
		repo, err := gitrepo.Open(cfg.InstallDir)
		if err != nil {
			// Without a checkout only the first two sources can answer.
			res := reconciler.RepoResolver(cfg, nil)
			res.RemoteURL = func() (string, error) { return "", err }
			return res, nil
		}
		return reconciler.RepoResolver(cfg, repo), nil
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "show",
		Short: "Print UPDATE_REPO and which of its three sources set it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := resolver()
			if err != nil {
				return err
			}
			repo, from, err := res.Resolve()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (from the %s)\n", repo, from)
			return nil
		},
	}, &cobra.Command{
		Use:   "set OWNER/NAME",
		Short: "Store UPDATE_REPO (the environment variable still wins when set)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := updaterepo.Parse(args[0])
			if err != nil {
				return err
			}
			res, err := resolver()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(res.StoreFile), 0o755); err != nil {
				return fmt.Errorf("cannot create stateDir: %w", err)
			}
			if err := res.Store(repo); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "stored %s in %s\n", repo, res.StoreFile)
			return nil
		},
	}, &cobra.Command{
		Use:   "clear",
		Short: "Forget the stored UPDATE_REPO",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := resolver()
			if err != nil {
				return err
			}
			return res.Clear()
		},
	})
	return cmd
}
