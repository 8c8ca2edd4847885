package trainer

import (
	"fmt"
	"math"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// ValidationConfig evaluates the training objective on a validation set
// every Every steps (0: never) over Batches batches, keeps the best
// parameters as the checkpoint "best", and stops the run when Patience
// evaluations in a row bring no improvement (0: never stop early) — the
// reference's early stopping for DKEF (patience 200).
type ValidationConfig struct {
	Data     string `json:"data"` // a data.Open name or path; empty: no validation
	Every    int    `json:"every"`
	Batches  int    `json:"batches"`
	Patience int    `json:"patience"`
}

// validator holds the validation set and the early-stopping state.
type validator struct {
	cfg      ValidationConfig
	ds       data.Dataset
	best     float64
	bad      int
	batch    int
	seed     uint64
	disabled bool
}

func newValidator(cfg Config, m models.Model) (*validator, error) {
	v := &validator{cfg: cfg.Validation, best: math.Inf(1), batch: cfg.Batch, seed: cfg.Seed}
	if cfg.Validation.Data == "" || cfg.Validation.Every <= 0 {
		v.disabled = true
		return v, nil
	}
	ds, err := data.Open(cfg.Validation.Data, data.OpenOptions{DataDir: cfg.Data.Dir, DirHint: DataDirHint, Seed: cfg.Seed})
	if err != nil {
		return nil, fmt.Errorf("validation.data: %w", err)
	}
	// The training transforms apply to the validation samples too (MNIST
	// padded to 32x32, NICE's logit, ...).
	ts, err := data.ParseTransforms(cfg.Data.Transforms)
	if err != nil {
		return nil, fmt.Errorf("data.transforms: %w", err)
	}
	if ds, err = data.WithTransforms(ds, ts, cfg.Seed); err != nil {
		return nil, fmt.Errorf("validation.data: %w", err)
	}
	if data.Numel(ds) != tensor.Shape(m.InputShape()).Numel() {
		return nil, fmt.Errorf("validation data %s has samples of shape %v; the model takes %v", ds.Name(), ds.Shape(), m.InputShape())
	}
	v.ds = ds
	return v, nil
}

// due reports whether step (just completed) is a validation step.
func (v *validator) due(step int) bool { return !v.disabled && step%v.cfg.Every == 0 }

// evaluate returns the mean objective loss over the validation batches, with
// fixed randomness (the same directions and noise at every evaluation) so
// evaluations compare.
func (v *validator) evaluate(tp *autodiff.Tape, m models.Model, obj objective.Objective, be tensor.Backend) (float64, error) {
	n := v.ds.Len()
	per := data.Numel(v.ds)
	batches := max(1, v.cfg.Batches)
	rng := tensor.NewRNG(v.seed ^ 0x7a11d)
	total, count := 0.0, 0
	buf := make([]float32, per)
	for b := 0; b < batches; b++ {
		lo := (b * v.batch) % n
		size := min(v.batch, n-lo)
		vals := make([]float64, 0, size*per)
		for i := lo; i < lo+size; i++ {
			if _, err := v.ds.Get(i, buf); err != nil {
				return 0, err
			}
			for _, x := range buf {
				vals = append(vals, float64(x))
			}
		}
		// DKEF is evaluated with the α stored from its training batches.
		x := tp.Owned(tensor.FromFloat64s(be, m.DType(), append([]int{size}, m.InputShape()...), vals)).Value()
		if dp, ok := m.(models.DataProjector); ok {
			x = dp.Project(tp, x)
		}
		r, err := obj.Eval(tp, m, objective.Batch{X: x}, rng)
		if err != nil {
			return 0, err
		}
		total += r.Loss.Item()
		count++
		tp.Reset()
	}
	return total / float64(count), nil
}

// record updates the early-stopping state; improved reports a new best and
// stop that patience is exhausted.
func (v *validator) record(loss float64) (improved, stop bool) {
	if loss < v.best {
		v.best, v.bad = loss, 0
		return true, false
	}
	v.bad++
	return false, v.cfg.Patience > 0 && v.bad >= v.cfg.Patience
}

// state returns the early-stopping state for a checkpoint.
func (v *validator) state() (*float64, int) {
	if math.IsInf(v.best, 1) {
		return nil, v.bad
	}
	b := v.best
	return &b, v.bad
}

// restore sets the early-stopping state from a checkpoint.
func (v *validator) restore(best *float64, bad int) {
	v.best, v.bad = math.Inf(1), bad
	if best != nil {
		v.best = *best
	}
}
