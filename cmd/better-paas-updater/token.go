package main

import (
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/spf13/cobra"

	"github.com/better-paas/updater/internal/apitoken"
	"github.com/better-paas/updater/internal/config"
)

func newTokenCommand(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create or rotate the bearer token of the HTTP API",
		Long: `The daemon's HTTP API (api.listen in updater.yaml) answers only requests that
carry "Authorization: Bearer <token>". token create makes the token and prints
it once; only its SHA-256 is kept, in <stateDir>/api-token (mode 0600), so a
lost token cannot be shown again: token rotate makes a new one, and the old one
stops working at once, also for a running daemon.`,
	}
	cmd.AddCommand(
		newTokenSubcommand(o, "create", "Make the API token and print it once (refused when one exists)", apitoken.Create,
			"Only its SHA-256 is kept"),
		newTokenSubcommand(o, "rotate", "Replace the API token with a new one and print it once", apitoken.Rotate,
			"The previous token no longer works, also for a running daemon. Only the new one's SHA-256 is kept"),
	)
	return cmd
}

// newTokenSubcommand is `token create` or `token rotate`: change makes the token,
// kept says what became of the old one and where the hash is.
func newTokenSubcommand(o *options, use, short string, change func(path string) (string, error), kept string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := o.layout.APIToken
			token, err := change(path)
			if err != nil {
				return err
			}
			printToken(cmd.OutOrStdout(), o.cfg, token, kept+", in "+path+".")
			return nil
		},
	}
}

// printToken shows the token once, where its hash is kept, and how to use it.
func printToken(w io.Writer, cfg *config.Config, token, kept string) {
	fmt.Fprintf(w, "API token (shown only now; keep it somewhere safe):\n\n    %s\n\n%s\n", token, kept)
	if !cfg.API.Enabled() {
		fmt.Fprintf(w, "\nThe API is off (api.listen is \"\" in %s); set api.listen to serve it.\n", cfg.Path())
		return
	}
	fmt.Fprintf(w, "\nSend it with every request to the API:\n\n    %s\n", curlExample(cfg.API, token))
}

// curlExample is a request for the status with token, at the API's address.
func curlExample(a config.API, token string) string {
	auth := fmt.Sprintf(`curl -H "Authorization: Bearer %s"`, token)
	if p := a.SocketPath(); p != "" {
		return fmt.Sprintf("%s --unix-socket %s http://localhost/api/v1/status", auth, p)
	}
	return fmt.Sprintf("%s %s/api/v1/status", auth, baseURL(a.Address()))
}

// baseURL is the URL of a TCP listen address, loopback for a wildcard host.
func baseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + port
}
