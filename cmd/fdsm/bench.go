package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/bench"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/tensor"
)

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure speed and memory (medians of side-by-side rounds)",
	}
	cmd.AddCommand(newBenchEngineCmd(), newBenchModelsCmd(), newBenchObjectivesCmd(), newBenchDerivativeCmd(), newBenchDataCmd(), newBenchAllReduceCmd(), newBenchAllReduceWorkerCmd(), newBenchDDPCmd(), newBenchTrainCmd(), newBenchFDParCmd())
	return cmd
}

// printResult writes a benchmark result as indented JSON or as its table.
func printResult(cmd *cobra.Command, asJSON bool, res fmt.Stringer) error {
	if asJSON {
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	_, err := fmt.Fprint(cmd.OutOrStdout(), res.String())
	return err
}

func newBenchObjectivesCmd() *cobra.Command {
	var opts bench.ObjectivesOptions
	var asJSON bool
	var dev string
	cmd := &cobra.Command{
		Use:   "objectives",
		Short: "Time per step, peak memory and counted MACs of SSM, DSM, SSM-VR against their finite-difference forms (paper Table 2)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := logger()
			opts.Progress = func(r, n int) { log.Info().Int("round", r).Int("of", n).Msg("bench objectives") }
			be, err := openDevice(dev)
			if err != nil {
				return err
			}
			opts.Backend = be
			res, err := bench.Objectives(opts)
			if err != nil {
				return err
			}
			return printResult(cmd, asJSON, res)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().StringVar(&opts.Model, "model", "mlp", "energy model: mlp (784-512-512) or resnet (small resnet_ebm)")
	addDeviceFlag(cmd, &dev, device.Default)
	cmd.Flags().IntVar(&opts.Batch, "batch", 64, "batch size of the energy model (the score network takes a quarter)")
	cmd.Flags().IntVar(&opts.Rounds, "rounds", 5, "measurement rounds (the median is reported)")
	cmd.Flags().IntVar(&opts.Iters, "iters", 3, "steps per round")
	return cmd
}

func newBenchDerivativeCmd() *cobra.Command {
	var opts bench.DerivativeOptions
	var asJSON bool
	var dev string
	cmd := &cobra.Command{
		Use:   "derivative",
		Short: "T-th directional derivative of a resnet_ebm's log density: nested autodiff vs FD stencil (paper Fig. 2)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.MaxOrder < 1 || opts.MaxOrder > 8 {
				return fmt.Errorf("--max-order must be between 1 and 8, got %d", opts.MaxOrder)
			}
			log := logger()
			opts.Progress = func(t int) { log.Info().Int("order", t).Msg("bench derivative") }
			be, err := openDevice(dev)
			if err != nil {
				return err
			}
			opts.Backend = be
			res, err := bench.Derivative(opts)
			if err != nil {
				return err
			}
			return printResult(cmd, asJSON, res)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().IntVar(&opts.MaxOrder, "max-order", 5, "highest derivative order T (1-8; exact cost grows exponentially)")
	addDeviceFlag(cmd, &dev, device.Default)
	cmd.Flags().IntVar(&opts.Batch, "batch", 16, "batch size")
	cmd.Flags().Float64Var(&opts.Eps, "eps", 0.3, "finite-difference step ‖v‖")
	cmd.Flags().IntVar(&opts.Rounds, "rounds", 3, "measurement rounds (the median is reported)")
	cmd.Flags().IntVar(&opts.Iters, "iters", 2, "evaluations per round")
	return cmd
}

func newBenchModelsCmd() *cobra.Command {
	var opts bench.ModelsOptions
	var asJSON bool
	var dtype, dev string
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Time forward and forward+backward of every model at CPU sizes and the paper's batch sizes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dt, err := tensor.ParseDType(dtype)
			if err != nil {
				return err
			}
			if opts.Rounds < 1 || opts.Iters < 1 {
				return fmt.Errorf("--rounds and --iters must be at least 1")
			}
			opts.DType = dt
			if opts.Backend, err = openDevice(dev); err != nil {
				return err
			}
			log := logger()
			opts.Progress = func(name string) { log.Info().Str("model", name).Msg("bench models") }
			return printResult(cmd, asJSON, bench.Models(opts))
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().IntVar(&opts.Rounds, "rounds", 5, "measurement rounds (the median is reported)")
	cmd.Flags().IntVar(&opts.Iters, "iters", 3, "iterations per round")
	cmd.Flags().IntVar(&opts.Warmup, "warmup", 1, "untimed warm-up iterations")
	cmd.Flags().StringVar(&dtype, "dtype", "float32", "float32 or float64")
	addDeviceFlag(cmd, &dev, device.Default)
	return cmd
}

func newBenchEngineCmd() *cobra.Command {
	var opts bench.EngineOptions
	var asJSON bool
	var dev string
	cmd := &cobra.Command{
		Use:   "engine",
		Short: "Time an MLP energy step against its GEMMs, and a conv block",
		Long: `Times forward + backward of a float32 MLP energy 784-512-512-1 (softplus,
batch 192) against the same step's GEMMs alone through the same BLAS, and a
conv block (64->64 channels, 3x3, 32x32, batch 32). Reports median times
over rounds, with warm-up excluded, plus Go heap allocations per step. Each
ratio is the quotient of the two median times printed beside it; the range
after it is that of the per-round ratios (how much the rounds scatter).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Rounds < 1 || opts.Iters < 1 {
				return fmt.Errorf("--rounds and --iters must be at least 1")
			}
			log := logger()
			opts.Progress = func(done, total int) {
				log.Info().Int("round", done).Int("of", total).Msg("bench engine")
			}
			be, err := openDevice(dev)
			if err != nil {
				return err
			}
			opts.Backend = be
			return printResult(cmd, asJSON, bench.Engine(opts))
		},
	}
	addDeviceFlag(cmd, &dev, device.Default)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().IntVar(&opts.Rounds, "rounds", 7, "measurement rounds (the median is reported)")
	cmd.Flags().IntVar(&opts.Iters, "iters", 20, "iterations per round")
	cmd.Flags().IntVar(&opts.Warmup, "warmup", 5, "untimed warm-up iterations")
	return cmd
}
