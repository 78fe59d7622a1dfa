package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/bytesize"
	"github.com/better-paas/updater/reconciler"
)

func newCheckCommand(o *options) *cobra.Command {
	var output string
	var refresh bool
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check for a newer release (exit 0: up to date, 100: update available, 1: error)",
		Long: `check asks the release source (GitHub Releases of UPDATE_REPO, cached for 30 minutes,
or the git tags of the checkout's remote) for the newest version and compares it with
the version the host runs. It changes nothing. --refresh bypasses the cache.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("-o %q: use text or json", output)
			}
			// Listing releases needs no reconciler, service or hooks.
			res, err := reconciler.Check(cmd.Context(), o.cfg, nil, refresh)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				b, err := json.MarshalIndent(res, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s\n", b)
			} else {
				fmt.Fprintf(w, "running:   %s\n", orUnknown(res.CurrentVersion))
				fmt.Fprintf(w, "newest:    %s\n", orUnknown(res.LatestVersion))
				fmt.Fprintf(w, "source:    %s\n", res.Source)
				if res.Repo != "" {
					fmt.Fprintf(w, "repo:      %s (from the %s)\n", res.Repo, res.RepoFrom)
				}
				fmt.Fprintf(w, "fetched:   %s\n", res.FetchedAt.UTC().Format(time.RFC3339))
				if res.Stale != "" {
					fmt.Fprintf(w, "stale:     %s\n", res.Stale)
				}
				if len(res.SkippedFailed) > 0 {
					fmt.Fprintf(w, "skipped:   %s (failed here; `better-paas-updater retry [VERSION]` tries once more)\n", strings.Join(res.SkippedFailed, ", "))
				}
				for _, l := range artifactLines(res.Artifacts, res.ArtifactsError) {
					fmt.Fprintf(w, "artifact:  %s\n", l)
				}
			}
			if res.UpdateAvailable {
				// In JSON the answer is in the document; stderr stays clean
				// for scripts that treat any output there as an error.
				return &exitError{code: exitUpdateAvailable, quiet: output == "json",
					err: fmt.Errorf("update available: %s -> %s", orUnknown(res.CurrentVersion), res.LatestVersion)}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().BoolVar(&refresh, "refresh", false, "ask the source now, bypassing the cache")
	return cmd
}

func orUnknown(v string) string {
	if v == "" {
		return "unknown"
	}
	return v
}

// artifactLines describes, one line each, the assets an update would
// download (artifact: prebuilt), or why they are unknown.
func artifactLines(as []reconciler.ArtifactInfo, errText string) []string {
	if errText != "" {
		return []string{"unknown: " + errText}
	}
	var lines []string
	for _, a := range as {
		if a.Missing {
			lines = append(lines, fmt.Sprintf("%s %s: MISSING from the release: the update would be refused", a.Role, a.Name))
			continue
		}
		l := fmt.Sprintf("%s %s (%s) from %s", a.Role, a.Name, bytesize.Format(uint64(a.Size)), a.URL)
		if a.Digest != "" {
			l += ", " + a.Digest
		}
		lines = append(lines, l)
	}
	return lines
}
