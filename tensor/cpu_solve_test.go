package tensor

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// solveF64 runs Solve on float64 values and returns x as float64s.
func solveF64(t *testing.T, c *CPU, dt DType, n int, a []float64, bShape Shape, b []float64) ([]float64, error) {
	t.Helper()
	at := FromFloat64s(c, dt, Shape{n, n}, a)
	bt := FromFloat64s(c, dt, bShape, b)
	x := c.Empty(dt, bShape...)
	err := c.Solve(x, at, bt)
	return x.ToFloat64s(), err
}

// diagDominant returns a random n x n matrix whose diagonal entries exceed
// the sum of the other magnitudes in their row and column, so it is
// comfortably nonsingular (condition number of order 1) and GEPP has pivot
// growth at most 2.
func diagDominant(rng *rand.Rand, n int) []float64 {
	a := make([]float64, n*n)
	for i := range a {
		a[i] = 2*rng.Float64() - 1
	}
	for i := 0; i < n; i++ {
		sign := 1.0
		if rng.IntN(2) == 0 {
			sign = -1
		}
		a[i*n+i] = sign * (2*float64(n) + rng.Float64())
	}
	return a
}

// relResidual returns ||a x - b||∞ / (||a||∞ ||x||∞) with a [n,n], x and b
// [n,k], all in float64.
func relResidual(a, x, b []float64, n, k int) float64 {
	var rmax, anorm, xmax float64
	for i := 0; i < n; i++ {
		rowSum := 0.0
		for j := 0; j < n; j++ {
			rowSum += math.Abs(a[i*n+j])
		}
		anorm = max(anorm, rowSum)
		for c := 0; c < k; c++ {
			s := -b[i*k+c]
			for j := 0; j < n; j++ {
				s += a[i*n+j] * x[j*k+c]
			}
			rmax = max(rmax, math.Abs(s))
		}
	}
	for _, v := range x {
		xmax = max(xmax, math.Abs(v))
	}
	return rmax / (anorm * xmax)
}

// roundTo returns v as the dtype stores it.
func roundTo(dt DType, v []float64) []float64 {
	out := append([]float64(nil), v...)
	if dt == Float32 {
		for i := range out {
			out[i] = float64(float32(out[i]))
		}
	}
	return out
}

// TestSolveResidual checks random well-conditioned systems through their
// normwise relative residual.
//
// Float64: GEPP is backward stable, the computed x solves (a+δa) x = b with
// ||δa||∞ ≤ γ·n·eps·g·||a||∞ for a small constant γ and pivot growth g ≤ 2
// here, so ||a x - b||∞ = ||δa x||∞ ≤ γ·n·eps·g·||a||∞·||x||∞. For n ≤ 300 that
// is of order 300·2.2e-16·2 ≈ 1.3e-13 even before the bound's usual
// pessimism, so 1e-12 passes with room yet fails on any real algorithm bug
// (a wrong pivot swap or update gives residuals of order 1).
//
// Float32: the factorisation is still float64, so the only loss is rounding
// x to float32, a relative change of at most 2^-24 ≈ 6e-8 per entry; the
// residual is then at most about 6e-8·||a||∞·||x||∞, well within 1e-5.
func TestSolveResidual(t *testing.T) {
	c := NewCPU()
	rng := rand.New(rand.NewPCG(7, 8))
	sizes := []int{1, 2, 3, 5, 17, 64, 300} // 300: the elimination runs in parallel
	for _, dt := range layoutDTypes {
		tol := 1e-12
		if dt == Float32 {
			tol = 1e-5
		}
		for _, n := range sizes {
			for _, k := range []int{0, 1, 3} { // k == 0 means b of shape [n]
				a := roundTo(dt, diagDominant(rng, n))
				kk, bShape := k, Shape{n, k}
				if k == 0 {
					kk, bShape = 1, Shape{n}
				}
				b := make([]float64, n*kk)
				for i := range b {
					b[i] = 2*rng.Float64() - 1
				}
				b = roundTo(dt, b)
				x, err := solveF64(t, c, dt, n, a, bShape, b)
				if err != nil {
					t.Fatalf("%s n=%d b%v: %v", dt, n, bShape, err)
				}
				if r := relResidual(a, x, b, n, kk); !(r < tol) {
					t.Errorf("%s n=%d b%v: relative residual %.3g, want < %g", dt, n, bShape, r, tol)
				}
			}
		}
	}
}

func closeTo(t *testing.T, what string, got, want []float64, rtol float64) {
	t.Helper()
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	for i := range want {
		if d := math.Abs(got[i] - want[i]); !(d <= rtol*scale) {
			t.Fatalf("%s: x[%d] = %v, want %v (|diff| %.3g > %.3g)", what, i, got[i], want[i], d, rtol*scale)
		}
	}
}

