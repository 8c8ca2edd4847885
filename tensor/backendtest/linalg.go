package backendtest

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// gemmCase is one Gemm geometry: op(a) is m×k, op(b) k×n, c m×n; batch > 0
// makes c rank 3 with that many entries, and sharedA/sharedB keep a or b
// rank 2 (shared by every entry).
type gemmCase struct {
	m, n, k          int
	batch            int
	sharedA, sharedB bool
}

func (g gemmCase) shapes(tA, tB bool) (as, bs, cs tensor.Shape) {
	as, bs, cs = tensor.Shape{g.m, g.k}, tensor.Shape{g.k, g.n}, tensor.Shape{g.m, g.n}
	if tA {
		as = tensor.Shape{g.k, g.m}
	}
	if tB {
		bs = tensor.Shape{g.n, g.k}
	}
	if g.batch > 0 {
		cs = append(tensor.Shape{g.batch}, cs...)
		if !g.sharedA {
			as = append(tensor.Shape{g.batch}, as...)
		}
		if !g.sharedB {
			bs = append(tensor.Shape{g.batch}, bs...)
		}
	}
	return
}

func (g gemmCase) String() string {
	s := fmt.Sprintf("%dx%dx%d", g.m, g.n, g.k)
	if g.batch > 0 {
		s = fmt.Sprintf("batch%d_%s", g.batch, s)
		if g.sharedA {
			s += "_sharedA"
		}
		if g.sharedB {
			s += "_sharedB"
		}
	}
	return s
}

// Gemm: c = alpha·op(a)·op(b) + beta·c against refGemm, with the sumTol
// bound for k terms (the beta·c term is covered by its +2).
func testGemm(t *testing.T, b tensor.Backend, dt tensor.DType) {
	plain := []gemmCase{
		{m: 1, n: 1, k: 1},
		{m: 7, n: 13, k: 5},
		{m: 4, n: 3, k: 0}, // zero k: c = beta·c
		{m: 1, n: 9, k: 4}, // row vector times matrix
		{m: 6, n: 1, k: 3}, // matrix times column vector
		{m: 16, n: 9, k: 33},
		{m: 33, n: 47, k: 65},
	}
	batched := []gemmCase{
		{m: 4, n: 5, k: 6, batch: 3},
		{m: 1, n: 7, k: 3, batch: 2},
		{m: 4, n: 5, k: 6, batch: 3, sharedA: true},
		{m: 5, n: 2, k: 7, batch: 4, sharedB: true},
		{m: 3, n: 4, k: 0, batch: 2},
		{m: 2, n: 3, k: 4, batch: 1},
	}
	// beta = 0 runs with c full of NaN: it must be overwritten, not scaled.
	ab := [][2]float64{{1, 0}, {-0.75, 0}, {2.5, -1.5}, {0, 0.5}, {1, 1}}
	rng := newRand(2)
	for _, g := range append(plain, batched...) {
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
			tA, tB := tr[0], tr[1]
			name := fmt.Sprintf("%s%s_%v", transName(tA), transName(tB), g)
			t.Run(name, func(t *testing.T) {
				for _, p := range ab {
					runGemm(t, b, dt, rng, g, tA, tB, p[0], p[1])
				}
			})
		}
	}
}

func transName(tr bool) string {
	if tr {
		return "T"
	}
	return "N"
}

func runGemm(t *testing.T, b tensor.Backend, dt tensor.DType, rng *rand.Rand, g gemmCase, tA, tB bool, alpha, beta float64) {
	t.Helper()
	as, bs, cs := g.shapes(tA, tB)
	a, av := randTensor(t, b, dt, rng, as...)
	bt, bv := randTensor(t, b, dt, rng, bs...)
	var c *tensor.Tensor
	var cv []float64
	if beta == 0 {
		c = nanTensor(t, b, dt, cs...)
		cv = c.ToFloat64s()
	} else {
		c, cv = randTensor(t, b, dt, rng, cs...)
	}
	what := fmt.Sprintf("Gemm(%v, %v, %g, a%v, b%v, %g, c%v)", tA, tB, alpha, as, bs, beta, cs)
	if !call(t, what, func() { b.Gemm(tA, tB, alpha, a, bt, beta, c) }) {
		return
	}
	want, mag := refGemm(tA, tB, alpha, av, as, bv, bs, beta, cv, cs)
	checkSum(t, what, dt, cs, c.ToFloat64s(), want, mag, g.k)
	checkExact(t, what+": a afterwards", as, a.ToFloat64s(), av)
	checkExact(t, what+": b afterwards", bs, bt.ToFloat64s(), bv)
}

