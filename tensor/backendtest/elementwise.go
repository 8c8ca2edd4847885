package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// allUnaryOps lists every UnaryOp, found through their names, so an op added
// to backend.go without a reference here fails the suite (refUnary panics).
func allUnaryOps() []tensor.UnaryOp {
	var ops []tensor.UnaryOp
	for op := tensor.UnaryOp(1); op.String() != "unary?"; op++ {
		ops = append(ops, op)
	}
	return ops
}

func allBinaryOps() []tensor.BinaryOp {
	var ops []tensor.BinaryOp
	for op := tensor.BinaryOp(1); op.String() != "binary?"; op++ {
		ops = append(ops, op)
	}
	return ops
}

// unaryGrid returns the inputs for op: a dense sweep of [-8, 8], then values
// from tiny to large of both signs, restricted to op's domain (log and sqrt
// on x >= 0, log1p on x > -1, reciprocal on x != 0), plus a few values near
// the edge of the domain.
func unaryGrid(op tensor.UnaryOp) []float64 {
	var g []float64
	for i := -80; i <= 80; i++ {
		g = append(g, float64(i)/10)
	}
	for _, v := range []float64{0, 1e-30, 1e-7, 1e-4, 0.1, 0.5, 1, 1.5, 2.75, math.Pi, 10, 20, 30, 50, 88, 100, 1e3} {
		g = append(g, v, -v)
	}
	in := func(x float64) bool { return true }
	var extra []float64
	switch op {
	case tensor.OpLog:
		in = func(x float64) bool { return x > 0 }
		extra = []float64{1e-38, 1e30, 1 + 1e-6, 1 - 1e-6}
	case tensor.OpSqrt:
		in = func(x float64) bool { return x >= 0 }
		extra = []float64{1e-38, 1e30, 2}
	case tensor.OpLog1p:
		in = func(x float64) bool { return x > -1 }
		extra = []float64{-0.999, -0.5, 1e10, 1e30}
	case tensor.OpReciprocal:
		in = func(x float64) bool { return x != 0 }
		extra = []float64{1e30, -1e30, 3}
	case tensor.OpExp, tensor.OpExpm1, tensor.OpSigmoid, tensor.OpSoftplus, tensor.OpTanh, tensor.OpELU:
		extra = []float64{-87, -88.5, 88.5, -700, 700, -1e-30}
	}
	var out []float64
	for _, x := range append(g, extra...) {
		if in(x) {
			out = append(out, x)
		}
	}
	return out
}

