package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/bench"
	"github.com/fdsm-go/fdsm/device"
)

func newBenchDDPCmd() *cobra.Command {
	var opts bench.DDPOptions
	var asJSON bool
	var np string
	cmd := &cobra.Command{
		Use:   "ddp",
		Short: "Time per iteration of data-parallel training on this host, split into compute, collective wait and data wait, per world size",
		Long: `Trains a small EBM with FD-SSM as a real data-parallel job (fdsm launch workers
running fdsm train, gradients all-reduced over the TCP ring on loopback) once per
world size in --np, with --batch samples per rank (weak scaling). Every rank
publishes each step's timing on the control bus; the benchmark reads them there.

Per world size, after --warmup steps: the iteration time (median over steps of
the slowest rank's step time), the medians over ranks and steps of its parts
(compute = forward + backward, all-reduces overlapping backward included;
collective wait after backward; data wait; other = clipping, optimizer,
bookkeeping), the arrival skew between ranks, throughput = np*batch/iteration
time, and the scaling efficiency throughput(np) / (np * throughput(1)).

Workers get GOMAXPROCS = CPUs/np each (as fdsm launch gives them) unless
GOMAXPROCS is set. On a host with fewer cores than workers they time-share the
cores, and efficiency measures that, not the network.`,
		Example: "  fdsm bench ddp --np 1,2,4\n  fdsm bench ddp --np 1,2 --model toy --steps 100 --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if err := device.Check(opts.Device); err != nil {
				return usage(err)
			}
			if opts.NP, err = parseCounts(np); err != nil {
				return fmt.Errorf("--np: %w", err)
			}
			if opts.Batch < 1 || opts.Steps < 1 || opts.Rounds < 1 || opts.Warmup < 0 {
				return fmt.Errorf("--batch, --steps and --rounds must be at least 1 and --warmup not negative")
			}
			if opts.Warmup == 0 {
				opts.Warmup = -1 // DDPOptions: negative means none
			}
			exe, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find this executable to start the workers: %w", err)
			}
			opts.Worker = []string{exe}
			log := logger()
			opts.Progress = func(msg string) { log.Info().Msg("bench ddp: " + msg) }
			opts.Log = launcherLog(*log)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := bench.DDP(ctx, opts)
			if err != nil {
				return err
			}
			return printResult(cmd, asJSON, res)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.StringVar(&np, "np", "1,2,4", "comma-separated world sizes (processes on this host)")
	f.IntVar(&opts.Batch, "batch", 32, "samples per rank and step (the global batch grows with np)")
	f.IntVar(&opts.Warmup, "warmup", 5, "steps left out of the figures")
	f.IntVar(&opts.Steps, "steps", 40, "steps measured after the warm-up")
	f.StringVar(&opts.Model, "model", "resnet", "energy model: "+strings.Join(bench.DDPModels, ", ")+
		" (resnet: small resnet_ebm on MNIST; mlp: 784-512-512 on MNIST; toy: 2-32-32 on a 2-D mixture, no data set needed)")
	addDeviceFlag(cmd, &opts.Device, "")
	f.StringVar(&opts.Dir, "dir", "", "keep each run's config, output and worker logs here (default: a temporary directory, removed)")
	f.IntVar(&opts.Rounds, "rounds", 1, "repeat the world sizes this many times; each reports its round with the median iteration time")
	f.DurationVar(&opts.Timeout, "timeout", 0, "limit per world size and round (0 = 10m)")
	return cmd
}

// launcherLog is the log for the launcher's own events: its per-worker
// start and finish lines only at debug level, warnings and errors always.
func launcherLog(l zerolog.Logger) zerolog.Logger {
	if l.GetLevel() > zerolog.DebugLevel {
		return l.Level(max(l.GetLevel(), zerolog.WarnLevel))
	}
	return l
}
