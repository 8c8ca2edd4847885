package cuda

import "github.com/fdsm-go/fdsm/tensor"

// The optimizer steps stay on the device: a one-thread kernel reads the
// gate and advances the step count into a small float64 state, then the
// update kernel reads that state (a closed gate makes it return at once).

// stepState is the prep kernel's output: open, multiplier, step,
// 1 - β1^step, √(1 - β2^step).
const stepStateBytes = 5 * 8

func (b *Backend) AdamStep(p, grad, m, v, t, gate *tensor.Tensor, a tensor.AdamArgs) {
	tensor.CheckOptimizerStep("adam", p, grad, m, v, t, gate)
	ptrs := []Ptr{b.ptr(p), b.ptr(grad), b.ptr(m), b.ptr(v), b.ptr(t), b.ptr(gate)}
	sfx, n := suffix(p.DType()), int64(p.Numel())
	st := b.scratch(stepStateBytes)
	b.single("step_prep"+sfx, uint64(ptrs[4]), uint64(ptrs[5]), uint64(st.p), f64(a.Beta1), f64(a.Beta2))
	b.launch("adam"+sfx, n, uint64(ptrs[0]), uint64(ptrs[1]), uint64(ptrs[2]), uint64(ptrs[3]), uint64(st.p),
		uint64(n), f64(a.LR), f64(a.Beta1), f64(a.Beta2), f64(a.Eps), f64(a.WeightDecay), flag(a.Decoupled))
	b.free(st)
}

func (b *Backend) SGDStep(p, grad, buf, t, gate *tensor.Tensor, a tensor.SGDArgs) {
	if a.Momentum == 0 && buf == nil {
		buf = p // unused: validated as p's twin
	}
	tensor.CheckOptimizerStep("sgd", p, grad, buf, buf, t, gate)
	ptrs := []Ptr{b.ptr(p), b.ptr(grad), b.ptr(buf), b.ptr(t), b.ptr(gate)}
	sfx, n := suffix(p.DType()), int64(p.Numel())
	st := b.scratch(stepStateBytes)
	b.single("step_prep"+sfx, uint64(ptrs[3]), uint64(ptrs[4]), uint64(st.p), 0, 0)
	b.launch("sgd"+sfx, n, uint64(ptrs[0]), uint64(ptrs[1]), uint64(ptrs[2]), uint64(st.p), uint64(n),
		f64(a.LR), f64(a.Momentum), f64(a.WeightDecay))
	b.free(st)
}
