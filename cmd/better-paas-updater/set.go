package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/spec"
)

func newSetCommand(o *options) *cobra.Command {
	var commit, channel string
	var allowDowngrade bool
	cmd := &cobra.Command{
		Use:   "set VERSION",
		Short: "Write desired.yaml asking for VERSION (a tag such as v1.4.2, or latest)",
		Long: `set writes the spec of desired.yaml anew: the version, and --commit and
--allow-downgrade only when given again (a pin or a permission meant for one
version must not carry over to the next). The channel and metadata are kept.
A desired.yaml that is a symlink is written through, the link kept.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := o.cfg
			// The same edit as the API's POST /api/v1/update.
			if _, err := desired.Set(cfg.DesiredFile, "", desired.SetOptions{
				Version: args[0], Commit: commit, Channel: channel, AllowDowngrade: allowDowngrade,
			}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: spec.version = %s\n", cfg.DesiredFile, args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&commit, "commit", "", "the full commit hash the tag must point to (accepts a moved tag)")
	f.StringVar(&channel, "channel", "", "stable or prerelease (default: keep the file's)")
	f.BoolVar(&allowDowngrade, "allow-downgrade", false, "allow a version lower than the running one")
	return cmd
}

func newValidateCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:         "validate -f FILE",
		Annotations: map[string]string{noConfig: "true"},
		Short:       "Check a desired.yaml without changing anything",
		Args:        cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			d, err := spec.Load(file)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: valid, spec.version = %s\n", file, d.Spec.Version)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the desired.yaml to check")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}
