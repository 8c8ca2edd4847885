package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/progress"
	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/trainer"
)

const sampleLong = `CHECKPOINT is a run directory (its newest checkpoint), a checkpoint directory or
a model .safetensors file. The sampler is the run's (samples: in its config;
the main job's for a bare model file), with its step counts multiplied by
--scale.

--out FILE.png writes a grid; FILE.npy the raw samples as a NumPy float32
array [N, C, H, W] (or [N, D]) in pixel scale [0, 1], the run's data
transforms undone. The default is samples-seed<SEED>.png in the run
directory (beside a model file). A bad --out fails before sampling.`

func newSampleCmd() *cobra.Command {
	var n int
	var scale float64
	var out string
	var seed uint64
	var dev string
	var noProgress bool
	cmd := &cobra.Command{
		Use:   "sample CHECKPOINT [--n N] [--out FILE.png|FILE.npy]",
		Short: "Draw samples (Langevin for energies, annealed Langevin for score networks) into a PNG grid or a NumPy array",
		Long:  sampleLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n <= 0 || scale <= 0 {
				return fmt.Errorf("--n and --scale must be positive (got %d, %g)", n, scale)
			}
			cfg, home, err := sampleConfig(args[0])
			if err != nil {
				return err
			}
			if out == "" {
				out = filepath.Join(home, fmt.Sprintf("samples-seed%d.png", seed))
			}
			if err := trainer.CheckSamplePath(out); err != nil {
				return err
			}
			m, err := loadModel(args[0], dev)
			if err != nil {
				return err
			}
			cfg.Samples.Scale *= scale
			if err := drawSamples(cmd, m, cfg, n, seed, out, !noProgress); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "n", 64, "number of samples")
	addDeviceFlag(cmd, &dev, device.Default)
	cmd.Flags().Float64Var(&scale, "scale", 1, "multiplies the run's sampler step counts (longer: slower, often better)")
	cmd.Flags().StringVar(&out, "out", "", "output .png (grid) or .npy (array in pixel scale); default: samples-seed<SEED>.png in the run directory")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "sampler seed")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress line even on a terminal")
	return cmd
}

// sampleConfig returns the config whose sampler and transforms apply to the
// model at path (the run's, or the main job's defaults for a bare model
// file) and the directory default outputs go to.
func sampleConfig(path string) (trainer.Config, string, error) {
	cfg, ck, ok, err := trainer.RunConfig(path)
	if err != nil {
		return trainer.Config{}, "", err
	}
	if !ok {
		file, err := trainer.ModelFile(path)
		if err != nil {
			return trainer.Config{}, "", err
		}
		return trainer.DefaultConfig(), filepath.Dir(file), nil
	}
	if run := trainer.RunDir(ck); run != "" {
		return cfg, run, nil
	}
	return cfg, ck, nil
}

// drawSamples draws n samples as cfg.Samples configures, showing progress,
// and writes them to out (its extension picks the format).
func drawSamples(cmd *cobra.Command, m models.Model, cfg trainer.Config, n int, seed uint64, out string, draw bool) error {
	x, err := sampleWithProgress(cmd, m, cfg, n, seed, draw)
	if err != nil {
		return err
	}
	if err := trainer.SaveSamples(out, x, cfg.Data.Transforms); err != nil {
		return err
	}
	logger().Info().Str("file", out).Msg("samples written")
	return nil
}

// sampleWithProgress draws n samples as cfg.Samples configures with a
// progress line (or log lines) over the sampler's steps.
func sampleWithProgress(cmd *cobra.Command, m models.Model, cfg trainer.Config, n int, seed uint64, draw bool) (*tensor.Tensor, error) {
	log := logger()
	steps := cfg.Samples.SampleSteps(m)
	bar := progress.New(stderrFor(cmd.ErrOrStderr()), steps, progress.Options{Label: "sample", Unit: "step", Draw: draw,
		Log: func(s progress.Status) {
			log.Info().Int("step", s.Done).Int("of", s.Total).Float64("eta_s", s.ETA.Seconds()).Msg("sampling")
		}})
	log.Info().Int("n", n).Int("steps", steps).Msg("sampling")
	x, err := trainer.DrawSamples(m, cfg.Samples, n, seed, func(done, total int) { bar.Set(done, "") })
	if err != nil {
		bar.Stop("failed")
		return nil, err
	}
	bar.Finish()
	return x, nil
}
