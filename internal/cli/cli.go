package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/switchhook/switchhook/internal/app"
	"github.com/switchhook/switchhook/internal/client"
)

// Defaults and environment of the commands that talk to a server.
const (
	defaultServer = "http://127.0.0.1:8080"
	envServer     = "SWITCHHOOK_SERVER"
	envToken      = "SWITCHHOOK_ADMIN_TOKEN"
)

// New returns the switchhook command with its subcommands, writing to
// stdout and stderr.
func New(version string, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "switchhook",
		Short: "An IP-PBX whose call events reach other systems as signed webhooks",
		Long: `switchhook is an IP-PBX (or a connector to FreeSWITCH and Asterisk) whose
call events reach other systems as Standard Webhooks: signed, in order per
call, and never lost.

Run the server with "switchhook serve"; manage a running one with the
endpoints, deliveries, calls and events commands.`,
		Version:      version,
		SilenceUsage: true,
		// Unknown subcommands and missing arguments are reported by cobra;
		// errors of a command that ran are printed once, by Execute.
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetVersionTemplate("switchhook {{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		serveCmd(version),
		migrateCmd(version),
		versionCmd(version),
		explainDial(endpointsCmd()),
		explainDial(deliveriesCmd()),
		explainDial(callsCmd()),
		explainDial(eventsCmd()),
		explainDial(forwardCmd()),
		explainDial(queuesCmd()),
		explainDial(reloadCmd()),
		explainDial(extensionsCmd()),
		explainDial(registrationsCmd()),
		explainDial(channelsCmd()),
	)
	return root
}

func serveCmd(version string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run switchhook: the PBX or connectors, the recorder, delivery and the HTTP API",
		Args:  cobra.NoArgs,
	}
	opts := configOptions(cmd, version)
	var cpuProfile string
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (for go tool pprof)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if cpuProfile != "" {
			stop, err := profileCPU(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
		}
		return app.Serve(cmd.Context(), opts())
	}
	return cmd
}

// profileCPU starts a CPU profile written to path; stop ends and writes it.
func profileCPU(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

func migrateCmd(version string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the store's schema up to date and exit",
		Args:  cobra.NoArgs,
	}
	opts := configOptions(cmd, version)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := app.Migrate(cmd.Context(), opts()); err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), "The store's schema is up to date.")
		return nil
	}
	return cmd
}

// configOptions adds --config to a command that runs the app, and returns
// the options of a run of it.
func configOptions(cmd *cobra.Command, version string) func() app.Options {
	var config string
	cmd.Flags().StringVarP(&config, "config", "c", "", "config file (YAML); built-in defaults when absent")
	return func() app.Options {
		return app.Options{ConfigPath: config, Version: version, Stdout: cmd.OutOrStdout()}
	}
}

func versionCmd(version string) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "switchhook %s\n", version)
		},
	}
}

// remote holds the flags of the commands that talk to a running server.
type remote struct {
	server string
	token  string
	json   bool
}

// addRemoteFlags adds --server, --token and --json to a command group.
func addRemoteFlags(cmd *cobra.Command) *remote {
	r := &remote{}
	f := cmd.PersistentFlags()
	f.StringVar(&r.server, "server", defaultServer, "base URL of the switchhook server (env "+envServer+")")
	f.StringVar(&r.token, "token", "", "admin token (env "+envToken+")")
	f.BoolVar(&r.json, "json", false, "print the API's JSON instead of a table")
	return r
}

// client makes the API client; a flag given on the command line wins over
// the environment.
func (r *remote) client(cmd *cobra.Command) (*client.Client, error) {
	server, token := r.server, r.token
	if !cmd.Flags().Changed("server") {
		if v := os.Getenv(envServer); v != "" {
			server = v
		}
	}
	if !cmd.Flags().Changed("token") {
		token = os.Getenv(envToken)
	}
	if token == "" {
		return nil, errors.New("no admin token: pass --token or set " + envToken)
	}
	return client.New(server, token), nil
}

// explainDial adds a hint to the errors of a group's commands that could
// not reach the server at all, the usual first mistake.
func explainDial(group *cobra.Command) *cobra.Command {
	for _, sub := range group.Commands() {
		run := sub.RunE
		sub.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				return fmt.Errorf("%w\nIs switchhook serve running there? Point to it with --server or %s", err, envServer)
			}
			return err
		}
	}
	return group
}

// lister is what a list command fetches and how it prints it.
type lister[T any] struct {
	what  string // the plural noun of an error ("list calls: …") and of "No calls."
	empty string // the line printed when there is nothing, when not "No <what>."
	// prepare reads the flags the filter needs; it runs after the client
	// is made, so that a missing token is reported first.
	prepare func() error
	fetch   func(ctx context.Context, c *client.Client) ([]T, error)
	table   func(w io.Writer, items []T) error
}

// run is the body of the list command: the API's JSON with --json, else a
// line saying there is nothing, else the table.
func (l *lister[T]) run(r *remote) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		c, err := r.client(cmd)
		if err != nil {
			return err
		}
		if l.prepare != nil {
			if err := l.prepare(); err != nil {
				return err
			}
		}
		items, err := l.fetch(cmd.Context(), c)
		if err != nil {
			return fmt.Errorf("list %s: %w", l.what, err)
		}
		out := cmd.OutOrStdout()
		if r.json {
			return printJSON(out, items)
		}
		if len(items) == 0 {
			empty := l.empty
			if empty == "" {
				empty = "No " + l.what + "."
			}
			fmt.Fprintln(out, empty)
			return nil
		}
		return l.table(out, items)
	}
}

// addLimitFlag adds the --limit of a list command.
func addLimitFlag(fs *pflag.FlagSet, limit *int) {
	fs.IntVar(limit, "limit", 0, "at most this many (default 100, at most 1000)")
}

// timeFlags are the --since and --until of a command that reads a time range.
type timeFlags struct{ since, until string }

// add adds the flags; about names what the times bound, like "started ".
func (t *timeFlags) add(fs *pflag.FlagSet, about string) {
	fs.StringVar(&t.since, "since", "", about+"at or after: an RFC 3339 time, or a duration back from now (2h)")
	fs.StringVar(&t.until, "until", "", about+"before: an RFC 3339 time, or a duration back from now")
}

// parse reads the flags' values into since and until.
func (t *timeFlags) parse(since, until *time.Time) error {
	now := time.Now()
	var err error
	if *since, err = parseWhen("since", t.since, now); err != nil {
		return err
	}
	*until, err = parseWhen("until", t.until, now)
	return err
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns; Flush prints them.
func table(w io.Writer, header ...string) *tabwriter.Writer {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	return tw
}

func row(tw *tabwriter.Writer, cols ...string) {
	for i, c := range cols {
		if c == "" {
			cols[i] = "-"
		}
	}
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
}

// when formats an optional time for a table, in the local zone.
func when(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Local().Format(time.DateTime)
}

// parseWhen reads a --since or --until value: an RFC 3339 time, or a
// duration back from now ("2h").
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q is neither an RFC 3339 time (2026-01-27T12:02:30Z) nor a duration back from now (2h)", flag, s)
}

// truncate shortens s to n runes for a table cell.
func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
