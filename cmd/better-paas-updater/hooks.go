package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/hooks"
	"github.com/better-paas/updater/reconciler"
)

// hooksListing is what `hooks list -o json` prints.
type hooksListing struct {
	HooksDir string `json:"hooksDir"`
	// Timeout is timeouts.hook, each script's bound; MaxRetries is
	// hooks.maxRetries, how often exit 21 may hold one update.
	Timeout    string `json:"timeout"`
	MaxRetries int    `json:"maxRetries"`
	// Steps are the update's steps in the order they run, each with the
	// scripts that would run around it, in order.
	Steps []hookStep `json:"steps"`
	// Refused are the files that stop every hook from running, and why.
	Refused []refusedHook `json:"refused"`
}

type hookStep struct {
	Step  string       `json:"step"`
	State string       `json:"state"`
	Enter []hookScript `json:"enter"`
	Leave []hookScript `json:"leave"`
	Error []hookScript `json:"error"`
}

type hookScript struct {
	Name  string `json:"name"`
	Order int    `json:"order"`
	Path  string `json:"path"`
	// Target is where a symlink points (inside hooksDir), else empty.
	Target string `json:"target,omitempty"`
}

type refusedHook struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// newHooksCommand is `hooks list`: what the hooks folder would run at each
// step of an update, in order, and what it refuses. It runs no script and
// changes nothing. It exits 1 when a script is refused, since then no hook
// runs at all (the daemon refuses to start; an update stalls with
// HookRefused).
func newHooksCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hooks",
		Short: "Inspect the hook scripts in hooksDir",
	}
	var output string
	list := &cobra.Command{
		Use:   "list",
		Short: "Show what would run at each step, in order, and what is refused and why",
		Long: `Lists the scripts of hooksDir under the step they belong to, in the order they
run: Enter scripts before the step, Leave scripts after it succeeded, Error
scripts after it failed, each by NN then name. Refused files are listed with
the reason and the fix: a name that matches no step or pattern, a script not
executable, writable by group or others, owned by neither root nor the
updater's user, or a symlink that leaves hooksDir. While any file is
refused no hook runs: the daemon does not start and an update stalls with
reason HookRefused. Exit code 1 when a file is refused. -o json prints the
same as a document.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: use text or json", output)
			}
			l, err := listHooks(o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(l); err != nil {
					return err
				}
			} else if err := printHooks(out, l); err != nil {
				return err
			}
			if n := len(l.Refused); n > 0 {
				return &exitError{code: exitFailure, quiet: output == "json",
					err: fmt.Errorf("%d file(s) in %s refused: no hook runs until they are fixed", n, l.HooksDir)}
			}
			return nil
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.AddCommand(list)
	return cmd
}

// listHooks reads hooksDir as the daemon would (hooks.Scan and
// hooks.ValidateStates against the steps of updater.yaml).
func listHooks(o *options) (*hooksListing, error) {
	cfg := o.cfg
	entries, err := hooks.Scan(cfg.HooksDir)
	if err != nil {
		return nil, fmt.Errorf("%s: hooksDir: %w", cfg.Path(), err)
	}
	steps := reconciler.StepNames(cfg)
	l := &hooksListing{HooksDir: cfg.HooksDir, Timeout: cfg.Timeouts.Hook.String(), MaxRetries: cfg.Hooks.MaxRetries,
		Steps: []hookStep{}, Refused: []refusedHook{}}
	byState := map[string]*hookStep{}
	for _, s := range steps {
		l.Steps = append(l.Steps, hookStep{Step: s, State: hooks.StateName(s), Enter: []hookScript{}, Leave: []hookScript{}, Error: []hookScript{}})
	}
	for i := range l.Steps {
		byState[l.Steps[i].State] = &l.Steps[i]
	}
	for _, e := range entries {
		refused := e.Refused
		if refused == nil {
			refused = hooks.ValidateStates([]hooks.Script{e.Script}, steps...)
		}
		if refused != nil {
			l.Refused = append(l.Refused, refusedHook{Name: e.Name, Path: e.Path, Reason: refused.Error()})
			continue
		}
		st := byState[e.State]
		s := hookScript{Name: e.Name, Order: e.Order, Path: e.Path, Target: e.Target}
		switch e.Action {
		case hooks.ActionEnter:
			st.Enter = append(st.Enter, s)
		case hooks.ActionLeave:
			st.Leave = append(st.Leave, s)
		case hooks.ActionError:
			st.Error = append(st.Error, s)
		default:
			return nil, errors.New("cannot list hooks: unknown action " + string(e.Action))
		}
	}
	return l, nil
}

// printHooks writes l for people: one line per script in the order they
// run, then the refused files.
func printHooks(out io.Writer, l *hooksListing) error {
	fmt.Fprintf(out, "hooksDir %s: each script may run %s (timeouts.hook); exit 21 may hold an update %d times (hooks.maxRetries)\n\n",
		l.HooksDir, l.Timeout, l.MaxRetries)
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "STEP\tWHEN\tNN\tSCRIPT")
	n := 0
	for _, st := range l.Steps {
		for _, g := range []struct {
			when    string
			scripts []hookScript
		}{{"Enter (before)", st.Enter}, {"Leave (after success)", st.Leave}, {"Error (after failure)", st.Error}} {
			for _, s := range g.scripts {
				name := s.Name
				if s.Target != "" {
					name += " -> " + s.Target
				}
				fmt.Fprintf(w, "%s\t%s\t%02d\t%s\n", st.Step, g.when, s.Order, name)
				n++
			}
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if n == 0 {
		fmt.Fprintln(out, "(no hook scripts would run)")
	}
	if len(l.Refused) == 0 {
		return nil
	}
	fmt.Fprintf(out, "\nREFUSED: while any file below is refused, no hook runs (the daemon does not start; an update stalls with HookRefused)\n")
	for _, r := range l.Refused {
		fmt.Fprintf(out, "%s\n  %s\n", r.Name, r.Reason)
	}
	return nil
}