// TestSolveCramer compares 2x2 systems with Cramer's rule. The matrices
// have |det| ≥ 0.25·max|a|², so their condition number is at most about 16
// and both formulas agree to a few eps (float64) or to float32 rounding.
func TestSolveCramer(t *testing.T) {
	c := NewCPU()
	rng := rand.New(rand.NewPCG(9, 10))
	for _, dt := range layoutDTypes {
		rtol := 1e-14
		if dt == Float32 {
			rtol = 1e-6
		}
		for trial := 0; trial < 200; trial++ {
			a := roundTo(dt, []float64{rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64(), rng.NormFloat64()})
			m := max(math.Abs(a[0]), math.Abs(a[1]), math.Abs(a[2]), math.Abs(a[3]))
			det := a[0]*a[3] - a[1]*a[2]
			if math.Abs(det) < 0.25*m*m {
				continue
			}
			b := roundTo(dt, []float64{rng.NormFloat64(), rng.NormFloat64()})
			want := []float64{(b[0]*a[3] - a[1]*b[1]) / det, (a[0]*b[1] - b[0]*a[2]) / det}
			x, err := solveF64(t, c, dt, 2, a, Shape{2}, b)
			if err != nil {
				t.Fatal(err)
			}
			closeTo(t, fmt.Sprintf("%s cramer a=%v b=%v", dt, a, b), x, want, rtol)
		}
	}
}

// TestSolvePermutation uses permutation matrices with a zero in every
// leading position, which elimination without row exchanges cannot handle;
// with pivoting the result is exact.
func TestSolvePermutation(t *testing.T) {
	c := NewCPU()
	for _, dt := range layoutDTypes {
		// a e_{p[i]} = e_i, i.e. row i has its 1 in column p[i]: x[p[i]] = b[i].
		for _, p := range [][]int{{1, 0}, {1, 2, 0}, {3, 2, 0, 1}} {
			n := len(p)
			a := make([]float64, n*n)
			b := make([]float64, n)
			want := make([]float64, n)
			for i, j := range p {
				a[i*n+j] = 1
				b[i] = float64(10*i + 1)
				want[j] = b[i]
			}
			x, err := solveF64(t, c, dt, n, a, Shape{n}, b)
			if err != nil {
				t.Fatalf("%s permutation %v: %v", dt, p, err)
			}
			equalFloats(t, fmt.Sprintf("%s permutation %v", dt, p), x, want)
		}
	}
}

func binom(n, k int) float64 {
	r := 1.0
	for i := 1; i <= k; i++ {
		r = r * float64(n-k+i) / float64(i)
	}
	return math.Round(r)
}

// TestSolveHilbert solves H x = I for the 5x5 Hilbert matrix H[i][j] =
// 1/(i+j+1), whose inverse has the known integer entries
// (-1)^(i+j) (i+j+1) C(n+i, n-j-1) C(n+j, n-i-1) C(i+j, i)² (0-based).
// cond(H5) ≈ 4.8e5, and the entries of H are rounded on input, so the
// computed inverse can be off by about cond·eps ≈ 1e-10 relative; 1e-9
// leaves room. (Float32 is not tested here: rounding H to float32 changes
// its inverse by about cond·6e-8 ≈ 3%, which tests the data, not Solve.)
func TestSolveHilbert(t *testing.T) {
	c := NewCPU()
	const n = 5
	h := make([]float64, n*n)
	eye := make([]float64, n*n)
	inv := make([]float64, n*n)
	for i := 0; i < n; i++ {
		eye[i*n+i] = 1
		for j := 0; j < n; j++ {
			h[i*n+j] = 1 / float64(i+j+1)
			s := 1.0
			if (i+j)%2 == 1 {
				s = -1
			}
			bij := binom(i+j, i)
			inv[i*n+j] = s * float64(i+j+1) * binom(n+i, n-j-1) * binom(n+j, n-i-1) * bij * bij
		}
	}
	if inv[0] != 25 || inv[1] != -300 || inv[n*n-1] != 44100 {
		t.Fatalf("bad closed form: %v", inv)
	}
	x, err := solveF64(t, c, Float64, n, h, Shape{n, n}, eye)
	if err != nil {
		t.Fatal(err)
	}
	closeTo(t, "inverse of Hilbert 5", x, inv, 1e-9)
}

