package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/trainer"
)

// loadModel reads a model from a run directory (its newest checkpoint), a
// checkpoint directory or a model .safetensors file.
func loadModel(path string) (models.Model, error) {
	file, err := trainer.ModelFile(path)
	if err != nil {
		return nil, err
	}
	return models.LoadCheckpoint(file, tensor.DefaultCPU(), 0)
}

func newEvalCmd() *cobra.Command {
	var what, dataName, oodName, refName, dataDir string
	var transforms []string
	var batches, batchSize, samples int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "eval CHECKPOINT",
		Short: "Evaluate a trained model: exact SM loss, NLL (NICE exact, DKEF importance-sampled), OOD AUC",
		Long: `CHECKPOINT is a run directory (its newest checkpoint), a checkpoint directory or
a model .safetensors file. --what sm: the exact score-matching loss on
--batches batches of --batch-size test samples; nll: the negative
log-likelihood (NICE exact; DKEF with log Z from --samples importance samples
of N(0, 4I)); ood: the AUC of typicality-based detection of --ood-data against
--data, relative to the mean energy of --ref-data (the reference protocol:
reference from 10 training batches of 100, test batches of 2, 1000 each side).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadModel(args[0])
			if err != nil {
				return err
			}
			open := func(name string) (data.Dataset, error) {
				d, err := data.Open(name, data.OpenOptions{DataDir: dataDir})
				if err != nil {
					return nil, err
				}
				ts, err := data.ParseTransforms(transforms)
				if err != nil {
					return nil, err
				}
				return data.WithTransforms(d, ts, 0)
			}
			d, err := open(dataName)
			if err != nil {
				return err
			}
			out := map[string]any{"model": m.Spec().Kind, "data": d.Name(), "what": what}
			switch what {
			case "sm":
				e, ok := m.(models.Energy)
				if !ok {
					return fmt.Errorf("sm needs an energy model, got %s", m.Spec().Kind)
				}
				r, err := trainer.EvalSM(e, d, trainer.EvalSMOptions{Batches: batches, BatchSize: batchSize})
				if err != nil {
					return err
				}
				out["sm_loss"], out["std_err"], out["samples"] = r.Mean, r.StdErr, r.N
			case "nll":
				r, err := trainer.EvalNLL(m, d, trainer.EvalNLLOptions{NumSamples: samples})
				if err != nil {
					return err
				}
				out["nll"], out["bits_per_dim"], out["exact"], out["log_z"] = r.NLL, r.BitsPerDim, r.Exact, r.LogZ
			case "ood":
				e, ok := m.(models.Energy)
				if !ok {
					return fmt.Errorf("ood needs an energy model, got %s", m.Spec().Kind)
				}
				if oodName == "" {
					return fmt.Errorf("ood needs --ood-data")
				}
				o, err := open(oodName)
				if err != nil {
					return err
				}
				ref := d
				if refName != "" {
					if ref, err = open(refName); err != nil {
						return err
					}
				}
				auc, err := trainer.EvalOODAUC(e, ref, d, o, trainer.OODOptions{})
				if err != nil {
					return err
				}
				out["auc"], out["ood_data"] = auc, o.Name()
			default:
				return fmt.Errorf("unknown --what %q (valid: sm, nll, ood)", what)
			}
			return printResult(cmd, asJSON, kv(out))
		},
	}
	cmd.Flags().StringVar(&what, "what", "sm", "sm, nll or ood")
	cmd.Flags().StringVar(&dataName, "data", "mnist-test", "evaluation dataset (a data info name or path)")
	cmd.Flags().StringVar(&oodName, "ood-data", "", "out-of-distribution dataset for --what ood")
	cmd.Flags().StringVar(&refName, "ref-data", "", "ood: training data for the reference mean energy (default: --data); the reference protocol uses the training set, e.g. mnist")
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "where named datasets are read from")
	cmd.Flags().StringArrayVar(&transforms, "transform", nil, "transform applied to every sample (repeatable), e.g. pad:32")
	cmd.Flags().IntVar(&batches, "batches", 15, "sm: number of batches")
	cmd.Flags().IntVar(&batchSize, "batch-size", 100, "sm: batch size")
	cmd.Flags().IntVar(&samples, "samples", 1000000, "nll (dkef): importance samples for log Z")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newSampleCmd() *cobra.Command {
	var n int
	var scale float64
	var out string
	var seed uint64
	cmd := &cobra.Command{
		Use:   "sample CHECKPOINT",
		Short: "Draw samples (Langevin for energies, annealed Langevin for score networks) into a PNG grid",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := loadModel(args[0])
			if err != nil {
				return err
			}
			if n <= 0 || scale <= 0 {
				return fmt.Errorf("--n and --scale must be positive")
			}
			cfg := trainer.DefaultConfig()
			cfg.Seed, cfg.Samples = seed, trainer.SamplesConfig{N: n, Scale: scale}
			if err := writeSamples(m, cfg, out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	cmd.Flags().IntVar(&n, "n", 64, "number of samples")
	cmd.Flags().Float64Var(&scale, "scale", 1, "length of the sampling schedule relative to the reference (1 = full)")
	cmd.Flags().StringVar(&out, "out", "samples.png", "output PNG")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "sampler seed")
	return cmd
}

// kv prints a flat result map as "key: value" lines.
type kv map[string]any

func (m kv) String() string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for _, k := range keys {
		s += fmt.Sprintf("%-12s %v\n", k+":", m[k])
	}
	return s
}
