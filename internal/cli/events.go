package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/client"
	"github.com/switchhook/switchhook/internal/events"
)

func eventsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "events",
		Aliases: []string{"event"},
		Short:   "Look at the call events a running server recorded, or follow them live",
	}
	r := addRemoteFlags(cmd)
	cmd.AddCommand(eventsList(r), eventsTail(r))
	return cmd
}

var eventsHeader = []string{"TIME", "EVENT", "CALL", "FROM", "TO", "SEQ", "DETAIL"}

func eventRow(e *apitypes.Event) []string {
	return []string{e.Timestamp, string(e.Event), e.CallUUID, e.CallerIDNumber, e.DestinationNumber,
		strconv.FormatInt(e.Sequence, 10), eventDetail(e)}
}

func eventsList(r *remote) *cobra.Command {
	var f client.EventFilter
	var times timeFlags
	var event string
	l := &lister[apitypes.Event]{
		what: "events",
		prepare: func() error {
			f.Event = events.Kind(event)
			return times.parse(&f.Since, &f.Until)
		},
		fetch: func(ctx context.Context, c *client.Client) ([]apitypes.Event, error) { return c.ListEvents(ctx, f) },
		table: func(w io.Writer, evs []apitypes.Event) error {
			tw := table(w, eventsHeader...)
			for i := range evs {
				row(tw, eventRow(&evs[i])...)
			}
			return tw.Flush()
		},
	}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List recorded events, oldest first",
		Example: `  switchhook events list --since 10m
  switchhook events list --call 0b6f… --json`,
		Args: cobra.NoArgs,
		RunE: l.run(r),
	}
	fs := cmd.Flags()
	fs.StringVar(&f.CallUUID, "call", "", "only of this call_uuid")
	fs.StringVar(&event, "event", "", "only of this kind")
	times.add(fs, "")
	addLimitFlag(fs, &f.Limit)
	return cmd
}

// tailRetry bounds the wait between reconnections of events tail --follow.
const tailRetry = 10 * time.Second

func eventsTail(r *remote) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "tail",
		Short: "Print events as they are recorded, until interrupted",
		Long: `Print events as the server records them, one line each (with --json, one
JSON object per line: source, endpoint_id for test events, and the event in
the extended payload profile). Stops on Ctrl-C. When the stream ends (the
server stops, the connection breaks) it says when and why on stderr and exits
1; with --follow it connects again until interrupted. Events recorded while
it was not connected are not replayed: "events list --since" shows them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			out, errOut, ctx := cmd.OutOrStdout(), cmd.ErrOrStderr(), cmd.Context()
			print := func(se apitypes.StreamEvent) error {
				if r.json {
					return json.NewEncoder(out).Encode(se)
				}
				return printStreamed(out, se)
			}
			wait := time.Second
			for {
				start := time.Now()
				err := c.Stream(ctx, print)
				switch {
				case err == nil: // interrupted
					return nil
				case !follow && errors.Is(err, client.ErrStreamEnded):
					return fmt.Errorf("%v at %s", err, time.Now().Format(time.DateTime))
				case !follow:
					return fmt.Errorf("follow events: %w", err)
				}
				if time.Since(start) > tailRetry {
					wait = time.Second // it was up for a while: try again soon
				}
				fmt.Fprintf(errOut, "%s: %v; connecting again in %v (events recorded meanwhile are not replayed)\n", time.Now().Format(time.DateTime), err, wait)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(wait):
				}
				wait = min(2*wait, tailRetry)
			}
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "connect again whenever the stream ends, until interrupted")
	return cmd
}

// printStreamed writes one live event as a line; columns cannot be aligned
// ahead of events not yet seen, so fields are separated by two spaces.
func printStreamed(w io.Writer, se apitypes.StreamEvent) error {
	var e apitypes.Event
	if err := json.Unmarshal(se.Event, &e); err != nil {
		return fmt.Errorf("decode streamed event: %w", err)
	}
	line := eventRow(&e)
	line = append(line, "via "+se.Source)
	for i, c := range line {
		if c == "" {
			line[i] = "-"
		}
	}
	_, err := fmt.Fprintln(w, strings.Join(line, "  "))
	return err
}
