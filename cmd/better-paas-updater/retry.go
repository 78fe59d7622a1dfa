package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/spec"
)

func newRetryCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "retry [VERSION]",
		Short: "Try a version that failed on this host once more",
		Long: `A version that failed and was rolled back is not tried again on its own: a
pinned spec waits until desired.yaml changes, and latest skips it. retry asks
for one more try: it stamps the annotation ` + spec.RetryAnnotation + ` with the
current time, which the daemon sees as a new spec and acts on once. Under latest
it retries the newest failed release, or VERSION when given (written to
` + spec.RetryVersionAnnotation + `); a pinned spec retries its own version.
If the version fails again it is skipped again.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := o.cfg
			d, err := spec.Load(cfg.DesiredFile)
			if err != nil {
				return fmt.Errorf("cannot retry: %w", err)
			}
			if d.Metadata.Annotations == nil {
				d.Metadata.Annotations = map[string]string{}
			}
			d.Metadata.Annotations[spec.RetryAnnotation] = time.Now().UTC().Format(time.RFC3339Nano)
			delete(d.Metadata.Annotations, spec.RetryVersionAnnotation)
			what := d.Spec.Version
			if len(args) == 1 {
				d.Metadata.Annotations[spec.RetryVersionAnnotation] = args[0]
				what = args[0]
			} else if d.Spec.IsLatest() {
				what = "the newest release that failed (latest)"
			}
			// Validate refuses a VERSION that is not a tag, or that is
			// not the one a pinned spec asks for; nothing is written then.
			if err := spec.Write(cfg.DesiredFile, d); err != nil {
				return fmt.Errorf("cannot retry: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: asked to retry %s once more\n", cfg.DesiredFile, what)
			return nil
		},
	}
}
