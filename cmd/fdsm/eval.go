package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/progress"
	"github.com/fdsm-go/fdsm/trainer"
)

// loadModel reads a model from a run directory (its newest checkpoint), a
// checkpoint directory or a model .safetensors file.
func loadModel(path, dev string) (models.Model, error) {
	be, err := openDevice(dev)
	if err != nil {
		return nil, err
	}
	file, err := trainer.ModelFile(path)
	if err != nil {
		return nil, err
	}
	return models.LoadCheckpoint(file, be, 0)
}

// evalFlags are eval's data flags; empty values take the run's own.
type evalFlags struct {
	data, ood, ref, dataDir string
	transforms              []string
}

// datasets opens named datasets the way the run trained: with its data
// directory and its deterministic transforms unless the flags say otherwise
// (--transform none for no transforms).
type datasets struct {
	dir        string
	transforms []string
}

func (e evalFlags) resolve(path string) (datasets, string, error) {
	cfg, _, ok, err := trainer.RunConfig(path)
	if err != nil {
		return datasets{}, "", err
	}
	ds, name := datasets{dir: e.dataDir, transforms: e.transforms}, e.data
	if ok {
		runName, runTs := cfg.Data.EvalData()
		if name == "" {
			name = runName
		}
		if ds.transforms == nil {
			ds.transforms = runTs
		}
		if ds.dir == "" {
			ds.dir = cfg.Data.Dir
		}
	}
	if len(ds.transforms) == 1 && ds.transforms[0] == "none" {
		ds.transforms = nil
	}
	if name == "" {
		return datasets{}, "", fmt.Errorf("%s records no evaluation dataset (no training config, or it trained on tar shards): name one with --data", path)
	}
	return ds, name, nil
}

func (s datasets) open(name string) (data.Dataset, error) {
	d, err := data.Open(name, data.OpenOptions{DataDir: s.dir, DirHint: "--data-dir DIR"})
	if err != nil {
		return nil, err
	}
	ts, err := data.ParseTransforms(s.transforms)
	if err != nil {
		return nil, err
	}
	return data.WithTransforms(d, ts, 0)
}

const evalLong = `CHECKPOINT is a run directory (its newest checkpoint), a checkpoint directory or
a model .safetensors file. The data are the test split of the run's training
set with the run's transforms (random augmentations left out), unless --data
and --transform say otherwise (--transform none: no transforms).

--what sm: the exact score-matching loss ½‖∇ₓlog p‖² + tr ∇ₓ² log p on
--batches batches of --batch-size test samples, the trace over every
coordinate (a score network: ½‖s‖² + tr ∇ₓs at its smallest noise level).
Its cost is d second-order backward passes per sample (d = 784 for MNIST):
the main job's score network takes about 0.1 s per sample on two CPU cores
(the default 1500 samples: about 2.5 minutes) in about 130 MB, and the
previous main job's MLP energy (configs/mnist-mlp-mdsm.yaml) 0.3 s in
180 MB; memory does not grow with the number of samples; --chunk-rows 256
is 20% faster on the MLP energy in 285 MB (the progress line shows the
ETA). --batches 1 --batch-size 100 is a quick look. For a score network on
PCA components the loss includes −(d − K)/σ_L² and ‖r‖²/(2σ_L⁴) from the
directions outside the subspace (the model puts its mass in the subspace).
--what nll: the negative log-likelihood (NICE exact; DKEF with log Z from
--samples importance samples of N(0, 4I)).
--what ood: the AUC of typicality-based detection of --ood-data against
--data, relative to the mean energy of --ref-data (the reference protocol:
reference from 10 training batches of 100, test batches of 2, 1000 each side).
--what digits: whether samples look like varied MNIST digits, judged by an
independent classifier (a 784-256-10 MLP trained on MNIST's labels first,
about 10 s, ~98% test accuracy): --n samples drawn with the run's sampler
(or read from --samples-file, a .npy from fdsm sample) pass when at least
60% are classified with probability >= 0.9 and those cover at least 8 of the
10 digits. The exit status is 0 either way; --json gives "pass".`

