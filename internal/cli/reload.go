package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func reloadCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Make a running server re-read its config file (as SIGHUP does)",
		Long: `The server reads and checks its whole config file; a file that does not
check changes nothing, and the error names the key and its line. Then it
applies extensions and their passwords and forwarding, ring groups, IVRs,
queues, routes, gateways, inbound DIDs, the ring timeout and the declared
webhooks, without touching the calls that are up (callers waiting in a queue
stay; a removed queue serves them before it goes). Keys that apply only at the next
start (listen addresses, the store, …) are named.`,
		Args: cobra.NoArgs,
	}
	r := addRemoteFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := r.client(cmd)
		if err != nil {
			return err
		}
		res, err := c.Reload(cmd.Context())
		if err != nil {
			return fmt.Errorf("reload: %w", err)
		}
		if r.json {
			return printJSON(cmd.OutOrStdout(), res)
		}
		w := cmd.OutOrStdout()
		list := func(keys []string) string {
			if len(keys) == 0 {
				return "none"
			}
			return strings.Join(keys, ", ")
		}
		fmt.Fprintf(w, "Reloaded. Applied: %s.\n", list(res.Applied))
		if len(res.RestartRequired) > 0 {
			fmt.Fprintf(w, "Changed but applied only at the next start: %s.\n", list(res.RestartRequired))
		}
		return nil
	}
	return cmd
}
