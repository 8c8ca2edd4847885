package main

import (
	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/bench"
)

func newBenchTrainCmd() *cobra.Command {
	var cfgPath, dev string
	var sets []string
	var opts bench.TrainOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "train [--config FILE] [--device D] [--steps N]",
		Short: "Time per training step of a config, with the device's host synchronisations and copies per step",
		Long: `Runs --warmup untimed and --steps measured training steps of a config (the
main job without --config) in a temporary directory, without checkpoints or
samples, and reports the median time per step and, counted by the device,
the host synchronisations and the bytes copied host to device and back per
step. On devsim these show what a GPU step would wait for.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadTrainConfig(cfgPath, sets, dev)
			if err != nil {
				return err
			}
			opts.Config, opts.Name = cfg, cfgPath
			if cfgPath == "" {
				opts.Name = "main job"
			}
			log := logger()
			opts.Progress = func(s, n int) { log.Debug().Int("step", s).Int("of", n).Msg("bench train") }
			res, err := bench.Train(opts)
			if err != nil {
				return err
			}
			return printResult(cmd, asJSON, res)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config (default: the main job)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config field, key=value (repeatable)")
	addDeviceFlag(cmd, &dev, "")
	cmd.Flags().IntVar(&opts.Steps, "steps", 20, "measured steps")
	cmd.Flags().IntVar(&opts.Warmup, "warmup", 3, "untimed steps first")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}