// Unary: every op on its grid, out of place and in place (dst aliasing x
// must give the identical result), with elemTol against the float64
// reference evaluated at the values the backend holds and rounded to dt.
func testUnary(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rel, abs := elemTol(dt)
	for _, op := range allUnaryOps() {
		t.Run(op.String(), func(t *testing.T) {
			grid := unaryGrid(op)
			shape := tensor.Shape{len(grid)}
			x, xv := upload(t, b, dt, shape, grid)
			want := make([]float64, len(xv))
			for i, v := range xv {
				want[i] = roundTo(dt, refUnary(op, v))
			}
			y := nanTensor(t, b, dt, shape...)
			if !call(t, "Unary "+op.String(), func() { b.Unary(op, y, x) }) {
				return
			}
			got := y.ToFloat64s()
			checkElem(t, fmt.Sprintf("%s(x) for x = grid (see unaryGrid)", op), nil, got, want, rel, abs)
			// Name the inputs of mismatches too: a grid index alone is opaque.
			shown := 0
			for i := range want {
				if !same(got[i], want[i]) && !(math.Abs(got[i]-want[i]) <= rel*math.Abs(want[i])+abs) && shown < maxReports {
					t.Logf("  %s(%.17g): got %.17g, want %.17g", op, xv[i], got[i], want[i])
					shown++
				}
			}
			checkExact(t, op.String()+": x afterwards", shape, x.ToFloat64s(), xv)
			// In place (dst aliasing x): the same values as out of place.
			z, _ := upload(t, b, dt, shape, xv)
			if call(t, "in-place Unary "+op.String(), func() { b.Unary(op, z, z) }) {
				checkExact(t, op.String()+" in place vs out of place", shape, z.ToFloat64s(), got)
			}
		})
	}

	// A large tensor of random values in each op's domain, where backends
	// split the work (goroutines, CUDA blocks).
	t.Run("Large", func(t *testing.T) {
		if testing.Short() {
			t.Skip("large tensors skipped in -short mode")
		}
		rng := newRand(12)
		shape := tensor.Shape{300, 137}
		for _, op := range allUnaryOps() {
			v := randNormal(rng, shape.Numel())
			for i := range v {
				switch op {
				case tensor.OpLog, tensor.OpSqrt:
					v[i] = 3*math.Abs(v[i]) + 1e-3
				case tensor.OpLog1p:
					v[i] = math.Abs(v[i]) - 0.9
				case tensor.OpReciprocal:
					v[i] = v[i] + math.Copysign(0.1, v[i])
				default:
					v[i] *= 4
				}
			}
			x, xv := upload(t, b, dt, shape, v)
			y := nanTensor(t, b, dt, shape...)
			if !call(t, "Unary "+op.String(), func() { b.Unary(op, y, x) }) {
				continue
			}
			want := make([]float64, len(xv))
			for i, v := range xv {
				want[i] = roundTo(dt, refUnary(op, v))
			}
			checkElem(t, op.String()+" of a large random tensor", shape, y.ToFloat64s(), want, rel, abs)
		}
	})

	// Softplus must not overflow for large x nor lose the tiny result for
	// very negative x: softplus(100) = 100 exactly (e^-100 is far below half
	// an ulp of 100), softplus(-100) = e^-100·(1 - ...) ≈ 3.72e-44, which in
	// float64 must hold to elemTol; in float32 it is subnormal (or flushed
	// to zero), so there only |got - want| <= 2^-126 and got >= 0 apply.
	t.Run("SoftplusExtremes", func(t *testing.T) {
		in := []float64{-1000, -100, -30, 0, 30, 100, 1000}
		x, _ := upload(t, b, dt, tensor.Shape{len(in)}, in)
		y := nanTensor(t, b, dt, len(in))
		if !call(t, "Unary softplus", func() { b.Unary(tensor.OpSoftplus, y, x) }) {
			return
		}
		got := y.ToFloat64s()
		for i, v := range got {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Errorf("softplus(%v) = %v, want finite and >= 0", in[i], v)
			}
		}
		if got[5] != 100 || got[6] != 1000 {
			t.Errorf("softplus(100), softplus(1000) = %v, %v; want exactly 100, 1000", got[5], got[6])
		}
		const sp100 = 3.7200759760208361e-44 // e^-100 - e^-200/2 + ...
		if dt == tensor.Float64 {
			if math.Abs(got[1]-sp100) > 1e-14*sp100 {
				t.Errorf("float64 softplus(-100) = %.17g, want %.17g", got[1], sp100)
			}
		} else if math.Abs(got[1]-sp100) > 0x1p-126 {
			t.Errorf("float32 softplus(-100) = %.9g, want %.9g (or a nearby subnormal, or 0)", got[1], sp100)
		}
		if got[0] != 0 && !(dt == tensor.Float64 && got[0] < 1e-300) {
			t.Errorf("softplus(-1000) = %v, want 0 (e^-1000 underflows)", got[0])
		}
		if want := math.Ln2; math.Abs(got[3]-want) > 4e-7*want {
			t.Errorf("softplus(0) = %v, want ln 2", got[3])
		}
	})
}

// largeElems is the size above which elementwise cases are skipped in -short
// mode (the race detector runs the suite that way).
const largeElems = 10000

// binaryCase is one broadcasting geometry: a and b broadcast to dst.
type binaryCase struct {
	a, b, dst tensor.Shape
}