// Solve: residuals of well-conditioned systems, exact small systems, and
// ErrSingular for singular matrices.
//
// Residual bound: Gaussian elimination with partial pivoting is backward
// stable, so ‖a·x - b‖∞ <= c·n·u·(‖a‖∞‖x‖∞ + ‖b‖∞) with a small c when the
// pivot growth is small, which it is (at most 2) for the diagonally dominant
// matrices used here; rounding x to float32 adds u·‖a‖∞‖x‖∞. We accept
// c = 10. The residual is computed in float64 from the values the backend
// holds, so it measures only the solver's error.
func testSolve(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rng := newRand(3)
	u := unitRoundoff(dt)
	for _, n := range []int{1, 2, 3, 8, 33, 200} {
		for _, bs := range []tensor.Shape{{n}, {n, 1}, {n, 4}} {
			t.Run(fmt.Sprintf("n%d_b%v", n, bs), func(t *testing.T) {
				a, av := upload(t, b, dt, tensor.Shape{n, n}, diagDominant(rng, n))
				bt, bv := randTensor(t, b, dt, rng, bs...)
				x := nanTensor(t, b, dt, bs...)
				var err error
				what := fmt.Sprintf("Solve(x%v, a[%d %d], b%v)", bs, n, n, bs)
				if !call(t, what, func() { err = b.Solve(x, a, bt) }) {
					return
				}
				if err != nil {
					t.Fatalf("%s: unexpected error %v", what, err)
				}
				k := bs.Numel() / n
				xv := x.ToFloat64s()
				r := matMul(av, xv, n, k)
				for i := range r {
					r[i] -= bv[i]
				}
				res := normInf(r, k)
				bound := 10 * float64(n) * u * (normInf(av, n)*normInf(xv, k) + normInf(bv, k))
				if !(res <= bound) {
					t.Errorf("%s: residual ‖ax-b‖∞ = %.3g exceeds %.3g", what, res, bound)
				}
				checkExact(t, what+": a afterwards", tensor.Shape{n, n}, a.ToFloat64s(), av)
				checkExact(t, what+": b afterwards", bs, bt.ToFloat64s(), bv)
			})
		}
	}

	// Small systems with exactly representable solutions; the first needs a
	// row exchange (zero leading pivot).
	exact := []struct {
		n       int
		a, b, x []float64
	}{
		{2, []float64{0, 1, 1, 0}, []float64{2, 3}, []float64{3, 2}},
		{2, []float64{2, 1, 1, 3}, []float64{3, 5}, []float64{0.8, 1.4}},
		{3, []float64{0, 0, 2, 0, 4, 0, 1, 0, 0}, []float64{6, 8, -1}, []float64{-1, 2, 3}},
		{1, []float64{-4}, []float64{2}, []float64{-0.5}},
	}
	t.Run("Exact", func(t *testing.T) {
		for _, c := range exact {
			a, _ := upload(t, b, dt, tensor.Shape{c.n, c.n}, c.a)
			bt, _ := upload(t, b, dt, tensor.Shape{c.n}, c.b)
			x := nanTensor(t, b, dt, c.n)
			what := fmt.Sprintf("Solve(%v, %v)", c.a, c.b)
			var err error
			if !call(t, what, func() { err = b.Solve(x, a, bt) }) {
				continue
			}
			if err != nil {
				t.Errorf("%s: unexpected error %v", what, err)
				continue
			}
			want := roundAll(dt, c.x)
			checkClose(t, what, x.Shape(), x.ToFloat64s(), want, func(i int) float64 { return 10 * float64(c.n) * u * math.Abs(want[i]) })
		}
	})

	singular := []struct {
		name string
		n    int
		a    []float64
	}{
		{"rank2", 3, []float64{1, 2, 3, 2, 4, 6, 1, 0, 1}},
		{"rank1", 2, []float64{1, 2, 2, 4}},
		{"zeroColumn", 2, []float64{1, 0, 2, 0}},
		{"zero1x1", 1, []float64{0}},
		{"zero4x4", 4, make([]float64, 16)},
	}
	t.Run("Singular", func(t *testing.T) {
		for _, c := range singular {
			a, _ := upload(t, b, dt, tensor.Shape{c.n, c.n}, c.a)
			bt, _ := upload(t, b, dt, tensor.Shape{c.n, 2}, constSlice(2*c.n, 1))
			x := nanTensor(t, b, dt, c.n, 2)
			var err error
			if !call(t, "Solve "+c.name, func() { err = b.Solve(x, a, bt) }) {
				continue
			}
			if !errors.Is(err, tensor.ErrSingular) {
				t.Errorf("Solve with singular a %v (%s): error %v, want one wrapping tensor.ErrSingular", c.a, c.name, err)
			}
		}
	})
}

// diagDominant returns a random n×n matrix whose diagonal entries exceed the
// sum of the other magnitudes in their row by at least 1 (so it is well
// conditioned and partial pivoting never grows the entries much).
func diagDominant(rng *rand.Rand, n int) []float64 {
	a := randNormal(rng, n*n)
	for i := 0; i < n; i++ {
		s := 0.0
		for j := 0; j < n; j++ {
			if j != i {
				s += math.Abs(a[i*n+j])
			}
		}
		d := 1 + s + rng.Float64()
		if rng.IntN(2) == 0 {
			d = -d
		}
		a[i*n+i] = d
	}
	return a
}
