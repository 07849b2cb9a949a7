package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/client"
	"github.com/switchhook/switchhook/internal/events"
)

func callsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "calls",
		Aliases: []string{"call"},
		Short:   "Look at the calls a running server recorded",
	}
	r := addRemoteFlags(cmd)
	cmd.AddCommand(callsList(r), callsShow(r))
	return cmd
}

func callsList(r *remote) *cobra.Command {
	var f client.CallFilter
	var times timeFlags
	var event string
	l := &lister[apitypes.Call]{
		what: "calls",
		prepare: func() error {
			f.Event = events.Kind(event)
			return times.parse(&f.Since, &f.Until)
		},
		fetch: func(ctx context.Context, c *client.Client) ([]apitypes.Call, error) { return c.ListCalls(ctx, f) },
		table: func(w io.Writer, calls []apitypes.Call) error {
			tw := table(w, "CALL", "STARTED", "FROM", "TO", "DIRECTION", "ANSWERED BY", "DURATION", "HANGUP")
			for _, call := range calls {
				row(tw, call.CallUUID, when(&call.StartedAt), call.CallerIDNumber, call.DestinationNumber,
					string(call.Direction), call.AnsweredBy, duration(&call), call.HangupCause)
			}
			return tw.Flush()
		},
	}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List calls, newest first",
		Example: `  switchhook calls list --since 1h
  switchhook calls list --number 1001 --event CALL_INPUT`,
		Args: cobra.NoArgs,
		RunE: l.run(r),
	}
	fs := cmd.Flags()
	fs.StringVar(&f.Number, "number", "", "only calls from or to this number")
	fs.StringVar(&f.Session, "session", "", "only the calls of this call_session_uuid")
	fs.StringVar(&event, "event", "", "only calls with an event of this kind")
	times.add(fs, "started ")
	addLimitFlag(fs, &f.Limit)
	return cmd
}

// duration is how long a call lasted, or "up" while it is.
func duration(c *apitypes.Call) string {
	if c.EndedAt == nil {
		return "up"
	}
	return c.EndedAt.Sub(c.StartedAt).Round(time.Second).String()
}

func callsShow(r *remote) *cobra.Command {
	return &cobra.Command{
		Use:   "show CALL_UUID",
		Short: "Show a call, its events and their deliveries",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			d, err := c.GetCall(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("show call: %w", err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), d)
			}
			printCall(cmd.OutOrStdout(), args[0], d)
			return nil
		},
	}
}

func printCall(w io.Writer, id string, d *apitypes.CallDetail) {
	if c := d.Call; c != nil {
		tw := table(w, "Call", c.CallUUID)
		if c.CallSessionUUID != c.CallUUID {
			row(tw, "Session", c.CallSessionUUID)
		}
		row(tw, "From", c.CallerIDNumber)
		row(tw, "To", c.DestinationNumber)
		row(tw, "Direction", string(c.Direction))
		row(tw, "Source", c.Source+" on "+c.Node)
		row(tw, "Started", when(&c.StartedAt))
		row(tw, "Answered", when(c.AnsweredAt)+" by "+c.AnsweredBy)
		row(tw, "Ended", when(c.EndedAt)+" "+c.HangupCause)
		tw.Flush()
	} else {
		fmt.Fprintf(w, "Call %s (a test event's: never routed)\n", id)
	}
	fmt.Fprintln(w)
	tw := table(w, "SEQ", "EVENT", "TIMESTAMP", "TO", "DETAIL", "EVENT ID")
	for _, e := range d.Events {
		row(tw, strconv.FormatInt(e.Sequence, 10), string(e.Event), e.Timestamp, e.DestinationNumber, eventDetail(&e), e.EventID)
	}
	tw.Flush()
	if len(d.Moves) > 0 {
		fmt.Fprintln(w, "\nMoves:")
		tw = table(w, "AT", "HOW", "FROM", "TO")
		for _, m := range d.Moves {
			row(tw, when(&m.At), string(m.Reason), m.From, m.To)
		}
		tw.Flush()
	}
	if len(d.SessionCalls) > 1 {
		fmt.Fprintln(w, "\nCalls of the session:")
		tw = table(w, "CALL", "STARTED", "FROM", "TO", "HANGUP")
		for _, c := range d.SessionCalls {
			mark := c.CallUUID
			if c.CallUUID == id {
				mark += " (this call)"
			}
			row(tw, mark, when(&c.StartedAt), c.CallerIDNumber, c.DestinationNumber, c.HangupCause)
		}
		tw.Flush()
	}
	for _, ed := range d.Endpoints {
		fmt.Fprintf(w, "\nDeliveries to %s:\n", ed.EndpointID)
		printDeliveries(w, ed.Deliveries, true)
	}
}

// eventDetail is what an event adds to the common fields.
func eventDetail(e *apitypes.Event) string {
	switch e.Event {
	case events.CallRouted:
		if e.RoutedTo != nil {
			return "to " + string(e.RoutedTo.Type) + " " + e.RoutedTo.Target
		}
	case events.CallInput:
		ms := int64(0)
		if e.DigitDuration != nil {
			ms = *e.DigitDuration
		}
		return fmt.Sprintf("digit %s (%d ms) by %s", e.Digit, ms, e.Party)
	case events.CallHold, events.CallUnhold:
		return "by " + string(e.Party)
	case events.CallRinging, events.CallAnswer:
		if e.DiversionReason != "" {
			return string(e.DiversionReason) + " from " + e.DivertedFrom
		}
	case events.CallHangup:
		return fmt.Sprintf("%s, SIP %d, by %s, %ds (billed %ds)", e.HangupCause, e.SIPCode, e.HangupBy, e.Duration, e.Billsec)
	}
	return ""
}
