package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/better-paas/updater/reconciler"
	"github.com/better-paas/updater/status"
)

func newStatusCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print status.yaml: what the updater observed and did",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := o.cfg
			path := reconciler.StatusPath(cfg)
			st, err := status.Load(path)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("no status yet at %s: the daemon has not reconciled; start it with `better-paas-updater run`", path)
			}
			if err != nil {
				return err
			}
			var b []byte
			switch output {
			case "yaml":
				b, err = yaml.Marshal(st)
			case "json":
				b, err = json.MarshalIndent(st, "", "  ")
				b = append(b, '\n')
			default:
				return fmt.Errorf("-o %q: use yaml or json", output)
			}
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "yaml", "output format: yaml or json")
	return cmd
}
