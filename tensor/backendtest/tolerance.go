package backendtest

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// unitRoundoff is u, the largest relative error of one correctly rounded
// operation: 2^-24 in float32, 2^-53 in float64.
func unitRoundoff(dt tensor.DType) float64 {
	if dt == tensor.Float32 {
		return 0x1p-24
	}
	return 0x1p-53
}

// Elementwise tolerance (Unary, Binary): |got - want| <= rel·|want| + abs,
// where want is the float64 reference rounded to dt.
//
//   - float32: rel = 4e-7. One ulp of a float32 is between 2^-24 and 2^-23
//     relative (6e-8 to 1.2e-7), so 4e-7 is at least 3.3 ulp anywhere. The CPU
//     kernels (internal/mathf, or float64 math rounded once) are within 1 ulp
//     of the correctly rounded result, i.e. 1.5 ulp of the exact value, and
//     CUDA documents at most 2 ulp for the float32 functions used here; the
//     rounding of the reference adds half an ulp. A wrong formula or a lost
//     tail (e.g. 1-sigmoid by cancellation) is off by far more.
//   - float32: abs = 2^-126, the smallest normal float32. Results in the
//     subnormal range carry fewer significant bits, so a relative bound means
//     nothing there; this also admits flush-to-zero, which device backends may
//     use, while anything of normal size is still held to rel.
//   - float64: rel = 1e-14 (about 45 ulp), loose enough for any faithful
//     libm (Go's math and CUDA's are within 1-2 ulp) and far tighter than any
//     algorithmic error; abs = 2^-1022 for the same reason as in float32.
func elemTol(dt tensor.DType) (rel, abs float64) {
	if dt == tensor.Float32 {
		return 4e-7, 0x1p-126
	}
	return 1e-14, 0x1p-1022
}

// powTol is the elementwise tolerance for OpPow: float32 powf is allowed
// 1e-6 relative (about 8 ulp), since CUDA documents powf at up to 4 ulp and
// the reference adds half an ulp; float64 as elemTol.
func powTol(dt tensor.DType) (rel, abs float64) {
	if dt == tensor.Float32 {
		return 1e-6, 0x1p-126
	}
	return elemTol(dt)
}

// sumTol is the accepted error of a computed sum of at most `terms` products
// whose absolute values add up to mag (Gemm, ReduceTo sums, convolutions,
// pooling). Any summation order (sequential, pairwise, blocked, with or
// without FMA) of L terms is off by at most about L·u·mag (Higham, Accuracy
// and Stability of Numerical Algorithms, §3.1); +2 covers rounding the
// products and the final result to dt, and the factor 2 is headroom. This is
// a worst-case bound, so every correct backend passes, and it is still far
// below what a wrong, missing or doubled term costs (about mag/L). Note that
// it rules out reduced-precision float32 GEMMs (TF32, bf16): float32 means
// float32 arithmetic.
func sumTol(dt tensor.DType, terms int, mag float64) float64 {
	return 2 * float64(terms+2) * unitRoundoff(dt) * mag
}

// same reports whether got and want are the identical value (NaN matches
// NaN; +0 matches -0).
func same(got, want float64) bool {
	return got == want || (math.IsNaN(got) && math.IsNaN(want))
}

// maxReports bounds the mismatches listed per check.
const maxReports = 6

// checkClose fails for every i where got[i] is neither the same as want[i]
// nor within tol(i) of it. shape (of the checked tensor) turns flat indices
// into multi-indices in the messages; nil prints flat indices.
func checkClose(t *testing.T, what string, shape tensor.Shape, got, want []float64, tol func(i int) float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d values, want %d", what, len(got), len(want))
		return
	}
	var msgs []string
	bad := 0
	for i := range want {
		g, w := got[i], want[i]
		if same(g, w) {
			continue
		}
		tl := tol(i)
		if d := math.Abs(g - w); d <= tl { // false for NaN and for mismatched infinities
			continue
		}
		bad++
		if len(msgs) < maxReports {
			msgs = append(msgs, fmt.Sprintf("  at %s: got %.17g, want %.17g (diff %.3g, tol %.3g)",
				formatIndex(i, shape), g, w, math.Abs(g-w), tl))
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d elements wrong:\n%s", what, bad, len(want), strings.Join(msgs, "\n"))
	}
}

// checkExact requires bit-for-bit equal values (data movement, comparisons,
// max/min).
func checkExact(t *testing.T, what string, shape tensor.Shape, got, want []float64) {
	t.Helper()
	checkClose(t, what, shape, got, want, func(int) float64 { return -1 })
}

// checkElem applies the elementwise tolerance (rel, abs) to want.
func checkElem(t *testing.T, what string, shape tensor.Shape, got, want []float64, rel, abs float64) {
	t.Helper()
	checkClose(t, what, shape, got, want, func(i int) float64 { return rel*math.Abs(want[i]) + abs })
}

// checkSum applies sumTol with the given term count to each element, mag
// being the reference sum of absolute values of its terms.
func checkSum(t *testing.T, what string, dt tensor.DType, shape tensor.Shape, got, want, mag []float64, terms int) {
	t.Helper()
	checkClose(t, what, shape, got, want, func(i int) float64 { return sumTol(dt, terms, mag[i]) })
}

// formatIndex writes flat index i as a multi-index of shape, e.g. "[1 0 2]".
func formatIndex(i int, shape tensor.Shape) string {
	if shape == nil || shape.Numel() == 0 || len(shape) == 0 {
		return fmt.Sprintf("[%d]", i)
	}
	idx := make([]int, len(shape))
	unravel(i, shape, idx)
	return fmt.Sprint(idx)
}
