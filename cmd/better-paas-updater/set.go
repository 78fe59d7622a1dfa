package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/spec"
)

func newSetCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "set VERSION",
		Short: "Write desired.yaml asking for VERSION (a tag such as v1.4.2, or latest)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.loadConfig()
			if err != nil {
				return err
			}
			// Keep what else the file says (metadata written by Ansible or
			// the dashboard); only an unreadable file is replaced whole.
			d, err := spec.Load(cfg.DesiredFile)
			if err != nil {
				d = spec.New(args[0])
			}
			d.Spec.Version = args[0]
			if err := spec.Write(cfg.DesiredFile, d); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: spec.version = %s\n", cfg.DesiredFile, args[0])
			return nil
		},
	}
}

func newValidateCommand() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check a desired.yaml without changing anything",
		Args:  cobra.NoArgs,
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
