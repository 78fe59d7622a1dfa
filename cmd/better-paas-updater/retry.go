package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/desired"
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
			version := ""
			if len(args) == 1 {
				version = args[0]
			}
			// The same edit as the API's POST /api/v1/retry. A VERSION
			// that is not a tag, or not the one a pinned spec asks for, is
			// refused; nothing is written then.
			_, what, err := desired.Retry(cfg.DesiredFile, "", version, time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: asked to retry %s once more\n", cfg.DesiredFile, what)
			return nil
		},
	}
}
