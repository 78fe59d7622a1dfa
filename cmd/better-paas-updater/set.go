package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/desired"
	"github.com/better-paas/updater/spec"
)

func newSetCommand(o *options) *cobra.Command {
	var commit, channel, ifGeneration string
	var allowDowngrade, force bool
	cmd := &cobra.Command{
		Use:   "set VERSION",
		Short: "Write desired.yaml asking for VERSION (a tag such as v1.4.2, or latest)",
		Long: `set writes the spec of desired.yaml anew: the version, and --commit and
--allow-downgrade only when given again (a pin or a permission meant for one
version must not carry over to the next). The channel and metadata are kept.
A desired.yaml that is a symlink is written through, the link kept.

desired.yaml has other writers (people, the dashboard, Ansible, a GitOps repo).
set reads the file's generation (the SHA-256 of its bytes) and writes only if
the file is still that generation when it replaces it; if another writer
changed it in between, nothing is written and set exits 3, naming --force.
--if-generation sha256:... makes the same check against a generation read
earlier (printed by set, plan -o json and the API's GET status), for scripts
that decide from what they read. --force writes whatever the file holds now.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg := o.cfg
			if force && ifGeneration != "" {
				return errors.New("--force and --if-generation contradict each other: --force writes whatever desired.yaml holds, --if-generation only the generation given; use one")
			}
			want := ifGeneration
			if want == "" && !force {
				want = desired.Read(cfg.DesiredFile).Generation
			}
			// The same edit as the API's POST /api/v1/update.
			st, err := desired.Set(cfg.DesiredFile, want, desired.SetOptions{
				Version: args[0], Commit: commit, Channel: channel, AllowDowngrade: allowDowngrade,
			})
			if errors.Is(err, desired.ErrConflict) {
				return &exitError{code: exitConflict, err: fmt.Errorf(
					"cannot write %s: %w (generation %s, now %s): another writer got there first, and nothing was written. "+
						"Look at what it asks for now, then run set again, or add --force to overwrite it",
					cfg.DesiredFile, desired.ErrConflict, want, desired.Read(cfg.DesiredFile).Generation)}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: spec.version = %s (generation %s)\n", cfg.DesiredFile, args[0], st.Generation)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&commit, "commit", "", "the full commit hash the tag must point to (accepts a moved tag)")
	f.StringVar(&channel, "channel", "", "stable or prerelease (default: keep the file's)")
	f.BoolVar(&allowDowngrade, "allow-downgrade", false, "allow a version lower than the running one")
	f.BoolVar(&force, "force", false, "overwrite desired.yaml even if another writer changed it since set read it")
	f.StringVar(&ifGeneration, "if-generation", "", "write only if desired.yaml is still this generation (sha256:...); exit 3 otherwise")
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
