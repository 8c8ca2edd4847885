package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/digitcheck"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/npy"
	"github.com/fdsm-go/fdsm/progress"
	"github.com/fdsm-go/fdsm/trainer"
)

// digitsFlags are eval --what digits' own flags.
type digitsFlags struct {
	n    int
	seed uint64
	file string
}

// evalDigits judges samples of the model at path (or of dg.file) with an
// independent MNIST classifier and records the report in out.
func evalDigits(cmd *cobra.Command, m models.Model, path string, dg digitsFlags, bar *progress.Bar, out map[string]any) error {
	imgs, shape, err := digitSamples(cmd, m, path, dg)
	if err != nil {
		return err
	}
	fit, err := digitcheck.Fit(imgs, shape)
	if err != nil {
		return err
	}
	train, err := data.LoadMNIST("", true)
	if err != nil {
		return err
	}
	logger().Info().Msg("training the MNIST classifier that judges the samples")
	clf, err := digitcheck.Train(train, digitcheck.TrainOptions{Progress: barProgress(bar)})
	if err != nil {
		return err
	}
	r := clf.Check(fit)
	out["digits"], out["pass"], out["confident"], out["classes"], out["mean_confidence"] = r.String(), r.Pass, r.Confident, r.Classes, r.MeanConfidence
	out["counts"], out["samples"] = r.Counts, r.N
	if r.N < digitcheck.MinImages {
		logger().Warn().Int("n", r.N).Int("min", digitcheck.MinImages).Msg("too few samples to judge coverage: the check fails")
	}
	return nil
}

// digitSamples returns the samples to judge in pixel scale with their shape:
// read from dg.file, or drawn with the run's sampler.
func digitSamples(cmd *cobra.Command, m models.Model, path string, dg digitsFlags) ([]float32, []int, error) {
	if dg.file != "" {
		a, err := npy.ReadFile(dg.file)
		if err != nil {
			return nil, nil, err
		}
		vals := make([]float32, len(a.Data))
		for i, v := range a.Data {
			vals[i] = float32(v)
		}
		return vals, a.Shape, nil
	}
	if dg.n <= 0 {
		return nil, nil, fmt.Errorf("--n must be positive, got %d", dg.n)
	}
	cfg, _, err := sampleConfig(path)
	if err != nil {
		return nil, nil, err
	}
	x, err := sampleWithProgress(cmd, m, cfg, dg.n, dg.seed, true)
	if err != nil {
		return nil, nil, err
	}
	vals, err := trainer.Pixels(x, cfg.Data.Transforms)
	return vals, x.Shape(), err
}