func newEvalCmd() *cobra.Command {
	var f evalFlags
	var what string
	var batches, batchSize, chunkRows, samples int
	var asJSON, noProgress bool
	var dg digitsFlags
	var dev string
	cmd := &cobra.Command{
		Use:   "eval CHECKPOINT",
		Short: "Evaluate a trained model: exact SM loss, NLL (NICE exact, DKEF importance-sampled), OOD AUC, digit samples",
		Long:  evalLong,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadModel(args[0], dev)
			if err != nil {
				return err
			}
			var sets datasets
			var d data.Dataset
			if what != "digits" { // digits judges samples, not a dataset
				var name string
				if sets, name, err = f.resolve(args[0]); err != nil {
					return err
				}
				if d, err = sets.open(name); err != nil {
					return err
				}
			}
			bar := progress.New(stderrFor(cmd.ErrOrStderr()), 0, progress.Options{Label: "eval " + what, Unit: "item", Draw: !noProgress,
				Log: func(s progress.Status) {
					logger().Info().Int("done", s.Done).Int("total", s.Total).Float64("eta_s", s.ETA.Seconds()).Msg("eval " + what)
				}})
			prog := barProgress(bar)
			out := map[string]any{"model": m.Spec().Kind, "what": what}
			if d != nil {
				out["data"] = d.Name()
			}
			start := time.Now()
			switch what {
			case "sm":
				err = evalSM(m, d, trainer.EvalSMOptions{Batches: batches, BatchSize: batchSize, ChunkRows: chunkRows, Progress: prog}, out)
			case "nll":
				err = evalNLL(m, d, trainer.EvalNLLOptions{NumSamples: samples, Progress: prog}, out)
			case "ood":
				err = evalOOD(m, d, sets, f, out)
			case "digits":
				err = evalDigits(cmd, m, args[0], dg, bar, out)
			default:
				err = fmt.Errorf("unknown --what %q (valid: sm, nll, ood, digits)", what)
			}
			if err != nil {
				bar.Stop("failed")
				return err
			}
			bar.Finish()
			out["elapsed_s"] = time.Since(start).Round(time.Millisecond).Seconds()
			return printResult(cmd, asJSON, kv(out))
		},
	}
	cmd.Flags().StringVar(&what, "what", "sm", "sm, nll, ood or digits")
	addDeviceFlag(cmd, &dev, device.Default)
	cmd.Flags().IntVar(&dg.n, "n", 64, "digits: samples to draw and judge")
	cmd.Flags().Uint64Var(&dg.seed, "seed", 1, "digits: sampler seed")
	cmd.Flags().StringVar(&dg.file, "samples-file", "", "digits: judge these samples (.npy in pixel scale, from fdsm sample --out) instead of drawing")
	cmd.Flags().StringVar(&f.data, "data", "", "evaluation dataset (a data info name or path; default: the test split of the run's data)")
	cmd.Flags().StringVar(&f.ood, "ood-data", "", "out-of-distribution dataset for --what ood")
	cmd.Flags().StringVar(&f.ref, "ref-data", "", "ood: training data for the reference mean energy (default: --data); the reference protocol uses the training set, e.g. mnist")
	cmd.Flags().StringVar(&f.dataDir, "data-dir", "", "where named datasets are read from (default: the run's data.dir)")
	cmd.Flags().StringArrayVar(&f.transforms, "transform", nil, "transform applied to every sample (repeatable; default: the run's; none: no transforms), e.g. pad:32")
	cmd.Flags().IntVar(&batches, "batches", 15, "sm: number of batches")
	cmd.Flags().IntVar(&batchSize, "batch-size", 100, "sm: batch size")
	cmd.Flags().IntVar(&chunkRows, "chunk-rows", 64, "sm: (sample, coordinate) rows per model call; memory grows with it")
	cmd.Flags().IntVar(&samples, "samples", 1000000, "nll (dkef): importance samples for log Z")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.Flags().BoolVar(&noProgress, "no-progress", false, "no progress line even on a terminal")
	return cmd
}

// barProgress adapts a progress callback (done, total) to bar, whose total
// becomes known with the first call.
func barProgress(bar *progress.Bar) func(done, total int) {
	return func(done, total int) { bar.SetTotal(total); bar.Set(done, "") }
}

func evalSM(m models.Model, d data.Dataset, o trainer.EvalSMOptions, out map[string]any) error {
	r, err := trainer.EvalSM(m, d, o)
	if err != nil {
		return err
	}
	out["sm_loss"], out["std_err"], out["samples"] = r.Mean, r.StdErr, r.N
	return nil
}

func evalNLL(m models.Model, d data.Dataset, o trainer.EvalNLLOptions, out map[string]any) error {
	r, err := trainer.EvalNLL(m, d, o)
	if err != nil {
		return err
	}
	out["nll"], out["bits_per_dim"], out["exact"], out["log_z"] = r.NLL, r.BitsPerDim, r.Exact, r.LogZ
	return nil
}

func evalOOD(m models.Model, d data.Dataset, sets datasets, f evalFlags, out map[string]any) error {
	e, ok := m.(models.Energy)
	if !ok {
		return fmt.Errorf("ood needs an energy model, got %s", m.Spec().Kind)
	}
	if f.ood == "" {
		return fmt.Errorf("ood needs --ood-data")
	}
	o, err := sets.open(f.ood)
	if err != nil {
		return err
	}
	ref := d
	if f.ref != "" {
		if ref, err = sets.open(f.ref); err != nil {
			return err
		}
	}
	auc, err := trainer.EvalOODAUC(e, ref, d, o, trainer.OODOptions{})
	if err != nil {
		return err
	}
	out["auc"], out["ood_data"] = auc, o.Name()
	return nil
}

// kv prints a flat result map as "key: value" lines.
type kv map[string]any

func (m kv) String() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%-12s %v\n", k+":", m[k])
	}
	return sb.String()
}
