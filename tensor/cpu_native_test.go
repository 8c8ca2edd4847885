//go:build cgo && !noopenblas

package tensor

import (
	"math"
	"testing"
)

// ulpDiff returns the distance in float32 ulps between got and the float64
// reference rounded to float32 (0 when both are the same NaN/Inf).
func ulpDiff(got float32, ref float64) float64 {
	want := float32(ref)
	if got == want || (got != got && want != want) {
		return 0
	}
	if math.IsInf(float64(want), 0) || math.IsInf(float64(got), 0) || got != got || want != want {
		return math.Inf(1)
	}
	ulp := math.Abs(float64(math.Nextafter32(want, float32(math.Inf(1)))) - float64(want))
	if want == 0 {
		ulp = float64(math.SmallestNonzeroFloat32)
	}
	return math.Abs(float64(got)-ref) / ulp
}

// TestNativeKernelsULP sweeps float32 inputs (every 997th bit pattern of
// [-120, 120] plus special values) through both native kernel sets and
// compares with float64 math rounded once: the kernels evaluate in float64
// with polynomial truncation below 1e-12 relative, so after the final
// rounding they are within 1 ulp of the correctly rounded result.
func TestNativeKernelsULP(t *testing.T) {
	refs := map[UnaryOp]func(float64) float64{
		OpExp: math.Exp, OpSigmoid: sigmoid64, OpSoftplus: softplus64, OpTanh: math.Tanh, OpELU: elu64, OpExpm1: math.Expm1,
	}
	stride := uint32(997)
	if testing.Short() {
		stride = 9973
	}
	xs := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()),
		1e-30, -1e-30, 1e-7, -1e-7, 0.35, -0.35, 88.7, 88.8, -103.9, -104.1, 200, -200}
	lim := math.Float32bits(120)
	for b := uint32(0); b < lim; b += stride {
		f := math.Float32frombits(b)
		xs = append(xs, f, -f)
	}
	got := make([]float32, len(xs))
	for op, ref := range refs {
		for _, avx2 := range []bool{false, true} {
			nativeUnary32Variant(avx2, op, got, xs)
			worst, at := 0.0, float32(0)
			for i, x := range xs {
				d := ulpDiff(got[i], ref(float64(x)))
				if math.IsNaN(float64(x)) && got[i] == got[i] {
					d = math.Inf(1)
				}
				if d > worst {
					worst, at = d, x
				}
			}
			if worst > 1 {
				t.Errorf("%s (avx2=%v): %.3g ulp at x=%g (got %g, want %g)", op, avx2, worst, at,
					got[indexOf(xs, at)], float32(ref(float64(at))))
			}
		}
	}
}

func indexOf(xs []float32, x float32) int {
	for i, v := range xs {
		if v == x || (v != v && x != x) {
			return i
		}
	}
	return 0
}
