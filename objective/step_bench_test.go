package objective_test

import (
	"testing"

	"github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/objective"
	"github.com/fdsm-go/fdsm/tensor"
)

// BenchmarkMLPStep times one training step (loss + backward) per method on
// the objectives benchmark's MLP energy (784-512-512, batch 64, float32);
// `fdsm bench objectives` is the side-by-side measurement, this one is for
// profiling a single method (-cpuprofile).
func BenchmarkMLPStep(b *testing.B) {
	for _, method := range []string{"ssm", "fd-ssm", "dsm", "fd-dsm"} {
		b.Run(method, func(b *testing.B) {
			be := tensor.NewCPU()
			m, err := models.Build(models.Spec{Kind: "mlp", Options: map[string]any{}}, be, tensor.Float32, 1)
			if err != nil {
				b.Fatal(err)
			}
			rng := tensor.NewRNG(3)
			x := be.Empty(tensor.Float32, append([]int{64}, m.InputShape()...)...)
			be.Random(x, tensor.Uniform(0, 1), rng)
			obj, err := objective.New(method, objective.Options{Eps: 0.05, Sigma: 0.1})
			if err != nil {
				b.Fatal(err)
			}
			tp := autodiff.NewTape(be)
			for b.Loop() {
				r, err := obj.Eval(tp, m, objective.Batch{X: x}, rng)
				if err != nil {
					b.Fatal(err)
				}
				autodiff.Backward(r.Loss, m.Params())
				tp.Reset()
			}
		})
	}
}
