package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/client"
)

// pbxList makes "NOUN list" for one of the PBX's lists.
func pbxList[T any](noun, short, long string, l *lister[T]) *cobra.Command {
	cmd := &cobra.Command{Use: noun, Short: short, Long: long}
	r := addRemoteFlags(cmd)
	cmd.AddCommand(&cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: short, Args: cobra.NoArgs, RunE: l.run(r)})
	return cmd
}

func extensionsCmd() *cobra.Command {
	return pbxList("extensions", "List the built-in PBX's extensions: phones registered, state and forwarding",
		`Each extension of the config file with its name, its state (unregistered,
idle, ringing, in_call), the phones registered for it and where its calls are
forwarded.`,
		&lister[apitypes.Extension]{
			what:  "extensions",
			fetch: func(ctx context.Context, c *client.Client) ([]apitypes.Extension, error) { return c.Extensions(ctx) },
			table: func(w io.Writer, exts []apitypes.Extension) error {
				tw := table(w, "EXTENSION", "NAME", "STATE", "PHONES", "FORWARD")
				for _, e := range exts {
					var phones []string
					for _, c := range e.Contacts {
						phones = append(phones, c.Source+" "+strings.TrimSpace(c.UserAgent))
					}
					row(tw, e.Number, e.Name, e.State, orDash(strings.Join(phones, ", ")), forwardSummary(e.Forward))
				}
				return tw.Flush()
			},
		})
}

// forwardSummary says in one cell where an extension's calls go.
func forwardSummary(f apitypes.Forward) string {
	var parts []string
	for _, p := range [][2]string{{"always", f.Unconditional}, {"busy", f.UserBusy}, {"no answer", f.NoAnswer}, {"unavailable", f.Unavailable}} {
		if p[1] != "" {
			parts = append(parts, p[0]+" → "+p[1])
		}
	}
	return orDash(strings.Join(parts, ", "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// rawRows decodes the PBX's live lists into rows of their fields.
func rawRows(l []json.RawMessage) []map[string]any {
	out := make([]map[string]any, 0, len(l))
	for _, raw := range l {
		var m map[string]any
		json.Unmarshal(raw, &m)
		out = append(out, m)
	}
	return out
}

func field(m map[string]any, k string) string {
	if v, ok := m[k]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// until says how long until an RFC 3339 time, in whole seconds.
func until(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return time.Until(t).Round(time.Second).String()
}

func registrationsCmd() *cobra.Command {
	return pbxList("registrations", "List the phones registered to the built-in PBX",
		`Every contact registered, by extension, with the address it registers from,
its user agent and when its registration lapses unless renewed. They are kept
in the store and survive a restart.`,
		&lister[json.RawMessage]{
			what:  "registrations",
			fetch: func(ctx context.Context, c *client.Client) ([]json.RawMessage, error) { return c.Registrations(ctx) },
			table: func(w io.Writer, l []json.RawMessage) error {
				tw := table(w, "EXTENSION", "CONTACT", "FROM", "TRANSPORT", "USER AGENT", "EXPIRES IN")
				for _, m := range rawRows(l) {
					row(tw, field(m, "extension"), field(m, "contact"), field(m, "source"), field(m, "transport"), orDash(field(m, "user_agent")), until(field(m, "expires_at")))
				}
				return tw.Flush()
			},
		})
}

func channelsCmd() *cobra.Command {
	return pbxList("channels", "List the legs of the calls up on the built-in PBX",
		`One line per leg of each live call: the call, the party and its number, the
leg's state and where it is.`,
		&lister[json.RawMessage]{
			what:  "channels",
			fetch: func(ctx context.Context, c *client.Client) ([]json.RawMessage, error) { return c.Channels(ctx) },
			table: func(w io.Writer, l []json.RawMessage) error {
				tw := table(w, "CALL", "LEG", "PARTY", "NUMBER", "STATE", "REMOTE")
				for _, m := range rawRows(l) {
					row(tw, field(m, "call_uuid"), field(m, "leg_uuid"), field(m, "party"), field(m, "number"), field(m, "state"), field(m, "remote"))
				}
				return tw.Flush()
			},
		})
}
