package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/cluster"
)

// busClientFlags are the flags `fdsm watch` and `fdsm ctl` share to reach a
// job's control bus.
type busClientFlags struct {
	job            string
	url            string
	token          string
	tokenFile      string
	secretFile     string
	nkeySeed       string
	tlsCA          string
	tlsCert        string
	tlsKey         string
	connectTimeout time.Duration
}

func defaultBusURL() string {
	if u := os.Getenv(bus.EnvNATSURL); u != "" {
		return u
	}
	return "nats://127.0.0.1:" + strconv.Itoa(bus.DefaultPort)
}

func (f *busClientFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.job, "job", os.Getenv(cluster.EnvJob), "job id (default $"+cluster.EnvJob+")")
	fs.StringVar(&f.url, "nats-url", defaultBusURL(),
		"URL of the job's control bus (default $"+bus.EnvNATSURL+", else the local default port)")
	fs.StringVar(&f.token, "token", "", "control bus token (default $"+bus.EnvNATSToken+"; prefer --token-file)")
	fs.StringVar(&f.secretFile, "job-secret-file", "", "the job secret (fdsm launch prints where it keeps the one it made; default $"+cluster.EnvJobSecret+"): the bus token is derived from it")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the control bus token")
	fs.StringVar(&f.nkeySeed, "nkey-seed", "", "file holding a user nkey seed to authenticate with")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "CA certificate (PEM) that signed the bus server's certificate")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "client certificate (PEM) for mutual TLS")
	fs.StringVar(&f.tlsKey, "tls-key", "", "client key (PEM) for mutual TLS")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 5*time.Second, "how long to try reaching the bus")
}

// config turns the flags into a bus client configuration.
func (f *busClientFlags) config(name string) (bus.Config, error) {
	if f.job == "" {
		return bus.Config{}, fmt.Errorf("--job is required (or set %s)", cluster.EnvJob)
	}
	if err := bus.ValidateJobName(f.job); err != nil {
		return bus.Config{}, fmt.Errorf("--job: %w", err)
	}
	token := f.token
	if token == "" {
		token = os.Getenv(bus.EnvNATSToken)
	}
	if token == "" && f.tokenFile == "" {
		// A launched job's bus token comes from its job secret.
		secret := os.Getenv(cluster.EnvJobSecret)
		if f.secretFile != "" {
			s, err := cluster.LoadJobSecret(f.secretFile)
			if err != nil {
				return bus.Config{}, fmt.Errorf("--job-secret-file: %w", err)
			}
			secret = s
		}
		if secret != "" {
			keys, err := cluster.DeriveJobKeys(secret)
			if err != nil {
				return bus.Config{}, err
			}
			token = keys.BusToken
		}
	}
	if f.tokenFile != "" {
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return bus.Config{}, fmt.Errorf("--token-file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	cfg := bus.Config{URL: f.url, Job: f.job, Rank: -1, Token: token, NKeySeedFile: f.nkeySeed,
		Name: name, Log: *logger()}
	if f.tlsCA != "" || f.tlsCert != "" || f.tlsKey != "" {
		cfg.TLS = &bus.TLS{CAFile: f.tlsCA, CertFile: f.tlsCert, KeyFile: f.tlsKey}
	}
	return cfg, nil
}

// connect dials the bus and explains failures in terms of the flags.
func (f *busClientFlags) connect(ctx context.Context, cfg bus.Config) (*bus.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, f.connectTimeout)
	defer cancel()
	b, err := bus.Connect(ctx, cfg)
	switch {
	case errors.Is(err, bus.ErrUnreachable):
		return nil, fmt.Errorf("%w\nIs job %s running? Point --nats-url at its control bus "+
			"(rank 0 logs \"control bus listening\" with the URL)", err, cfg.Job)
	case errors.Is(err, bus.ErrAuth):
		return nil, fmt.Errorf("%w\nPass the credentials the bus expects: --token or --token-file, --nkey-seed, "+
			"or --tls-cert/--tls-key", err)
	case err != nil:
		return nil, err
	}
	return b, nil
}

// busCommandContext returns the command's context, cancelled on Ctrl-C or
// SIGTERM.
func busCommandContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

func newWatchCmd() *cobra.Command {
	var (
		bc       busClientFlags
		interval time.Duration
		once     bool
		forDur   time.Duration
		opts     bus.WatchOptions
		width    int
	)
	cmd := &cobra.Command{
		Use:   "watch --job JOB",
		Short: "Show a live per-rank table of a running job's step times",
		Long: `Subscribes to a job's control bus and shows, per rank, the step time (last, and
min/median/max over the last --window steps), the median wait for data, compute
time and wait in collectives, and LAG: how long after the earliest rank this one
enters each step's first collective. The rank the others wait for arrives last;
the slowest ranks are marked SLOW. Works the same for a single process.

On a terminal the table is redrawn every --interval; otherwise one table is
printed per interval. --once prints a single table after listening for --for.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if interval <= 0 {
				return fmt.Errorf("--interval must be positive, got %s", interval)
			}
			cfg, err := bc.config("fdsm watch")
			if err != nil {
				return err
			}
			ctx, stop := busCommandContext(cmd)
			defer stop()
			b, err := bc.connect(ctx, cfg)
			if err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			defer b.Close()

			table := bus.NewWatchTable(cfg.Job, opts)
			if err := b.SubscribeMetrics(table.AddMetrics); err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			if err := b.SubscribeEvents(table.AddEvent); err != nil {
				return fmt.Errorf("watch: %w", err)
			}
			out := cmd.OutOrStdout()
			if once {
				select {
				case <-ctx.Done():
				case <-time.After(forDur):
				}
				return table.Render(out, width)
			}
			return watchLoop(ctx, out, table, interval, width)
		},
	}
	bc.register(cmd)
	f := cmd.Flags()
	f.DurationVar(&interval, "interval", time.Second, "time between redraws")
	f.BoolVar(&once, "once", false, "print one table after listening for --for, then exit")
	f.DurationVar(&forDur, "for", 3*time.Second, "with --once: how long to listen")
	f.BoolVar(&opts.ShowEvents, "events", false, "also show the job's recent events")
	f.IntVar(&opts.Window, "window", 50, "steps per rank over which min/median/max are taken")
	f.IntVar(&opts.Slowest, "slowest", 3, "how many of the slowest ranks to mark")
	f.IntVar(&opts.MaxRows, "rows", 0, "show at most this many ranks, slowest first (0: all)")
	f.IntVar(&width, "width", 0, "line width (0: the terminal's, from $COLUMNS, or 120; unlimited when not a terminal)")
	return cmd
}

// watchLoop redraws the table every interval until ctx ends.
func watchLoop(ctx context.Context, out io.Writer, table *bus.WatchTable, interval time.Duration, width int) error {
	tty := isTerminal(out)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		w := width
		if tty && w == 0 {
			w = terminalWidth(out) // read each time: the window may be resized
		}
		if tty {
			// Home the cursor and clear the screen, then draw.
			if _, err := io.WriteString(out, "\x1b[H\x1b[2J"); err != nil {
				return err
			}
		}
		if err := table.Render(out, w); err != nil {
			return err
		}
		if !tty {
			if _, err := io.WriteString(out, "\n"); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// terminalWidth returns the width of the terminal out, else $COLUMNS, else
// 120.
func terminalWidth(out io.Writer) int {
	if f, ok := out.(*os.File); ok {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil && w > 0 {
			return w
		}
	}
	if c, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && c > 0 {
		return c
	}
	return 120
}
