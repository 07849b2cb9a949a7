package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/client"
)

func forwardCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "forward",
		Aliases: []string{"forwards", "forwarding"},
		Short:   "Read and set the extensions' call forwarding on a running server",
		Long: `Call forwarding sends an extension's calls on to another number:
unconditionally, when it is busy, when it does not answer in time, or while no
phone of it is registered. What is set here is kept across restarts and wins
over the config file's extensions[].forward until it is reset.`,
	}
	r := addRemoteFlags(cmd)
	cmd.AddCommand(forwardList(r), forwardShow(r), forwardSet(r), forwardReset(r))
	return cmd
}

func forwardList(r *remote) *cobra.Command {
	l := &lister[apitypes.Forward]{
		what:  "extensions",
		fetch: func(ctx context.Context, c *client.Client) ([]apitypes.Forward, error) { return c.ListForwards(ctx) },
		table: func(w io.Writer, fs []apitypes.Forward) error {
			tw := table(w, "EXTENSION", "UNCONDITIONAL", "BUSY", "NO ANSWER", "AFTER", "UNAVAILABLE", "SET BY")
			for _, f := range fs {
				row(tw, f.Number, f.Unconditional, f.UserBusy, f.NoAnswer, f.NoAnswerAfter, f.Unavailable, f.Source)
			}
			return tw.Flush()
		},
	}
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List every extension's call forwarding in effect",
		Args:    cobra.NoArgs,
		RunE:    l.run(r),
	}
}

// forwardOne runs do on the extension named by the argument and prints the
// forwarding in effect after it.
func forwardOne(r *remote, what string, do func(ctx context.Context, c *client.Client, number string) (*apitypes.Forward, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := r.client(cmd)
		if err != nil {
			return err
		}
		f, err := do(cmd.Context(), c, args[0])
		if err != nil {
			return fmt.Errorf("%s forwarding of %s: %w", what, args[0], err)
		}
		if r.json {
			return printJSON(cmd.OutOrStdout(), f)
		}
		printForward(cmd.OutOrStdout(), f)
		return nil
	}
}

func printForward(w io.Writer, f *apitypes.Forward) {
	tw := table(w, "Extension", f.Number)
	or := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	row(tw, "Unconditional", or(f.Unconditional))
	row(tw, "Busy", or(f.UserBusy))
	after := ""
	if f.NoAnswer != "" {
		after = " after " + f.NoAnswerAfter
	}
	row(tw, "No answer", or(f.NoAnswer)+after)
	row(tw, "Unavailable", or(f.Unavailable))
	set := "the config file"
	if f.Source == "api" {
		set = "the API, " + when(f.UpdatedAt)
	}
	row(tw, "Set by", set)
	tw.Flush()
}

func forwardShow(r *remote) *cobra.Command {
	return &cobra.Command{
		Use:   "show EXTENSION",
		Short: "Show an extension's call forwarding in effect",
		Args:  cobra.ExactArgs(1),
		RunE: forwardOne(r, "show", func(ctx context.Context, c *client.Client, n string) (*apitypes.Forward, error) {
			return c.GetForward(ctx, n)
		}),
	}
}

func forwardSet(r *remote) *cobra.Command {
	var in apitypes.ForwardInput
	cmd := &cobra.Command{
		Use:   "set EXTENSION",
		Short: "Replace an extension's call forwarding (a condition not given forwards nothing)",
		Example: `  switchhook forward set 1002 --busy 1003 --no-answer 600 --no-answer-after 15s
  switchhook forward set 1002 --unconditional 900493012345
  switchhook forward set 1002          # forwards nothing, whatever the config file says`,
		Args: cobra.ExactArgs(1),
		RunE: forwardOne(r, "set", func(ctx context.Context, c *client.Client, n string) (*apitypes.Forward, error) {
			return c.SetForward(ctx, n, in)
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&in.Unconditional, "unconditional", "", "send every call to this number")
	fs.StringVar(&in.UserBusy, "busy", "", "send calls to this number while the extension is busy")
	fs.StringVar(&in.NoAnswer, "no-answer", "", "send calls to this number when the extension does not answer")
	fs.StringVar(&in.NoAnswerAfter, "no-answer-after", "", "how long the extension rings first (default 20s)")
	fs.StringVar(&in.Unavailable, "unavailable", "", "send calls to this number while no phone of the extension is registered")
	return cmd
}

func forwardReset(r *remote) *cobra.Command {
	return &cobra.Command{
		Use:   "reset EXTENSION",
		Short: "Drop the forwarding set through the API: the config file's applies again",
		Args:  cobra.ExactArgs(1),
		RunE: forwardOne(r, "reset", func(ctx context.Context, c *client.Client, n string) (*apitypes.Forward, error) {
			return c.ResetForward(ctx, n)
		}),
	}
}
