package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/bus"
	"github.com/fdsm-go/fdsm/cluster"
	"github.com/fdsm-go/fdsm/progress"
	"github.com/fdsm-go/fdsm/trainer"
)

func newTrainCmd() *cobra.Command {
	var cfgPath, out, metricsAddr, dev string
	var sets []string
	var fdDevices int
	var tf32 bool
	var resume, resumeFinite, overwrite, noProgress bool
	var bf busFlags
	cmd := &cobra.Command{
		Use:   "train [--config FILE] [--set key=value ...] [--out DIR] [--resume]",
		Short: "Train a model; with no config, the main job (a score network of MNIST digits)",
		Long: `Trains the model, objective and dataset of a YAML config (the defaults are
the main job: a noise-conditional MLP score network on the 40 principal
components of MNIST digits, trained by denoising score matching over 20
noise levels and sampled by annealed Langevin dynamics, about five minutes
on two CPU cores). Every config field can be overridden with --set, e.g.
--set steps=2000 --set optimizer.lr=3e-4 --set model.hidden=[512,512];
--set objective.name=fd-ssmvr trains it with the paper's FD-SSMVR, and
--config configs/mnist-mlp-mdsm.yaml trains an MLP energy by multiscale DSM
(FD-DSM with --set objective.name=fd-mdsm; docs/benchmarks.md, "The main
job", says why the default is not an energy).

The run directory gets checkpoints/ (atomic, the last few kept), metrics.jsonl,
loss.png and time.png, and samples.png (a grid of Langevin samples for energy
models, annealed Langevin for score networks). --resume continues from the
newest readable checkpoint, exactly. Ctrl-C writes a checkpoint and stops.
A directory that holds a run is never overwritten: without --resume train
refuses it (--overwrite moves it to <out>.old-<time> first), and a resume
that cannot load its checkpoints fails without touching them.
Exit status: 0 done, 1 failed, 2 refused its input (bad config, a run
directory it may not use), 130 interrupted after a checkpoint.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if fdDevices > 0 {
				sets = append(sets, fmt.Sprintf("parallel.fd_devices=%d", fdDevices))
			}
			if tf32 {
				sets = append(sets, "tf32=true")
			}
			cfg, err := loadTrainConfig(cfgPath, sets, dev)
			if err != nil {
				return err
			}
			if resumeFinite && !resume {
				return usage(fmt.Errorf("--resume-finite modifies --resume: give both"))
			}
			if resume && overwrite {
				return usage(fmt.Errorf("--resume continues the run in --out and --overwrite moves it aside: choose one"))
			}
			return runTraining(cmd, cfg, trainOpts{out: out, resume: resume, resumeFinite: resumeFinite, overwrite: overwrite,
				metricsAddr: metricsAddr, progress: !noProgress, bus: bf})
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "YAML config (default: the main job)")
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a config field, key=value (repeatable)")
	cmd.Flags().StringVar(&out, "out", "runs/default", "run directory")
	addDeviceFlag(cmd, &dev, "")
	cmd.Flags().BoolVar(&tf32, "tf32", false, "on a CUDA device, let float32 GEMMs use TF32 tensor cores (faster, about 3 digits per product; config tf32)")
	cmd.Flags().IntVar(&fdDevices, "fd-devices", 0, "spread an FD objective's evaluations over this many devices: --device and the ones of its kind after it (config parallel.fd_devices)")
	cmd.Flags().BoolVar(&resume, "resume", false, "continue from the newest checkpoint in --out")
	cmd.Flags().BoolVar(&resumeFinite, "resume-finite", false, "with --resume: skip checkpoints holding NaN or Inf and resume from the newest finite one")
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "start over in an --out that holds a run, moving that run to <out>.old-<time> first")
	cmd.Flags().StringVar(&metricsAddr, "metrics-addr", "", "serve Prometheus metrics on this address (e.g. :9090)")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress bar even on a terminal")
	cmd.Flags().BoolVar(&bf.embed, "bus", false, "publish telemetry on an embedded control bus (loopback, port 4222 or a free one) and obey `fdsm ctl` commands")
	cmd.Flags().StringVar(&bf.url, "nats-url", "", "use this control bus (a NATS URL) instead of embedding one; in a launched job it overrides FDSM_NATS_URL")
	cmd.Flags().StringVar(&bf.job, "job", "local", "job name on the control bus (fdsm watch --job)")
	return cmd
}

// trainOpts are train's flags besides the config.
type trainOpts struct {
	out                             string
	resume, resumeFinite, overwrite bool
	metricsAddr                     string
	progress                        bool
	bus                             busFlags
}

func runTraining(cmd *cobra.Command, cfg trainer.Config, o trainOpts) error {
	out, resume, metricsAddr, progress, bf := o.out, o.resume, o.metricsAddr, o.progress, o.bus
	if resume {
		if done, err := reportComplete(cmd, out, cfg.Steps); done || err != nil {
			return err
		}
	}
	if cluster.InCluster() {
		if o.overwrite {
			return usage(fmt.Errorf("--overwrite is for single-process runs: in a data-parallel job move the old run directory aside yourself, or continue it with --resume"))
		}
		return runDistributed(cmd, cfg, o)
	}
	log := logger()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	metrics := newMetricsLog(out)
	defer metrics.close()
	exp, stopServe, err := serveMetrics(metricsAddr, log)
	if err != nil {
		return err
	}
	defer stopServe()
	var sb *singleBus
	if bf.enabled() {
		if sb, err = startSingleBus(ctx, bf, out, *log); err != nil {
			return fmt.Errorf("control bus: %w", err)
		}
		defer sb.close()
	}
	tty := isatty.IsTerminal(os.Stderr.Fd())
	bar := &stepBar{w: stderrFor(cmd.ErrOrStderr()), total: cfg.Steps, draw: progress}
	run := trainer.Run{Config: cfg, Dir: out, Resume: resume, ResumeFinite: o.resumeFinite, Overwrite: o.overwrite, Log: *log, OnStep: func(m trainer.StepMetrics) {
		metrics.write(m)
		exp.Observe(m)
		bar.step(m)
		if sb != nil {
			sb.step(m)
		}
		if !tty && (m.Step%100 == 0 || m.Step == cfg.Steps) {
			log.Info().Int("step", m.Step).Float64("loss", m.Loss).Float64("step_ms", m.StepMs).Float64("data_wait_ms", m.DataWaitMs).Msg("train")
		}
	}}
	if sb != nil {
		run.PollCommand = sb.poll
		run.OnCheckpoint = func(step int, path string) {
			sb.event(bus.EventCheckpoint, step, map[string]string{"path": path})
		}
		sb.event(bus.EventStart, 0, nil)
	}
	log.Info().Str("out", out).Str("objective", cfg.Objective.Name).Interface("model", cfg.Model["kind"]).Str("data", cfg.Data.Source()).Int("steps", cfg.Steps).Msg("training")
	sum, err := run.Train(ctx)
	if sb != nil {
		kind := bus.EventFinish
		if err != nil || sum.Stopped {
			kind = bus.EventStop
		}
		sb.event(kind, sum.Steps, nil)
	}
	bar.end(err)
	if err := trainOutcome(cmd, sum, err, metrics.close()); err != nil {
		return err
	}
	if sum.AlreadyComplete {
		return printComplete(cmd, out, sum.Steps, sum.Checkpoint)
	}
	return finishRun(cmd, cfg, sum, metrics.path, out)
}

// reportComplete prints that the run in out is complete, and reports true,
// when its newest checkpoint is at or past steps: --resume on a finished run
// touches nothing (no checkpoint rewritten, no samples redrawn).
func reportComplete(cmd *cobra.Command, out string, steps int) (bool, error) {
	step, path, ok := trainer.CompletedRun(out, steps)
	if !ok {
		return false, nil
	}
	return true, printComplete(cmd, out, step, path)
}

func printComplete(cmd *cobra.Command, out string, step int, checkpoint string) error {
	logger().Info().Int("step", step).Str("checkpoint", checkpoint).Msg("the run is already complete; nothing to do")
	_, err := fmt.Fprintf(cmd.OutOrStdout(), "run %s is complete (%d steps, checkpoint %s); nothing to do (raise steps with --set steps=N to train further)\n", out, step, checkpoint)
	return err
}

// stepBar is the training progress line. It appears at the first step, so
// nothing is drawn while the run sets up (or when set-up fails), and a run
// that fails or is interrupted leaves it where it stood, never at 100%.
type stepBar struct {
	w     io.Writer
	total int
	draw  bool
	bar   *progress.Bar
}

func (b *stepBar) step(m trainer.StepMetrics) {
	if b.bar == nil {
		b.bar = progress.New(b.w, b.total, progress.Options{Label: "train", Unit: "step", Draw: b.draw})
		// The rate counts steps from here: set-up and a resumed run's earlier
		// steps are not this process's work.
		b.bar.Start(m.Step)
	}
	note := fmt.Sprintf("loss %.4g", m.Loss)
	if m.Skipped {
		note += " (skipped)"
	}
	b.bar.Set(m.Step, note)
}

func (b *stepBar) end(err error) {
	switch {
	case b.bar == nil:
	case err == nil:
		b.bar.Finish()
	case errors.Is(err, context.Canceled):
		b.bar.Stop("interrupted")
	default:
		b.bar.Stop("failed")
	}
}

// trainOutcome turns a finished Train call into the command's error: an
// interruption (checkpoint written) is reported as a warning and exits 130
// without an error line, and a metrics write failure fails an otherwise good
// run.
func trainOutcome(cmd *cobra.Command, sum trainer.Summary, err, writeErr error) error {
	if errors.Is(err, context.Canceled) {
		switch {
		case sum.Checkpoint != "":
			logger().Warn().Int("step", sum.Steps).Str("checkpoint", sum.Checkpoint).Msg("interrupted; checkpoint written, continue with --resume")
		case sum.Rank != 0:
			// Only rank 0 writes checkpoints.
			logger().Warn().Int("step", sum.Steps).Int("rank", sum.Rank).Msg("interrupted; rank 0 writes the checkpoint")
		default:
			logger().Warn().Int("step", sum.Steps).Msg("interrupted before a checkpoint could be written")
		}
		return interrupted(cmd)
	}
	if err != nil {
		return err
	}
	if writeErr != nil {
		return fmt.Errorf("metrics: %w", writeErr)
	}
	return nil
}

// finishRun writes the end-of-run plots and samples and prints the summary.
func finishRun(cmd *cobra.Command, cfg trainer.Config, sum trainer.Summary, metricsPath, out string) error {
	log := logger()
	log.Info().Int("steps", sum.Steps).Int("skipped", sum.Skipped).Float64("loss", sum.LastLoss).Float64("elapsed_s", sum.Elapsed.Seconds()).
		Str("elapsed", progress.Clock(sum.Elapsed)).Str("checkpoint", sum.Checkpoint).Msg("done")
	if ms, err := trainer.ReadMetrics(metricsPath); err == nil && len(ms) > 0 {
		if err := trainer.PlotRun(trainer.LinearHistory(ms), out); err != nil {
			log.Warn().Err(err).Msg("plots")
		}
	}
	if cfg.Samples.N > 0 && sum.Model != nil {
		path := filepath.Join(out, "samples.png")
		if err := drawSamples(cmd, sum.Model, cfg, cfg.Samples.N, cfg.Seed+7, path, true); err != nil {
			return fmt.Errorf("samples: %w", err)
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "trained %d steps (%d skipped), final loss %.6g in %s; run directory %s\n",
		sum.Steps, sum.Skipped, sum.LastLoss, progress.Clock(sum.Elapsed), out)
	return nil
}

// serveMetrics returns the exporter a run feeds and, when addr is set,
// serves it for Prometheus on addr/metrics until stop is called.
func serveMetrics(addr string, log *zerolog.Logger) (exp *trainer.Exporter, stop func(), err error) {
	exp = trainer.NewExporter()
	if addr == "" {
		return exp, func() {}, nil
	}
	stopServe, bound, err := exp.Serve(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	log.Info().Str("addr", bound).Msg("serving Prometheus metrics on /metrics")
	return exp, func() { stopServe(context.Background()) }, nil
}

// loadTrainConfig is the one place a command builds a training config: the
// file (the main job without one), the --set overrides and --device, then
// one validation. Every failure is a usage error (exit 2).
func loadTrainConfig(path string, sets []string, dev string) (trainer.Config, error) {
	cfg, err := trainer.LoadConfig(path)
	if err != nil {
		return cfg, usage(err)
	}
	for _, s := range sets {
		if err := cfg.Set(s); err != nil {
			return cfg, usage(err)
		}
	}
	if dev != "" {
		cfg.Device = dev
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usage(err)
	}
	return cfg, nil
}