var binaryCases = []binaryCase{
	{tensor.Shape{3, 4}, tensor.Shape{3, 4}, tensor.Shape{3, 4}},                   // same shape
	{tensor.Shape{3, 4}, tensor.Shape{}, tensor.Shape{3, 4}},                       // scalar on the right
	{tensor.Shape{}, tensor.Shape{3, 4}, tensor.Shape{3, 4}},                       // scalar on the left
	{tensor.Shape{3, 4}, tensor.Shape{1}, tensor.Shape{3, 4}},                      // one-element rank 1
	{tensor.Shape{}, tensor.Shape{}, tensor.Shape{}},                               // scalars
	{tensor.Shape{3, 4}, tensor.Shape{4}, tensor.Shape{3, 4}},                      // row vector
	{tensor.Shape{4}, tensor.Shape{3, 4}, tensor.Shape{3, 4}},                      // row vector on the left
	{tensor.Shape{3, 1}, tensor.Shape{1, 4}, tensor.Shape{3, 4}},                   // outer
	{tensor.Shape{2, 1, 4}, tensor.Shape{3, 1}, tensor.Shape{2, 3, 4}},             // both broadcast, ranks differ
	{tensor.Shape{2, 3, 4, 5}, tensor.Shape{1, 3, 1, 1}, tensor.Shape{2, 3, 4, 5}}, // NCHW + per-channel
	{tensor.Shape{1, 3, 1, 1}, tensor.Shape{2, 3, 4, 5}, tensor.Shape{2, 3, 4, 5}},
	{tensor.Shape{2, 3, 4, 5}, tensor.Shape{2, 1, 4, 1}, tensor.Shape{2, 3, 4, 5}},
	{tensor.Shape{3, 1}, tensor.Shape{3, 4}, tensor.Shape{3, 4}},          // column vector
	{tensor.Shape{1, 1}, tensor.Shape{3}, tensor.Shape{1, 3}},             // dst bigger than both
	{tensor.Shape{0, 4}, tensor.Shape{4}, tensor.Shape{0, 4}},             // empty
	{tensor.Shape{33, 1000}, tensor.Shape{33, 1}, tensor.Shape{33, 1000}}, // large: parallel kernels
	{tensor.Shape{70, 1000}, tensor.Shape{70, 1000}, tensor.Shape{70, 1000}},
}

// binaryInputs returns n values for operand `which` (0 = a, 1 = b) of op.
// Most ops draw half of their values from the quarter-integers in [-3, 3], so
// equal operands (for Equal, Max, Min, Greater) occur often, and half from a
// continuous range; Div keeps b away from 0, Pow uses a in [0.25, 3] and b in
// [-3, 3] (real results).
func binaryInputs(rng *rand.Rand, op tensor.BinaryOp, which, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		switch {
		case op == tensor.OpPow && which == 0:
			v[i] = 0.25 + 2.75*rng.Float64()
		case op == tensor.OpPow:
			v[i] = 6*rng.Float64() - 3
		case op == tensor.OpDiv && which == 1:
			v[i] = (0.5 + rng.Float64()*2) * float64(1-2*rng.IntN(2))
		case rng.IntN(2) == 0:
			v[i] = float64(rng.IntN(25)-12) / 4
		default:
			v[i] = 6*rng.Float64() - 3
		}
	}
	return v
}

