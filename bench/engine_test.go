package bench

import (
	"math"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

func TestEngineSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the full-size benchmark once")
	}
	r := Engine(EngineOptions{Rounds: 1, Iters: 1, Warmup: 1})
	if r.StepMs <= 0 || r.GemmMs <= 0 || r.ConvMs <= 0 || r.StepOverGemm <= 0 {
		t.Fatalf("non-positive timings: %+v", r)
	}
}

func BenchmarkMLPStep(b *testing.B) {
	m := newMLPBench(cpuBackend(), 192)
	m.step()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.step()
	}
}

func BenchmarkMLPGemms(b *testing.B) {
	m := newMLPBench(cpuBackend(), 192)
	m.gemms()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.gemms()
	}
}

func BenchmarkConvBlock(b *testing.B) {
	c := newConvBench(cpuBackend())
	c.step()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.step()
	}
	b.ReportMetric(c.flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// TestHandwrittenMatchesAutodiff: the hand-written yardstick computes the
// same gradients as autodiff (so the timing comparison is like for like).
// Both sum the same float32 products, possibly in a different order inside
// BLAS and reductions: 1e-4 relative to the largest entry is ample.
func TestHandwrittenMatchesAutodiff(t *testing.T) {
	be := cpuBackend()
	m := newMLPBench(be, 16)
	h := newHandMLP(m)
	h.step()
	m.step() // accumulates into Param.Grad
	for i := 0; i < 3; i++ {
		for _, pair := range [][2]*tensor.Tensor{{m.params[2*i].Grad, h.dW[i]}, {m.params[2*i+1].Grad, h.dB[i]}} {
			got, want := pair[0].ToFloat64s(), pair[1].ToFloat64s()
			scale := 0.0
			for _, v := range want {
				scale = math.Max(scale, math.Abs(v))
			}
			for j := range want {
				if math.Abs(got[j]-want[j]) > 1e-4*scale {
					t.Fatalf("layer %d element %d: autodiff %g, hand-written %g", i, j, got[j], want[j])
				}
			}
		}
	}
}

func BenchmarkMLPHandwritten(b *testing.B) {
	h := newHandMLP(newMLPBench(cpuBackend(), 192))
	h.step()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.step()
	}
}
