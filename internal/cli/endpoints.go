package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/client"
	"github.com/switchhook/switchhook/internal/events"
)

func endpointsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "endpoints",
		Aliases: []string{"endpoint", "ep"},
		Short:   "Manage the webhook endpoints of a running server",
	}
	r := addRemoteFlags(cmd)
	cmd.AddCommand(
		endpointsAdd(r), endpointsList(r), endpointsShow(r), endpointsUpdate(r),
		endpointsRemove(r), endpointsRotate(r), endpointsTest(r), endpointsReplay(r),
	)
	return cmd
}

// endpointFlags are the settings add and update share.
type endpointFlags struct {
	url, payload, secret, description, timeout string
	events, retrySchedule, headers             []string
	disabled                                   bool
	maxInFlight                                int
}

func (f *endpointFlags) add(fs *pflag.FlagSet, withURL bool) {
	if withURL {
		fs.StringVar(&f.url, "url", "", "receiver URL (http:// or https://)")
	}
	fs.StringSliceVar(&f.events, "events", nil, "event kinds to receive, comma-separated (default all seven)")
	fs.StringVar(&f.payload, "payload", "", "payload profile: standard or extended")
	fs.StringVar(&f.description, "description", "", "free text")
	fs.StringArrayVar(&f.headers, "header", nil, `extra request header "Name: value" (repeatable)`)
	fs.BoolVar(&f.disabled, "disabled", false, "keep the endpoint from receiving (--disabled=false enables it)")
	fs.StringVar(&f.timeout, "timeout", "", `per-request timeout, like "10s"`)
	fs.StringSliceVar(&f.retrySchedule, "retry-schedule", nil, `delay before each attempt, comma-separated, like "0s,5s,5m,1h"`)
	fs.IntVar(&f.maxInFlight, "max-in-flight", 0, "concurrent requests at most")
}

// headerMap parses the --header values.
func (f *endpointFlags) headerMap() (map[string]string, error) {
	h := make(map[string]string, len(f.headers))
	for _, s := range f.headers {
		name, value, ok := strings.Cut(s, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf(`--header %q is not "Name: value"`, s)
		}
		h[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return h, nil
}

// kinds turns --events into kinds; an empty value means all.
func kinds(list []string) []events.Kind {
	out := []events.Kind{}
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, events.Kind(strings.ToUpper(s)))
		}
	}
	return out
}