func TestSolveSingular(t *testing.T) {
	c := NewCPU()
	eps := 0x1p-52
	cases := []struct {
		name string
		n    int
		a    []float64
	}{
		{"zero", 2, []float64{0, 0, 0, 0}},
		{"rank 1", 2, []float64{1, 2, 2, 4}},
		{"zero column", 3, []float64{1, 0, 2, 3, 0, 4, 5, 0, 6}},
		// Singular, but rounding leaves a last pivot of order eps, not 0.
		{"rank 2, 1..9", 3, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		// Nonsingular in exact arithmetic, with pivot eps < 2·eps·max|a|.
		{"near singular", 2, []float64{1, 1, 1, 1 + eps}},
		{"tiny scale, rank 1", 2, []float64{1e-200, 2e-200, 2e-200, 4e-200}},
		{"NaN", 2, []float64{1, math.NaN(), 0, 1}},
		{"Inf", 2, []float64{1, 0, 0, math.Inf(1)}},
	}
	for _, dt := range layoutDTypes {
		for _, tc := range cases {
			if dt == Float32 && (tc.name == "near singular" || tc.name == "tiny scale, rank 1") {
				continue // not representable in float32
			}
			a := FromFloat64s(c, dt, Shape{tc.n, tc.n}, tc.a)
			b := c.Zeros(dt, tc.n)
			c.Fill(b, 1)
			err := c.Solve(c.Empty(dt, tc.n), a, b)
			if !errors.Is(err, ErrSingular) {
				t.Errorf("%s %s: err = %v, want ErrSingular", dt, tc.name, err)
			}
		}
	}
}

// TestSolveScale checks that the singularity threshold is relative: badly
// scaled but well-conditioned systems solve, and a pivot just above the
// threshold is accepted.
func TestSolveScale(t *testing.T) {
	c := NewCPU()
	cases := []struct {
		name string
		a, b []float64
		want []float64
	}{
		{"1e-200 identity", []float64{1e-200, 0, 0, 1e-200}, []float64{1e-200, 2e-200}, []float64{1, 2}},
		{"1e200 scale", []float64{2e200, 1e200, 1e200, 3e200}, []float64{3e200, 4e200}, []float64{1, 1}},
		{"pivot 2^-40", []float64{1, 1, 1, 1 + 0x1p-40}, []float64{2, 2 + 0x1p-40}, []float64{1, 1}},
	}
	for _, tc := range cases {
		x, err := solveF64(t, c, Float64, 2, tc.a, Shape{2}, tc.b)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		closeTo(t, tc.name, x, tc.want, 1e-12)
	}
}

// TestSolveInputs checks that a and b are left alone, that x may be b
// itself, and the degenerate sizes.
func TestSolveInputs(t *testing.T) {
	c := NewCPU()
	rng := rand.New(rand.NewPCG(11, 12))
	for _, dt := range layoutDTypes {
		const n, k = 6, 2
		av := roundTo(dt, diagDominant(rng, n))
		bv := make([]float64, n*k)
		for i := range bv {
			bv[i] = rng.NormFloat64()
		}
		bv = roundTo(dt, bv)
		a := FromFloat64s(c, dt, Shape{n, n}, av)
		b := FromFloat64s(c, dt, Shape{n, k}, bv)
		x := c.Empty(dt, n, k)
		if err := c.Solve(x, a, b); err != nil {
			t.Fatal(err)
		}
		equalFloats(t, "a after solve", a.ToFloat64s(), av)
		equalFloats(t, "b after solve", b.ToFloat64s(), bv)
		// In place: x is b.
		if err := c.Solve(b, a, b); err != nil {
			t.Fatal(err)
		}
		equalFloats(t, "solve into b", b.ToFloat64s(), x.ToFloat64s())

		// n == 0 and k == 0.
		if err := c.Solve(c.Empty(dt, 0), c.Empty(dt, 0, 0), c.Empty(dt, 0)); err != nil {
			t.Errorf("n=0: %v", err)
		}
		if err := c.Solve(c.Empty(dt, n, 0), a, c.Empty(dt, n, 0)); err != nil {
			t.Errorf("k=0: %v", err)
		}
	}
}

func TestSolvePanics(t *testing.T) {
	c := NewCPU()
	a := c.Zeros(Float64, 3, 3)
	b := c.Zeros(Float64, 3, 2)
	mustPanic(t, []string{"a[3 2]", "b[3 2]"}, func() { c.Solve(c.Zeros(Float64, 3, 2), c.Zeros(Float64, 3, 2), b) })
	mustPanic(t, []string{"a[9]"}, func() { c.Solve(c.Zeros(Float64, 3, 2), c.Zeros(Float64, 9), b) })
	mustPanic(t, []string{"b[4 2]"}, func() { c.Solve(c.Zeros(Float64, 4, 2), a, c.Zeros(Float64, 4, 2)) })
	mustPanic(t, []string{"b[3 2 1]"}, func() { c.Solve(c.Zeros(Float64, 3, 2, 1), a, c.Zeros(Float64, 3, 2, 1)) })
	mustPanic(t, []string{"x[3 1]", "b[3]"}, func() { c.Solve(c.Zeros(Float64, 3, 1), a, c.Zeros(Float64, 3)) })
	mustPanic(t, []string{"solve mixes float64 and float32"}, func() { c.Solve(c.Zeros(Float64, 3, 2), a, c.Zeros(Float32, 3, 2)) })
}