// Binary: every op on every broadcasting geometry, then dst aliasing an
// input, then pow's special values. Arithmetic ops are correctly rounded in
// IEEE arithmetic, comparisons exact; elemTol covers both (powTol for Pow).
func testBinary(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rng := newRand(4)
	tol := func(op tensor.BinaryOp) (float64, float64) {
		if op == tensor.OpPow {
			return powTol(dt)
		}
		return elemTol(dt)
	}
	for _, op := range allBinaryOps() {
		t.Run(op.String(), func(t *testing.T) {
			rel, abs := tol(op)
			for _, c := range binaryCases {
				if testing.Short() && c.dst.Numel() > largeElems {
					continue
				}
				a, av := upload(t, b, dt, c.a, binaryInputs(rng, op, 0, c.a.Numel()))
				bt, bv := upload(t, b, dt, c.b, binaryInputs(rng, op, 1, c.b.Numel()))
				d := nanTensor(t, b, dt, c.dst...)
				what := fmt.Sprintf("%s(a%v, b%v) -> %v", op, c.a, c.b, c.dst)
				if !call(t, what, func() { b.Binary(op, d, a, bt) }) {
					continue
				}
				want := roundAll(dt, refBroadcast(op, av, c.a, bv, c.b, c.dst))
				checkElem(t, what, c.dst, d.ToFloat64s(), want, rel, abs)
				checkExact(t, what+": a afterwards", c.a, a.ToFloat64s(), av)
				checkExact(t, what+": b afterwards", c.b, bt.ToFloat64s(), bv)
			}
		})
	}

	// dst may alias an input of dst's shape.
	t.Run("Aliasing", func(t *testing.T) {
		for _, op := range allBinaryOps() {
			rel, abs := tol(op)
			for _, c := range []struct {
				name       string
				a, b       tensor.Shape
				dstA, dstB bool // dst is a, dst is b
			}{
				{"dst=a,b=[4]", tensor.Shape{3, 4}, tensor.Shape{4}, true, false},
				{"dst=a,b=[3,1]", tensor.Shape{3, 4}, tensor.Shape{3, 1}, true, false},
				{"dst=a,b=[]", tensor.Shape{3, 4}, tensor.Shape{}, true, false},
				{"dst=b,a=[]", tensor.Shape{}, tensor.Shape{3, 4}, false, true},
				{"dst=b,a=[2,1,4]", tensor.Shape{2, 1, 4}, tensor.Shape{2, 3, 4}, false, true},
				{"dst=a,same shape", tensor.Shape{2, 3, 4}, tensor.Shape{2, 3, 4}, true, false},
				{"dst=a,large,b=[1000]", tensor.Shape{70, 1000}, tensor.Shape{1000}, true, false},
				{"dst=a=b", tensor.Shape{2, 3, 4}, nil, true, true},
			} {
				if testing.Short() && c.a.Numel() > largeElems {
					continue
				}
				a, av := upload(t, b, dt, c.a, binaryInputs(rng, op, 0, c.a.Numel()))
				bs, bt, bv := c.b, a, av
				if c.b != nil {
					bt, bv = upload(t, b, dt, c.b, binaryInputs(rng, op, 1, c.b.Numel()))
				} else {
					bs = c.a
				}
				d, ds := a, c.a
				if c.dstB {
					d, ds = bt, bs
				}
				what := fmt.Sprintf("%s %s", op, c.name)
				if !call(t, what, func() { b.Binary(op, d, a, bt) }) {
					continue
				}
				want := roundAll(dt, refBroadcast(op, av, c.a, bv, bs, ds))
				checkElem(t, what, ds, d.ToFloat64s(), want, rel, abs)
			}
		}
	})

	// Pow beyond positive bases: integer powers of negatives, zeros.
	t.Run("PowSpecial", func(t *testing.T) {
		av := []float64{-2, -2, -0.5, 0, 0, 2, 4, 1, 10}
		bv := []float64{3, 2, -2, 0, 2, 0.5, -0.5, 1e3, -3}
		want := []float64{-8, 4, 4, 1, 0, math.Sqrt2, 0.5, 1, 1e-3}
		a, _ := upload(t, b, dt, tensor.Shape{len(av)}, av)
		bt, _ := upload(t, b, dt, tensor.Shape{len(bv)}, bv)
		d := nanTensor(t, b, dt, len(av))
		if call(t, "pow", func() { b.Binary(tensor.OpPow, d, a, bt) }) {
			rel, abs := powTol(dt)
			checkElem(t, fmt.Sprintf("pow(%v, %v)", av, bv), nil, d.ToFloat64s(), roundAll(dt, want), rel, abs)
		}
	})
}

