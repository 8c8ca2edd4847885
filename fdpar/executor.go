package fdpar

import ad "github.com/fdsm-go/fdsm/autodiff"

// Evaluate is a model evaluation on a batch of inputs [m, ...]: log p~ per
// row ([m]) or a score per row ([m, ...]). Rows must be independent.
type Evaluate func(x *ad.Var) *ad.Var

// Executor runs a plan's evaluations and returns the stacked values
// [Blocks()·n, ...] in block order. Implementations differ only in how the
// rows are computed; the values, and the gradients that flow back through
// them, are the same.
//
// Threading: an executor is used by one goroutine at a time (the tape's).
type Executor interface {
	Run(p Plan, x, v *ad.Var, f Evaluate) *ad.Var
}

// Batched evaluates all blocks in one call on the stacked input: the
// paper's "parallel" evaluation.
type Batched struct{}

// Run implements Executor.
func (Batched) Run(p Plan, x, v *ad.Var, f Evaluate) *ad.Var { return f(p.Inputs(x, v)) }

// Sequential evaluates each block with its own call and stacks the results:
// the paper's "non-parallel" evaluation, with the peak memory of one block.
type Sequential struct{}

// Run implements Executor.
func (Sequential) Run(p Plan, x, v *ad.Var, f Evaluate) *ad.Var {
	parts := make([]*ad.Var, p.Blocks())
	for i := range parts {
		parts[i] = f(p.Shifted(x, v, i))
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return ad.Concat(0, parts...)
}
