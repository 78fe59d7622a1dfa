package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// outputFlag adds -o/--output to cmd, defaulting to formats[0], with the
// formats offered to shell completion; check reports a value that is not
// one of them, naming the ones there are.
func outputFlag(cmd *cobra.Command, output *string, formats ...string) (check func() error) {
	cmd.Flags().StringVarP(output, "output", "o", formats[0], "output format: "+strings.Join(formats, ", "))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions(formats, cobra.ShellCompDirectiveNoFileComp))
	return func() error {
		if !slices.Contains(formats, *output) {
			return fmt.Errorf("-o %q: use %s", *output, strings.Join(formats, ", "))
		}
		return nil
	}
}