// reduceCase reduces x to dst.
type reduceCase struct {
	name  string
	x, to tensor.Shape
	large bool // skipped in -short mode
}

var reduceCases = []reduceCase{
	{"toScalar", tensor.Shape{3, 4}, tensor.Shape{}, false},
	{"to1x1", tensor.Shape{3, 4}, tensor.Shape{1, 1}, false},
	{"keepLeading", tensor.Shape{3, 4}, tensor.Shape{3, 1}, false},
	{"keepTrailing", tensor.Shape{3, 4}, tensor.Shape{1, 4}, false},
	{"keepTrailingLeftPadded", tensor.Shape{3, 4}, tensor.Shape{4}, false},
	{"perChannelNCHW", tensor.Shape{2, 3, 4, 5}, tensor.Shape{1, 3, 1, 1}, false},
	{"rank3To3x1", tensor.Shape{2, 3, 4}, tensor.Shape{3, 1}, false},
	{"middleAxis", tensor.Shape{2, 3, 4}, tensor.Shape{2, 1, 4}, false},
	{"alternating", tensor.Shape{2, 3, 4, 5}, tensor.Shape{2, 1, 4, 1}, false},
	{"leadingAxes", tensor.Shape{2, 3, 4, 5}, tensor.Shape{4, 5}, false},
	{"unitAxes", tensor.Shape{1, 3, 1, 4}, tensor.Shape{1, 1, 4}, false},
	{"identity", tensor.Shape{2, 3, 4}, tensor.Shape{2, 3, 4}, false},
	{"identityScalar", tensor.Shape{}, tensor.Shape{}, false},
	{"oneToScalar", tensor.Shape{1, 1}, tensor.Shape{}, false},
	{"emptyToRow", tensor.Shape{0, 3}, tensor.Shape{1, 3}, false},
	{"emptyToScalar", tensor.Shape{2, 0}, tensor.Shape{}, false},
	{"emptyToEmpty", tensor.Shape{0, 3}, tensor.Shape{0, 1}, false},
	{"largeToScalar", tensor.Shape{300, 500}, tensor.Shape{}, true},
	{"largeRows", tensor.Shape{300, 500}, tensor.Shape{300, 1}, true},
	{"largeCols", tensor.Shape{300, 500}, tensor.Shape{1, 500}, true},
	{"largeMiddle", tensor.Shape{40, 300, 7}, tensor.Shape{40, 1, 7}, true},
	{"largeOuter", tensor.Shape{7, 300, 40}, tensor.Shape{300, 1}, true},
}

// ReduceTo: Sum with sumTol (terms = elements per output), Max and Min
// exactly; reducing no elements gives the op's identity (0, -Inf, +Inf).
func testReduceTo(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rng := newRand(5)
	for _, op := range []tensor.ReduceOp{tensor.ReduceSum, tensor.ReduceMax, tensor.ReduceMin} {
		t.Run(op.String(), func(t *testing.T) {
			for _, c := range reduceCases {
				if c.large && testing.Short() {
					continue
				}
				x, xv := randTensor(t, b, dt, rng, c.x...)
				d := nanTensor(t, b, dt, c.to...)
				what := fmt.Sprintf("%s %s: x%v -> %v", op, c.name, c.x, c.to)
				if !call(t, what, func() { b.ReduceTo(op, d, x) }) {
					continue
				}
				want, mag, terms := refReduce(op, xv, c.x, c.to)
				if op == tensor.ReduceSum {
					checkSum(t, what, dt, c.to, d.ToFloat64s(), want, mag, terms)
				} else {
					checkExact(t, what, c.to, d.ToFloat64s(), want)
				}
				checkExact(t, what+": x afterwards", c.x, x.ToFloat64s(), xv)
			}
		})
	}
}
