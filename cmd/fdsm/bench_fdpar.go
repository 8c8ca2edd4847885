package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/bench"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/trainer"
)

func newBenchFDParCmd() *cobra.Command {
	var opts bench.FDParOptions
	var asJSON bool
	var cfgPath, devices string
	cmd := &cobra.Command{
		Use:   "fdpar",
		Short: "Time an FD objective's step on one device against the same step spread over a device group",
		Long: `Takes the model, dtype and FD objective of --config and times one step (objective
and backward) on the first of --devices against the same step with the
objective's evaluations spread over all of them (parallel.fd_devices), on the
same random batch: the median step, the part spent gathering the replicas'
gradients, the bytes each device copied to and from the host per step, peak
memory, and max_grad_rel_diff, the largest difference between the two steps'
gradients in float64 (it must stay below 1e-12 or so). The data-parallel
combination is measured by fdsm bench ddp --set parallel.fd_devices=K.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := trainer.LoadConfig(cfgPath)
			if err != nil {
				return usage(err)
			}
			if !strings.HasPrefix(cfg.Objective.Name, "fd-") {
				return usage(fmt.Errorf("--config: objective %s is not an FD objective", cfg.Objective.Name))
			}
			var names []string
			for _, name := range strings.Split(devices, ",") {
				names = append(names, strings.TrimSpace(name))
			}
			if opts.Devices, err = device.OpenGroup(names); err != nil {
				return usage(err)
			}
			opts.Spec, opts.Objective, opts.Options = cfg.ModelSpec(), cfg.Objective.Name, cfg.ObjectiveOptions()
			if opts.DType, err = tensor.ParseDType(cfg.DType); err != nil {
				return usage(err)
			}
			res, err := bench.FDPar(opts)
			if err != nil {
				return err
			}
			return printResult(cmd, asJSON, res)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().StringVar(&cfgPath, "config", "configs/small-ebm-mnist-fdssm.yaml", "YAML config with the model and FD objective")
	cmd.Flags().StringVar(&devices, "devices", "cpu,cpu:1", "comma-separated device group, the lead first (a CUDA device given again is another lane of that GPU: cuda:0,cuda:0,cuda:0)")
	cmd.Flags().IntVar(&opts.Batch, "batch", 64, "batch size")
	cmd.Flags().IntVar(&opts.Rounds, "rounds", 5, "timed steps (the median is reported)")
	return cmd
}
