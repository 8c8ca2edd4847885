package objective_test

import (
	"testing"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// TestStepMACs counts the GEMM multiply-accumulates of one training step
// (loss + backward into the weights) of an MLP energy d-h1-h2-1 and compares
// them with the closed forms below, so the engine is shown to do exactly the
// work each method's math needs: no duplicated forward, no input gradient
// nobody asked for. These counts bound the speedup any engine can show when
// its steps are GEMM time (docs/benchmarks.md).
//
// With r(B) = B·(d·h1 + h1·h2 + h2) the MACs of one forward pass over B rows
// and s(B) = B·(h1·h2 + h2) the same without the first layer:
//   - FD-SSM, 3B stacked rows: forward r, weight gradients r, input gradients
//     s (x is no parameter, so the first layer's is skipped): 2r(3B) + s(3B).
//   - FD-DSM, 2B rows: 2r(2B) + s(2B).
//   - DSM, B rows: forward r; the input gradient g = ∇x E is r again; the
//     backward through g: each of g's GEMMs (δ·Wᵀ) needs both operand
//     gradients (2r) and each forward GEMM its weight gradient (r) and, but
//     for the first layer, its input gradient (s): 5r(B) + s(B); less three
//     B·h2 GEMMs of the linear output layer, where g does not depend on the
//     output pre-activation (no gradient flows into it, so neither of the
//     forward GEMM's operand gradients is needed) nor on the constant seed
//     of ∇x E: 5r(B) + s(B) - 3B·h2.
func TestStepMACs(t *testing.T) {
	const d, h1, h2, b = 7, 5, 4, 3
	r := func(n int64) int64 { return n * (d*h1 + h1*h2 + h2) }
	s := func(n int64) int64 { return n * (h1*h2 + h2) }
	want := map[string]int64{
		"fd-ssm": 2*r(3*b) + s(3*b),
		"fd-dsm": 2*r(2*b) + s(2*b),
		"dsm":    5*r(b) + s(b) - 3*b*h2,
	}
	for method, macs := range want {
		for _, parallel := range []bool{true, false} {
			be := tensor.NewCounting(tensor.NewCPU())
			m, err := models.Build(models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": d, "hidden": []int{h1, h2}}}, be, tensor.Float64, 1)
			if err != nil {
				t.Fatal(err)
			}
			rng := tensor.NewRNG(1)
			x := be.Empty(tensor.Float64, b, d)
			be.Random(x, tensor.Normal(0, 1), rng)
			obj, err := objective.New(method, objective.Options{Eps: 0.1, Sigma: 0.1, Sequential: !parallel})
			if err != nil {
				t.Fatal(err)
			}
			tp := autodiff.NewTape(be)
			be.Reset()
			res, err := obj.Eval(tp, m, objective.Batch{X: x}, rng)
			if err != nil {
				t.Fatal(err)
			}
			autodiff.Backward(res.Loss, m.Params())
			if got := be.Counts().MACs; got != macs {
				t.Errorf("%s (parallel %v): %d MACs per step, want %d", method, parallel, got, macs)
			}
		}
	}
}
