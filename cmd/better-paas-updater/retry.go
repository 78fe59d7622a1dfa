package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/spec"
)

func newRetryCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "retry",
		Short: "Try the desired version again although it failed on this host",
		Long: `A version that failed and was rolled back is not retried until desired.yaml
changes. retry changes it for you: it stamps the annotation ` + spec.RetryAnnotation + `
with the current time, which the daemon sees as a new spec and acts on once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.loadConfig()
			if err != nil {
				return err
			}
			d, err := spec.Load(cfg.DesiredFile)
			if err != nil {
				return fmt.Errorf("cannot retry: %w", err)
			}
			if d.Metadata.Annotations == nil {
				d.Metadata.Annotations = map[string]string{}
			}
			d.Metadata.Annotations[spec.RetryAnnotation] = time.Now().UTC().Format(time.RFC3339Nano)
			if err := spec.Write(cfg.DesiredFile, d); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: asked to retry %s\n", cfg.DesiredFile, d.Spec.Version)
			return nil
		},
	}
}