func endpointsAdd(r *remote) *cobra.Command {
	var f endpointFlags
	var allowDuplicate bool
	cmd := &cobra.Command{
		Use:   "add URL",
		Short: "Create an endpoint and print its signing secret",
		Example: `  switchhook endpoints add https://crm.example.com/hooks/calls --events CALL_ANSWER,CALL_HANGUP --payload extended
  switchhook endpoints add http://127.0.0.1:9000/ --header "X-Api-Key: s3cret" --timeout 5s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			in := apitypes.NewEndpoint{
				URL: args[0], Events: kinds(f.events), Payload: events.Profile(f.payload), Secret: f.secret,
				Description: f.description, Disabled: f.disabled, Timeout: f.timeout,
				RetrySchedule: f.retrySchedule, MaxInFlight: f.maxInFlight, AllowDuplicate: allowDuplicate,
			}
			if in.Headers, err = f.headerMap(); err != nil {
				return err
			}
			ep, err := c.CreateEndpoint(cmd.Context(), in)
			if err != nil {
				return fmt.Errorf("create endpoint: %w", err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), ep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created endpoint %s.\n\n", ep.ID)
			printEndpoint(cmd.OutOrStdout(), ep)
			return nil
		},
	}
	f.add(cmd.Flags(), false)
	cmd.Flags().StringVar(&f.secret, "secret", "", "signing secret, whsec_ + base64 (default: generated)")
	cmd.Flags().BoolVar(&allowDuplicate, "allow-duplicate", false, "add it although an enabled endpoint already delivers to this URL")
	return cmd
}

func endpointsList(r *remote) *cobra.Command {
	l := &lister[apitypes.Endpoint]{
		what:  "endpoints",
		empty: `No endpoints. Add one with "switchhook endpoints add URL".`,
		fetch: func(ctx context.Context, c *client.Client) ([]apitypes.Endpoint, error) { return c.ListEndpoints(ctx) },
		table: func(w io.Writer, eps []apitypes.Endpoint) error {
			tw := table(w, "ID", "URL", "EVENTS", "PAYLOAD", "STATE", "DESCRIPTION")
			for _, ep := range eps {
				row(tw, ep.ID, ep.URL, eventList(ep.Events), string(ep.Payload), state(&ep), truncate(ep.Description, 40))
			}
			return tw.Flush()
		},
	}
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the endpoints",
		Args:    cobra.NoArgs,
		RunE:    l.run(r),
	}
}

func endpointsShow(r *remote) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show an endpoint with its secret",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			ep, err := c.GetEndpoint(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("show endpoint: %w", err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), ep)
			}
			printEndpoint(cmd.OutOrStdout(), ep)
			return nil
		},
	}
}

func endpointsUpdate(r *remote) *cobra.Command {
	var f endpointFlags
	cmd := &cobra.Command{
		Use:   "update ID",
		Short: "Change the given settings of an endpoint",
		Long: `Change the settings given as flags; the others stay. --header replaces all
extra headers (--header "" removes them); --events "" receives all seven.`,
		Example: `  switchhook endpoints update ep_… --disabled
  switchhook endpoints update ep_… --disabled=false --url https://new.example.com/hooks`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			var p apitypes.EndpointPatch
			changed := cmd.Flags().Changed
			if changed("url") {
				p.URL = &f.url
			}
			if changed("events") {
				k := kinds(f.events)
				p.Events = &k
			}
			if changed("payload") {
				prof := events.Profile(f.payload)
				p.Payload = &prof
			}
			if changed("description") {
				p.Description = &f.description
			}
			if changed("header") {
				f.headers = slices.DeleteFunc(f.headers, func(s string) bool { return s == "" })
				h, err := f.headerMap()
				if err != nil {
					return err
				}
				p.Headers = &h
			}
			if changed("disabled") {
				p.Disabled = &f.disabled
			}
			if changed("timeout") {
				p.Timeout = &f.timeout
			}
			if changed("retry-schedule") {
				p.RetrySchedule = &f.retrySchedule
			}
			if changed("max-in-flight") {
				p.MaxInFlight = &f.maxInFlight
			}
			if p == (apitypes.EndpointPatch{}) {
				return fmt.Errorf("nothing to change: give at least one setting (see --help)")
			}
			ep, err := c.UpdateEndpoint(cmd.Context(), args[0], p)
			if err != nil {
				return fmt.Errorf("update endpoint: %w", err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), ep)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Updated endpoint %s.\n\n", ep.ID)
			printEndpoint(cmd.OutOrStdout(), ep)
			return nil
		},
	}
	f.add(cmd.Flags(), true)
	return cmd
}

func endpointsRemove(r *remote) *cobra.Command {
	return &cobra.Command{
		Use:     "remove ID",
		Aliases: []string{"rm", "delete"},
		Short:   "Remove an endpoint and its pending deliveries",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteEndpoint(cmd.Context(), args[0]); err != nil {
				return fmt.Errorf("remove endpoint: %w", err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), map[string]string{"removed": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Removed endpoint %s.\n", args[0])
			return nil
		},
	}
}

func endpointsRotate(r *remote) *cobra.Command {
	var in apitypes.RotateSecret
	cmd := &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Give an endpoint a new signing secret; the old one keeps signing for a grace period",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			ep, err := c.RotateSecret(cmd.Context(), args[0], in)
			if err != nil {
				return fmt.Errorf("rotate secret: %w", err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), ep)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "New secret of %s: %s\n", ep.ID, ep.Secret)
			for _, s := range ep.PreviousSecrets {
				fmt.Fprintf(out, "Still signing until %s: %s\n", s.ExpiresAt.Local().Format(time.DateTime), s.Secret)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&in.Grace, "grace", "", `how long the old secret keeps signing, like "1h" (default: the server's, 24h)`)
	cmd.Flags().StringVar(&in.Secret, "secret", "", "the new secret, whsec_ + base64 (default: generated)")
	return cmd
}

