package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/fdsm-go/fdsm/bench"
	"github.com/fdsm-go/fdsm/study"
)

func newStudyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "study",
		Short: "Studies of training at scale: measured here, modelled beyond",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newStudyScalingCmd(), newStudyControlCmd(), newStudyWorkerCmd())
	return cmd
}

// studyScalingFlags are `fdsm study scaling`'s flags.
type studyScalingFlags struct {
	config, np, fdDevices, allreduce, local, plots, profileOut, from string
	measureFD, fdDevice                                              string
	profiles                                                         []string
	warmup, steps, rounds, globalBatch, maxGPUs                      int
	asJSON                                                           bool
}

func newStudyScalingCmd() *cobra.Command {
	var f studyScalingFlags
	cmd := &cobra.Command{
		Use:   "scaling",
		Short: "Time per iteration against GPUs: measured on this host for --np, modelled to 512 GPUs, and the two compared",
		Long: `Measures data-parallel training of --config on this host for each world size
in --np (bench ddp's machinery, one core per rank; np 1 is always measured and
calibrates the model's compute), predicts the same runs with the cost model of
docs/scaling.md on this machine's profile (--local, its link inside the node
fitted to --allreduce, the JSON of fdsm bench allreduce, when given), and
models every --profile for 1 to --max-gpus GPUs: weak scaling (the config's
batch per rank) and strong scaling (--global-batch), data parallelism alone
and with fdpar groups of --fd-devices devices. --np "" models only.
With an FD objective, one rank with an fdpar group of each --measure-fd size
is measured too, on --fd-device devices (default devsim, whose devices run
their queues at once, a core each), and predicted with the compute of its
group of one.
Profiles are YAML or JSON files, or built-in names: ` + fmt.Sprint(study.BuiltinProfiles()) + `.`,
		Example: "  fdsm study scaling --config configs/small-ebm-mnist-fdssm.yaml --np 2,4 --allreduce ar.json --plots out/\n" +
			"  fdsm study scaling --config configs/ncsn-cifar10-fd-ssmvr.yaml --np '' --json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStudyScaling(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "training config (YAML) to study")
	fl.StringVar(&f.np, "np", "2,4", `world sizes to measure on this host ("": none, the model alone)`)
	fl.IntVar(&f.warmup, "warmup", 3, "measured runs: steps left out")
	fl.IntVar(&f.steps, "steps", 12, "measured runs: steps measured after the warm-up")
	fl.IntVar(&f.rounds, "rounds", 1, "measured runs: repeat the world sizes, each reporting its median round")
	fl.StringVar(&f.allreduce, "allreduce", "", "fdsm bench allreduce --json output that calibrates this machine's link")
	fl.StringVar(&f.local, "local", "local-2cpu", "this machine's profile (file or built-in name)")
	fl.StringArrayVar(&f.profiles, "profile", []string{"h100-8x-nvlink-ndr400"}, "profiles to model besides --local (repeatable)")
	fl.IntVar(&f.maxGPUs, "max-gpus", 512, "model 1, 2, 4, ... up to this many GPUs")
	fl.StringVar(&f.fdDevices, "fd-devices", "2,4", "fdpar group sizes to model besides 1")
	fl.StringVar(&f.measureFD, "measure-fd", "2", `fdpar group sizes to measure at one rank, a core per device (FD objectives; "": none)`)
	fl.StringVar(&f.fdDevice, "fd-device", "devsim", "device kind of the measured fdpar groups")
	fl.IntVar(&f.globalBatch, "global-batch", 0, "strong scaling's global batch (0: 64 x the config's batch)")
	fl.StringVar(&f.plots, "plots", "", "write PNG plots to this directory")
	fl.StringVar(&f.profileOut, "profile-out", "", "write this machine's calibrated profile here, as JSON (which --local reads)")
	fl.StringVar(&f.from, "from", "", "print and plot a result saved with --json instead of running a study")
	fl.BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	return cmd
}

func runStudyScaling(cmd *cobra.Command, f studyScalingFlags) error {
	var res study.Result
	if f.from != "" {
		if err := readJSONFile(f.from, &res); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	} else {
		opts, err := studyOptions(f)
		if err != nil {
			return err
		}
		log := logger()
		opts.Measure.Progress = func(msg string) { log.Info().Msg("study scaling: " + msg) }
		ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if res, err = study.Run(ctx, opts); err != nil {
			return err
		}
	}
	if f.profileOut != "" {
		if err := writeJSONFile(f.profileOut, res.Profiles[0]); err != nil {
			return err
		}
	}
	if f.plots != "" {
		if err := study.Plot(res, f.plots); err != nil {
			return err
		}
	}
	return printResult(cmd, f.asJSON, res)
}

// studyOptions turns the flags into the study's options.
func studyOptions(f studyScalingFlags) (study.Options, error) {
	var o study.Options
	if f.config == "" {
		return o, usage(fmt.Errorf("--config is required"))
	}
	var err error
	if o.Workload, err = study.WorkloadOf(f.config); err != nil {
		return o, err
	}
	if f.np != "" {
		if o.Measure.NP, err = parseCounts(f.np); err != nil {
			return o, usage(fmt.Errorf("--np: %w", err))
		}
	}
	if o.Sweep.FDDevices, err = parseCounts(f.fdDevices); err != nil {
		return o, usage(fmt.Errorf("--fd-devices: %w", err))
	}
	if f.measureFD != "" {
		if o.Measure.FD, err = parseCounts(f.measureFD); err != nil {
			return o, usage(fmt.Errorf("--measure-fd: %w", err))
		}
	}
	o.Measure.FDDevice = f.fdDevice
	if f.warmup < 0 || f.steps < 1 || f.rounds < 1 || f.maxGPUs < 1 || f.globalBatch < 0 {
		return o, usage(fmt.Errorf("--warmup must not be negative; --steps, --rounds and --max-gpus must be at least 1"))
	}
	exe, err := os.Executable()
	if err != nil {
		return o, fmt.Errorf("find this executable to start the workers: %w", err)
	}
	cfg, err := filepath.Abs(f.config)
	if err != nil {
		return o, err
	}
	o.Measure.Worker = []string{exe, "study", "ddp-worker", "--config", cfg, "--"}
	o.Measure.Batch, o.Measure.Warmup, o.Measure.Steps, o.Measure.Rounds = o.Workload.Batch, f.warmup, f.steps, f.rounds
	if f.warmup == 0 {
		o.Measure.Warmup = -1 // bench.DDPOptions: negative means none
	}
	o.Sweep.GPUs = study.PowersOfTwo(f.maxGPUs)
	o.Sweep.GlobalBatch = f.globalBatch
	if o.Sweep.GlobalBatch == 0 {
		o.Sweep.GlobalBatch = 64 * o.Workload.Batch
	}
	if f.allreduce != "" {
		o.AllReduce = &bench.AllReduceResult{}
		if err := readJSONFile(f.allreduce, o.AllReduce); err != nil {
			return o, fmt.Errorf("--allreduce: %w", err)
		}
	}
	if o.Local, err = study.LoadProfile(f.local); err != nil {
		return o, err
	}
	for _, name := range f.profiles {
		p, err := study.LoadProfile(name)
		if err != nil {
			return o, err
		}
		o.Profiles = append(o.Profiles, p)
	}
	return o, nil
}

// newStudyWorkerCmd is the worker of a study's measured runs: bench ddp
// starts it as `<worker> train --config BENCH --out DIR ...`, and it trains
// the study's config instead, with bench ddp's step count, batch and
// device, a constant learning rate, and without checkpoints, samples or
// validation along the way.
func newStudyWorkerCmd() *cobra.Command {
	var config string
	var sets []string
	cmd := &cobra.Command{
		Use:    "ddp-worker --config FILE -- train --config BENCH --out DIR [train flags]",
		Short:  "Worker process of `fdsm study scaling` (internal)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "train" {
				return fmt.Errorf("ddp-worker: want the train command line after --, got %q", args[0])
			}
			trainArgs, err := studyTrainArgs(config, args[1:])
			if err != nil {
				return err
			}
			for _, kv := range sets {
				trainArgs = append(trainArgs, "--set", kv)
			}
			root := newRootCmd()
			root.SetArgs(trainArgs)
			root.SetOut(cmd.OutOrStdout())
			root.SetErr(cmd.ErrOrStderr())
			return root.ExecuteContext(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&config, "config", "", "the study's training config")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "key=value added to the config (repeatable)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// studyTrainArgs rewrites bench ddp's train arguments to train config.
func studyTrainArgs(config string, args []string) ([]string, error) {
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	benchCfg := fs.String("config", "", "")
	fs.ParseErrorsAllowlist.UnknownFlags = true
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var b struct {
		Batch  int    `json:"batch"`
		Steps  int    `json:"steps"`
		Device string `json:"device"`
	}
	if err := readJSONFile(*benchCfg, &b); err != nil {
		return nil, fmt.Errorf("ddp-worker: bench config: %w", err)
	}
	out := []string{"train", "--config", config, "--set", fmt.Sprintf("batch=%d", b.Batch),
		"--set", fmt.Sprintf("steps=%d", b.Steps), "--set", "checkpoint.every=0", "--set", "samples.n=0",
		"--set", "validation.every=0", "--set", "schedule.kind=constant"} // a short run has no room for warm-up
	if b.Device != "" {
		out = append(out, "--set", "device="+b.Device)
	}
	for i := 0; i < len(args); i++ { // every other train flag as bench ddp gave it
		if args[i] == "--config" {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out, nil
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
