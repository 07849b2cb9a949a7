package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/client"
)

func deliveriesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "deliveries",
		Aliases: []string{"delivery"},
		Short:   "Look at and retry the deliveries of a running server",
	}
	r := addRemoteFlags(cmd)
	cmd.AddCommand(deliveriesList(r), deliveriesShow(r), deliveriesRetry(r))
	return cmd
}

func deliveriesList(r *remote) *cobra.Command {
	var f client.DeliveryFilter
	var attempts bool
	l := &lister[apitypes.Delivery]{
		what: "deliveries",
		fetch: func(ctx context.Context, c *client.Client) ([]apitypes.Delivery, error) {
			ds, err := c.ListDeliveries(ctx, f)
			if err != nil || !attempts {
				return ds, err
			}
			// The list carries no attempts; each delivery tried is read.
			for i, d := range ds {
				if d.AttemptCount == 0 {
					continue
				}
				full, err := c.GetDelivery(ctx, d.ID)
				if err != nil {
					return nil, err
				}
				ds[i] = *full
			}
			return ds, nil
		},
		table: func(w io.Writer, ds []apitypes.Delivery) error {
			printDeliveries(w, ds, false)
			if attempts {
				for _, d := range ds {
					if len(d.Attempts) > 0 {
						fmt.Fprintf(w, "\nDelivery %d (%s to %s), attempts:\n", d.ID, d.Event, d.EndpointID)
						printAttempts(w, d.Attempts, "  ")
					}
				}
			}
			return nil
		},
	}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List deliveries, newest first",
		Example: `  switchhook deliveries list --status failed
  switchhook deliveries list --endpoint ep_… --call 0b6f…`,
		Args: cobra.NoArgs,
		RunE: l.run(r),
	}
	fs := cmd.Flags()
	fs.StringVar(&f.EndpointID, "endpoint", "", "only to this endpoint")
	fs.StringVar(&f.Status, "status", "", "only pending, succeeded or failed")
	fs.StringVar(&f.CallUUID, "call", "", "only of this call_uuid")
	fs.StringVar(&f.EventID, "event-id", "", "only of this event")
	fs.BoolVar(&attempts, "attempts", false, "also list each delivery's attempts: when, HTTP status, latency and error")
	addLimitFlag(fs, &f.Limit)
	return cmd
}

func deliveriesShow(r *remote) *cobra.Command {
	return deliveryCmd(r, "show ID", "Show a delivery and its attempts", "show delivery",
		func(ctx context.Context, c *client.Client, id int64) (*apitypes.Delivery, error) {
			return c.GetDelivery(ctx, id)
		},
		printDelivery)
}

func deliveriesRetry(r *remote) *cobra.Command {
	return deliveryCmd(r, "retry ID", "Send a delivery again now, whatever its status", "retry delivery",
		func(ctx context.Context, c *client.Client, id int64) (*apitypes.Delivery, error) {
			return c.RetryDelivery(ctx, id)
		},
		func(w io.Writer, d *apitypes.Delivery) {
			fmt.Fprintf(w, "Delivery %d of %s to %s is pending again.\n", d.ID, d.Event, d.EndpointID)
		})
}

// deliveryCmd makes a command on the delivery its argument names: it reads
// the id before anything else, asks the server to do what, and prints the
// delivery the server answers with.
func deliveryCmd(r *remote, use, short, what string,
	do func(ctx context.Context, c *client.Client, id int64) (*apitypes.Delivery, error),
	text func(w io.Writer, d *apitypes.Delivery),
) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := deliveryID(args[0])
			if err != nil {
				return err
			}
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			d, err := do(cmd.Context(), c, id)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), d)
			}
			text(cmd.OutOrStdout(), d)
			return nil
		},
	}
}

// deliveryID reads a delivery id argument.
func deliveryID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, fmt.Errorf("delivery id %q is not a positive whole number", s)
	}
	return id, nil
}

// printDeliveries writes deliveries as a table; inCall leaves out the
// columns a call's view shows already (its call, and the endpoint heading).
func printDeliveries(w io.Writer, ds []apitypes.Delivery, inCall bool) {
	header := []string{"ID", "EVENT", "ENDPOINT", "CALL", "STATUS", "ATTEMPTS", "NEXT/DONE", "LAST ERROR"}
	if inCall {
		header = slices.Delete(header, 2, 4)
	}
	tw := table(w, header...)
	for _, d := range ds {
		at := when(d.CompletedAt)
		if d.Status == "pending" {
			at = when(d.NextAttemptAt)
		}
		cols := []string{strconv.FormatInt(d.ID, 10), string(d.Event), d.EndpointID, d.CallUUID, d.Status,
			strconv.Itoa(d.AttemptCount), at, d.LastError}
		if inCall {
			cols = slices.Delete(cols, 2, 4)
		}
		row(tw, cols...)
	}
	tw.Flush()
}

func printDelivery(w io.Writer, d *apitypes.Delivery) {
	tw := table(w, "ID", strconv.FormatInt(d.ID, 10))
	row(tw, "Event", string(d.Event)+" "+d.EventID)
	row(tw, "Endpoint", d.EndpointID)
	row(tw, "Call", d.CallUUID)
	row(tw, "Status", d.Status)
	row(tw, "Attempts", strconv.Itoa(d.AttemptCount))
	if d.Status == "pending" {
		row(tw, "Next attempt", when(d.NextAttemptAt))
	} else {
		row(tw, "Completed", when(d.CompletedAt))
	}
	if d.LastError != "" {
		row(tw, "Last error", d.LastError)
	}
	if d.LeaseOwner != "" {
		row(tw, "Being sent by", d.LeaseOwner+" until "+when(d.LeaseUntil))
	}
	tw.Flush()
	if len(d.Attempts) == 0 {
		return
	}
	fmt.Fprintln(w)
	printAttempts(w, d.Attempts, "")
}

func printAttempts(w io.Writer, atts []apitypes.Attempt, indent string) {
	tw := table(w, indent+"AT", "STATUS", "LATENCY", "ERROR", "RESPONSE")
	for _, a := range atts {
		status := ""
		if a.StatusCode != 0 {
			status = strconv.Itoa(a.StatusCode)
		}
		row(tw, indent+when(&a.At), orDash(status), strconv.FormatFloat(a.LatencyMS, 'f', 1, 64)+" ms", orDash(a.Error), truncate(a.Response, 60))
	}
	tw.Flush()
}