func endpointsTest(r *remote) *cobra.Command {
	var event string
	cmd := &cobra.Command{
		Use:   "test ID",
		Short: "Send a synthetic call event to this endpoint only",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			res, err := c.TestEndpoint(cmd.Context(), args[0], events.Kind(strings.ToUpper(event)))
			if err != nil {
				return fmt.Errorf("send test event: %w", err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), res)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Sent test event %s (call %s) to %s.\nFollow it with: switchhook calls show %s\n",
				res.EventID, res.CallUUID, args[0], res.CallUUID)
			return nil
		},
	}
	cmd.Flags().StringVar(&event, "event", "", "event kind, like CALL_ANSWER (default: the first the endpoint receives)")
	return cmd
}

func endpointsReplay(r *remote) *cobra.Command {
	var times timeFlags
	var evs []string
	cmd := &cobra.Command{
		Use:   "replay ID --since TIME",
		Short: "Send the stored events of a time range to this endpoint again",
		Example: `  switchhook endpoints replay ep_… --since 2h
  switchhook endpoints replay ep_… --since 2026-01-27T12:00:00Z --until 2026-01-27T13:00:00Z --events CALL_HANGUP`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.client(cmd)
			if err != nil {
				return err
			}
			in := apitypes.Replay{Events: kinds(evs)}
			if err := times.parse(&in.Since, &in.Until); err != nil {
				return err
			}
			n, err := c.Replay(cmd.Context(), args[0], in)
			if err != nil {
				return fmt.Errorf("replay: %w", err)
			}
			if r.json {
				return printJSON(cmd.OutOrStdout(), apitypes.ReplayResult{Deliveries: n})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Queued %d deliveries to %s.\n", n, args[0])
			return nil
		},
	}
	cmd.Flags().StringVar(&times.since, "since", "", "start: an RFC 3339 time, or a duration back from now (2h)")
	cmd.Flags().StringVar(&times.until, "until", "", "end, exclusive (default now)")
	cmd.Flags().StringSliceVar(&evs, "events", nil, "only these event kinds, comma-separated")
	cmd.MarkFlagRequired("since")
	return cmd
}

func eventList(ks []events.Kind) string {
	if len(ks) == 0 {
		return "all"
	}
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

// state sums up whether an endpoint receives.
func state(ep *apitypes.Endpoint) string {
	switch {
	case ep.Disabled && ep.DisabledReason != "":
		return "disabled (" + ep.DisabledReason + ")"
	case ep.Disabled:
		return "disabled"
	case ep.Circuit.State != "closed":
		return "circuit " + strings.ReplaceAll(ep.Circuit.State, "_", "-")
	}
	return "enabled"
}

func printEndpoint(w io.Writer, ep *apitypes.Endpoint) {
	tw := table(w, "ID", ep.ID)
	row(tw, "URL", ep.URL)
	row(tw, "Description", ep.Description)
	row(tw, "Events", eventList(ep.Events))
	row(tw, "Payload", string(ep.Payload))
	row(tw, "State", state(ep))
	if ep.Secret != "" {
		row(tw, "Secret", ep.Secret)
	}
	for _, s := range ep.PreviousSecrets {
		row(tw, "Previous secret", s.Secret+" (until "+s.ExpiresAt.Local().Format(time.DateTime)+")")
	}
	names := make([]string, 0, len(ep.Headers))
	for n := range ep.Headers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		row(tw, "Header", n+": "+ep.Headers[n])
	}
	row(tw, "Timeout", ep.Timeout)
	row(tw, "Retry schedule", strings.Join(ep.RetrySchedule, " "))
	row(tw, "Max in flight", fmt.Sprint(ep.MaxInFlight))
	if ep.Circuit.ConsecutiveFailures > 0 {
		row(tw, "Failing since", when(ep.Circuit.FailingSince)+fmt.Sprintf(" (%d failures in a row)", ep.Circuit.ConsecutiveFailures))
	}
	if ep.FromConfig {
		row(tw, "Declared in", "the config file")
	}
	row(tw, "Created", ep.CreatedAt.Local().Format(time.DateTime))
	tw.Flush()
}
