package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/bytesize"
	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/reconciler"
)

func newPlanCommand(o *options) *cobra.Command {
	var output string
	var checkOutput func() error // set with the flag, below
	cmd := &cobra.Command{
		Use:         "plan",
		Annotations: map[string]string{readOnly: "true"},
		Short:       "Say what a reconcile would do now, changing nothing",
		Long: `plan observes the host and desired.yaml as the daemon does and says what its
next reconcile would do: the state and the action, the version and commit the
spec resolves to, the steps that would run, the space the backup would need,
and the version a rollback would go back to. It changes nothing: not
status.yaml, not desired.yaml, not the release cache, not the checkout. It may
ask the release source (as check does) and probes the app's health once.
It runs beside a daemon without taking its lock. -o json for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(); err != nil {
				return err
			}
			r, err := newReconciler(o.cfg, nil)
			if err != nil {
				return err
			}
			p, err := r.Plan(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return printDocument(cmd.OutOrStdout(), "json", p)
			}
			return printPlan(cmd.OutOrStdout(), p)
		},
	}
	checkOutput = outputFlag(cmd, &output, "text", "json")
	return cmd
}

// printPlan writes the plan in words, one fact a line.
func printPlan(out io.Writer, p reconciler.Plan) error {
	w := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%s:\t%s\n", label, fmt.Sprintf(format, args...))
	}
	line("State", "%s", p.State)
	line("Action", "%s", actionWords(p))
	running := orUnknown(p.CurrentVersion)
	if p.CurrentCommit != "" {
		running += " (commit " + shortCommit(p.CurrentCommit) + ")"
	}
	line("Running", "%s", running)
	if p.DesiredVersion != "" {
		line("Desired", "%s", p.DesiredVersion)
	}
	if p.TargetVersion != "" {
		line("Target", "%s (commit %s)", p.TargetVersion, shortCommit(p.TargetCommit))
	}
	if p.ReleasesStale != "" {
		line("Releases", "stale: %s", p.ReleasesStale)
	}
	if h := p.Policy; h != nil {
		line("Held back", "%s until %s: %s", h.Reason, policyUntil(h), h.Message)
	} else if p.Reason != "" {
		then := "retried with backoff"
		if p.Stalls {
			then = "stalls until desired.yaml changes or a human acts"
		}
		line("Refused", "%s (%s): %s", p.Reason, then, p.Message)
	}
	if len(p.Steps) > 0 {
		line("Steps", "%s", strings.Join(p.Steps, ", "))
	}
	for _, l := range artifactLines(p.Artifacts, p.ArtifactsError) {
		line("Artifact", "%s", l)
	}
	if b := p.Backup; b != nil {
		base := "a full copy"
		if b.Base != "" {
			base = "unchanged files linked to backup " + b.Base
		}
		line("Backup", "copies %d files (%s), links %d (%s); needs %s free in backupDir",
			b.CopyFiles, bytesize.Format(uint64(b.CopyBytes)), b.LinkFiles, base, bytesize.Format(b.NeedBytes))
	}
	if p.BackupError != "" {
		line("Backup", "%s", p.BackupError)
	}
	if p.RollbackTarget != "" {
		line("Rollback to", "%s", p.RollbackTarget)
	} else {
		line("Rollback to", "none: %s", strings.TrimPrefix(p.RollbackError, desired.ErrNothingToRollBack.Error()+": "))
	}
	fmt.Fprintln(w, "\nNothing was changed (plan only reads).")
	return w.Flush()
}

// actionWords says what the action does.
func actionWords(p reconciler.Plan) string {
	switch p.Action {
	case "Resume":
		return "Resume: finish the operation journaled in status.yaml"
	case "Restore":
		return "Restore: carry out the restore `backups restore` asked for"
	case "Settle":
		return "Settle: install nothing and record why (the last good version is kept running)"
	case "Hold":
		return "Hold: nothing, until desired.yaml changes (the last rollback failed; look at status)"
	case "MarkReady":
		return "MarkReady: nothing to install; the running target is recorded as the last known good version"
	case "Repair":
		return "Repair: start the installed target if it is down and wait until it is healthy"
	case "Wait":
		return "Wait: install nothing until the policy of desired.yaml lets the update through (below); the last good version is kept running"
	case "Update":
		if p.Reason != "" {
			return "Update, but the checks before it refuse it (below)"
		}
		return "Update"
	}
	return p.Action
}
