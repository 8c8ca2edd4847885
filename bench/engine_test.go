package bench

import (
	"math"
	"regexp"
	"strconv"
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

// TestEngineRatiosMatchPrintedTimes: each printed ratio is the quotient of
// the two times printed for it. Rounds where the median of per-round ratios
// (1.00) differs from the ratio of the median times (9.322 / 8.962 = 1.04)
// used to print "hand-written 8.962 ms (step / hand-written 1.00)" beside
// "step 9.322 ms".
func TestEngineRatiosMatchPrintedTimes(t *testing.T) {
	rounds := []engineRound{
		{step: 9.322, gemm: 7.0, hand: 9.3, conv: 100},
		{step: 9.0, gemm: 6.0, hand: 8.962, conv: 101},
		{step: 9.6, gemm: 7.5, hand: 8.9, conv: 99},
	}
	res := engineResult(rounds)
	res.Batch, res.Iters = 192, 20
	out := res.String()
	num := func(pattern string) float64 {
		t.Helper()
		m := regexp.MustCompile(pattern).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no match for %q in:\n%s", pattern, out)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	step := num(`(?m)^\s+step\s+([0-9.]+) ms`)
	for _, c := range []struct{ name, time, ratio string }{
		{"GEMMs", `(?m)^\s+GEMMs alone\s+([0-9.]+) ms`, `step / GEMMs\s+([0-9.]+)`},
		{"hand-written", `(?m)^\s+hand-written\s+([0-9.]+) ms`, `step / hand-written\s+([0-9.]+)`},
	} {
		other, ratio := num(c.time), num(c.ratio)
		if want := math.Round(step/other*100) / 100; ratio != want {
			t.Errorf("step / %s printed as %.2f beside %.3f / %.3f ms = %.2f:\n%s", c.name, ratio, step, other, want, out)
		}
	}
}
