package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/client"
)

func queuesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "queues",
		Aliases: []string{"queue"},
		Short:   "Watch the call queues of a running server and pause their agents",
		Long: `A call queue holds its callers, first come first served, until one of its
agents answers. A paused agent is offered none of the queue's calls until it is
unpaused; a pause is kept across restarts.`,
	}
	r := addRemoteFlags(cmd)
	cmd.AddCommand(queuesList(r), queuesShow(r), queuesPause(r, true), queuesPause(r, false))
	return cmd
}

func queuesList(r *remote) *cobra.Command {
	l := &lister[apitypes.Queue]{
		what:  "queues",
		fetch: func(ctx context.Context, c *client.Client) ([]apitypes.Queue, error) { return c.ListQueues(ctx) },
		table: func(w io.Writer, qs []apitypes.Queue) error {
			tw := table(w, "QUEUE", "NAME", "STRATEGY", "WAITING", "LONGEST WAIT", "AGENTS", "ANSWERED", "ABANDONED", "OVERFLOW")
			for _, q := range qs {
				longest := "-"
				if len(q.Callers) > 0 {
					longest = strconv.FormatInt(q.Callers[0].Wait, 10) + "s"
				}
				row(tw, q.Number, q.Name, q.Strategy, strconv.Itoa(len(q.Callers)), longest, agentStates(q.Agents),
					strconv.Itoa(q.Answered), strconv.Itoa(q.Abandoned), strconv.Itoa(q.Overflow))
			}
			return tw.Flush()
		},
	}
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the queues: callers waiting, agents' states, calls by outcome",
		Args:    cobra.NoArgs,
		RunE:    l.run(r),
	}
}

// agentStates sums up agents as "1001 idle, 1002 paused".
func agentStates(as []apitypes.QueueAgent) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.Extension + " " + a.State
		if a.Paused && a.State != apitypes.AgentPaused {
			parts[i] += " (paused)"
		}
	}
	return strings.Join(parts, ", ")
}

func queuesShow(r *remote) *cobra.Command {
	return &cobra.Command{
		Use:   "show QUEUE",
		Short: "Show a queue's waiting callers, in the order they are served, and its agents",
		Args:  cobra.ExactArgs(1),
		RunE: queueOne(r, "show", func(ctx context.Context, c *client.Client, n string) (*apitypes.Queue, error) {
			return c.GetQueue(ctx, n)
		}),
	}
}

func queuesPause(r *remote, paused bool) *cobra.Command {
	use, short, what := "pause QUEUE EXTENSION", "Pause an agent in a queue: it is offered none of the queue's calls", "pause"
	if !paused {
		use, short, what = "unpause QUEUE EXTENSION", "Unpause an agent in a queue", "unpause"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return queueOne(r, what, func(ctx context.Context, c *client.Client, n string) (*apitypes.Queue, error) {
				return c.PauseAgent(ctx, n, args[1], paused)
			})(cmd, args[:1])
		},
	}
}

// queueOne runs do on the queue named by the argument and prints the queue
// as it is after it.
func queueOne(r *remote, what string, do func(ctx context.Context, c *client.Client, number string) (*apitypes.Queue, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := r.client(cmd)
		if err != nil {
			return err
		}
		q, err := do(cmd.Context(), c, args[0])
		if err != nil {
			return fmt.Errorf("%s queue %s: %w", what, args[0], err)
		}
		if r.json {
			return printJSON(cmd.OutOrStdout(), q)
		}
		printQueue(cmd.OutOrStdout(), q)
		return nil
	}
}

func printQueue(w io.Writer, q *apitypes.Queue) {
	name := q.Number
	if q.Name != "" {
		name += " (" + q.Name + ")"
	}
	fmt.Fprintf(w, "Queue %s, %s: %d answered, %d abandoned, %d overflow\n\n", name, strings.ReplaceAll(q.Strategy, "_", " "),
		q.Answered, q.Abandoned, q.Overflow)
	if len(q.Callers) == 0 {
		fmt.Fprintln(w, "Nobody is waiting.")
	} else {
		tw := table(w, "#", "CALLER", "WAITING", "RINGING", "CALL")
		for _, c := range q.Callers {
			ringing := strings.Join(c.Ringing, ", ")
			if ringing == "" {
				ringing = "-"
			}
			row(tw, strconv.Itoa(c.Position), c.CallerIDNumber, strconv.FormatInt(c.Wait, 10)+"s", ringing, c.CallUUID)
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	tw := table(w, "AGENT", "STATE", "PAUSED", "CALL")
	for _, a := range q.Agents {
		paused := "no"
		if a.Paused {
			paused = "yes"
		}
		call := a.CallUUID
		if call == "" {
			call = "-"
		}
		row(tw, a.Extension, a.State, paused, call)
	}
	tw.Flush()
}
