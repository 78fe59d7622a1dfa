package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/spec"
)

func newRollbackCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "rollback",
		Short: "Go back to the previous good version (pins it in desired.yaml)",
		Long: `rollback asks for the good version to go back to: the last known good version
when the one running never passed its health check here, otherwise the good
version before the running one. It pins that version in desired.yaml with
allowDowngrade, and stamps ` + spec.RollbackAnnotation + ` so the daemon records
the operation as a rollback in the history. It is the same edit as the API's
POST /api/v1/rollback. To move forward again, set a version (or latest).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, version, err := desired.Rollback(o.cfg.DesiredFile, o.layout.Status, "", time.Now())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: spec.version = %s (rollback; allowDowngrade)\n", o.cfg.DesiredFile, version)
			return nil
		},
	}
}
