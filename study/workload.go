package study

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/fdpar"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/trainer"
)

// countBatch is the batch of the one step WorkloadOf counts; FLOPs are
// linear in the batch, so a small one keeps the count fast.
const countBatch = 4

// WorkloadOf describes a training config to the cost model: its parameters
// in the reducer's buckets (trainer's default sizes), and the arithmetic of
// one step counted on a counting CPU backend (tensor.Counting: 2 FLOPs per
// multiply-accumulate of GEMMs and convolutions; elementwise work is left
// out, which undercounts small models).
func WorkloadOf(path string) (Workload, error) {
	cfg, err := trainer.LoadConfig(path)
	if err != nil {
		return Workload{}, err
	}
	be := tensor.NewCounting(tensor.NewCPU())
	m, err := models.Build(cfg.ModelSpec(), be, tensor.Float32, 1)
	if err != nil {
		return Workload{}, fmt.Errorf("%s: model: %w", path, err)
	}
	w := Workload{Name: strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)), Batch: cfg.Batch}
	var sizes []int
	for _, p := range m.Params() {
		sizes = append(sizes, 4*p.Value.Numel()) // float32 gradients
		w.Params += p.Value.Numel()
	}
	w.Buckets = Buckets(sizes, trainer.DefaultFirstBucketBytes, trainer.DefaultBucketBytes)
	opts := cfg.ObjectiveOptions()
	rec := &blockCounter{}
	opts.Executor = rec
	obj, err := objective.New(cfg.Objective.Name, opts)
	if err != nil {
		return Workload{}, fmt.Errorf("%s: %w", path, err)
	}
	tp := autodiff.NewTape(be)
	x := be.Empty(tensor.Float32, append([]int{countBatch}, m.InputShape()...)...)
	rng := tensor.NewRNG(1)
	be.Random(x, tensor.Uniform(0, 1), rng)
	be.Reset()
	r, err := obj.Eval(tp, m, objective.Batch{X: x}, rng)
	if err != nil {
		return Workload{}, fmt.Errorf("%s: count one step: %w", path, err)
	}
	autodiff.Backward(r.Loss, m.Params())
	w.FLOPsPerSample = float64(be.Counts().FLOPs()) / countBatch
	w.FDBlocks = rec.blocks
	return w, nil
}

// blockCounter evaluates a plan in one batched call, as the default
// executor does, and remembers how many blocks it had.
type blockCounter struct{ blocks int }

func (c *blockCounter) Run(p fdpar.Plan, x, v *autodiff.Var, f fdpar.Evaluate) *autodiff.Var {
	c.blocks = max(c.blocks, p.Blocks())
	return fdpar.Batched{}.Run(p, x, v, f)
}
