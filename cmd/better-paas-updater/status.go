package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

func newStatusCommand(o *options) *cobra.Command {
	var output string
	var checkOutput func() error // set with the flag, below
	cmd := &cobra.Command{
		Use:         "status",
		Annotations: map[string]string{readOnly: "true"},
		Short:       "Summarise status.yaml: what runs, what is wanted, what happened (-o yaml|json: the whole file)",
		Long: `status prints a short summary of status.yaml: the version running and its
commit, since when, the version desired, Ready or Stalled with the reason and
message, the operation in flight and its step, the last outcome, the versions
that failed here, the version a rollback would go back to, and the last sync
from a fleet repo (desiredFrom.git) with a pause, if any. -o yaml and
-o json print status.yaml itself, for scripts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(); err != nil {
				return err
			}
			st, err := loadStatus(o)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "text" {
				return printStatus(w, st)
			}
			return printDocument(w, output, st)
		},
	}
	checkOutput = outputFlag(cmd, &output, "text", "yaml", "json")
	return cmd
}

// loadStatus reads status.yaml, saying how to get one when there is none.
func loadStatus(o *options) (*status.VersionStatus, error) {
	path := reconciler.StatusPath(o.cfg)
	st, err := status.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no status yet at %s: the daemon has not reconciled; start it with `better-paas-updater run`", path)
	}
	return st, err
}

// printDocument writes v as YAML or indented JSON (format "yaml" or "json").
func printDocument(w io.Writer, format string, v any) error {
	var b []byte
	var err error
	if format == "yaml" {
		b, err = yaml.Marshal(v)
	} else {
		b, err = json.MarshalIndent(v, "", "  ")
		b = append(b, '\n')
	}
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// printStatus writes the human summary of st, one fact a line, with what
// is absent left out.
func printStatus(out io.Writer, st *status.VersionStatus) error {
	w := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
	line := func(label, format string, args ...any) {
		fmt.Fprintf(w, "%s:\t%s\n", label, fmt.Sprintf(format, args...))
	}

	running := orUnknown(st.CurrentVersion)
	if st.CurrentCommit != "" {
		running += " (commit " + shortCommit(st.CurrentCommit) + ")"
	}
	if since, ok := runningSince(st); ok {
		running += ", since " + since.UTC().Format(time.RFC3339)
	}
	line("Running", "%s", running)
	desiredV := orUnknown(st.DesiredVersion)
	if st.TargetVersion != "" && st.TargetVersion != st.DesiredVersion {
		desiredV += " (resolves to " + st.TargetVersion + ")"
	}
	line("Desired", "%s", desiredV)
	// Ready is always there; Stalled, when present, says the same thing
	// more precisely, so a Ready=False that only repeats it is left out.
	stalled := st.Get(status.TypeStalled)
	if c := st.Get(status.TypeReady); c != nil {
		switch {
		case c.Status == status.True:
			line("Ready", "%s: %s", c.Reason, c.Message)
		case stalled == nil || stalled.Reason != c.Reason || stalled.Message != c.Message:
			line("Not ready", "%s: %s", c.Reason, c.Message)
		}
	}
	if stalled != nil {
		line("Stalled", "%s: %s", stalled.Reason, stalled.Message)
	}
	if c := st.Get(status.TypeReleasesStale); c != nil {
		line("Releases", "stale: %s", c.Message)
	}
	if op := st.Operation; op != nil {
		what := fmt.Sprintf("%s -> %s, step %s", orNothing(op.From.Version), op.To.Version, op.Step)
		if op.Phase == status.PhaseUndo {
			what = fmt.Sprintf("%s -> %s, rolling back, undoing %s", orNothing(op.From.Version), op.To.Version, op.Step)
			if op.Failure != nil {
				what += fmt.Sprintf(" (%s failed: %s)", op.Failure.Step, op.Failure.Reason)
			}
		}
		if op.Attempt > 1 {
			what += fmt.Sprintf(", attempt %d", op.Attempt)
		}
		line("In flight", "%s (operation %s, started %s)", what, op.ID, op.StartedAt.UTC().Format(time.RFC3339))
	}
	if len(st.History) > 0 {
		line("Last", "%s", historyLine(st.History[0]))
	}
	for i, f := range st.FailedVersions {
		label := ""
		if i == 0 {
			label = "Failed"
		}
		fmt.Fprintf(w, "%s\t%s at step %s (%s), %s\n", label+":", f.Version, f.Step, f.Reason, f.FailedAt.UTC().Format(time.RFC3339))
	}
	if f := st.Fleet; f != nil {
		line("Fleet", "%s", fleetLine(f))
		if p := f.Paused; p != nil {
			line("Paused", "%s", p.Message)
		}
	}
	if v, err := desired.RollbackTarget(st); err == nil {
		line("Rollback to", "%s (better-paas-updater rollback)", v)
	} else {
		line("Rollback to", "none: %s", strings.TrimPrefix(err.Error(), desired.ErrNothingToRollBack.Error()+": "))
	}
	return w.Flush()
}

// fleetLine is the last sync from the fleet repo in words: how it ended,
// the commit and file, the host's cohort, and why when it says.
func fleetLine(f *status.FleetStatus) string {
	s := string(f.Result)
	if f.Reason != "" {
		s += " (" + f.Reason + ")"
	}
	s += " " + f.Repo
	if f.Commit != "" {
		s += " at " + shortCommit(f.Commit)
	}
	if f.Path != "" {
		s += " " + f.Path
	}
	s += fmt.Sprintf(", cohort %d, %s", f.Cohort, f.SyncedAt.UTC().Format(time.RFC3339))
	if f.Result == status.FleetRefused || f.Result == status.FleetFailed {
		s += ": " + ellipsis(f.Message, 200)
	}
	return s
}

// runningSince is when the running version started to run here: the end
// of the newest operation that left it running (an update to it, or a
// rollback back to it).
func runningSince(st *status.VersionStatus) (time.Time, bool) {
	for _, e := range st.History { // newest first
		switch {
		case e.Result == status.ResultSucceeded && e.To == st.CurrentVersion:
			return e.FinishedAt, true
		case e.Result == status.ResultRolledBack && e.From == st.CurrentVersion:
			continue // it ran before and after: look further back
		default:
			return time.Time{}, false
		}
	}
	return time.Time{}, false
}

// historyLine is one history entry in words.
func historyLine(e status.HistoryEntry) string {
	kind := "update"
	if e.Kind == status.KindRollback {
		kind = "rollback"
	}
	s := fmt.Sprintf("%s %s -> %s %s at %s", kind, orNothing(e.From), e.To, e.Result, e.FinishedAt.UTC().Format(time.RFC3339))
	if e.FailedStep != "" {
		s += fmt.Sprintf(" (step %s failed: %s)", e.FailedStep, ellipsis(e.Message, 100))
	}
	return s
}

// ellipsis cuts s to at most n runes, marking the cut; history -o json
// and status -o yaml have the whole message.
func ellipsis(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func newHistoryCommand(o *options) *cobra.Command {
	var output string
	var checkOutput func() error // set with the flag, below
	cmd := &cobra.Command{
		Use:         "history",
		Annotations: map[string]string{readOnly: "true"},
		Short:       "List the operations status.yaml remembers, newest first",
		Long: `history lists the updates and rollbacks status.yaml remembers (the newest ` + fmt.Sprint(status.MaxHistory) + `),
newest first: when each ended, from and to which version, how it ended and, for
one that rolled back, the step that failed and why. -o json prints
{"history":[...]}, as the API's GET /api/v1/history.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(); err != nil {
				return err
			}
			st, err := loadStatus(o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				h := st.History
				if h == nil {
					h = []status.HistoryEntry{}
				}
				return printDocument(out, "json", map[string]any{"history": h})
			}
			if len(st.History) == 0 {
				_, err := fmt.Fprintln(out, "no operation yet")
				return err
			}
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "FINISHED\tKIND\tFROM\tTO\tRESULT\tFAILED STEP\tID")
			for _, e := range st.History {
				kind := "Update"
				if e.Kind != status.KindUpdate {
					kind = string(e.Kind)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.FinishedAt.UTC().Format(time.RFC3339), kind,
					orDash(e.From), e.To, e.Result, orDash(e.FailedStep), e.ID)
			}
			return w.Flush()
		},
	}
	checkOutput = outputFlag(cmd, &output, "text", "json")
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func orNothing(v string) string {
	if v == "" {
		return "nothing"
	}
	return v
}

// shortCommit is the first 12 hex digits of a commit, as git shows them.
func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}
