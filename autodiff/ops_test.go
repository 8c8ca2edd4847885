package autodiff

import (
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/fdsm-go/fdsm/device"
	"github.com/fdsm-go/fdsm/tensor"
)

// testBE is the backend the tests run on: the CPU, or the device named by
// FDSM_TEST_DEVICE (make test-devsim runs them on devsim:0, the strict
// simulated device).
var testBE = testBackend()

func testBackend() tensor.Backend {
	be, err := device.Open(os.Getenv("FDSM_TEST_DEVICE"))
	if err != nil {
		panic(err)
	}
	return be
}

// rnd returns a float64 tensor with N(0,1) entries scaled and shifted.
func rnd(seed uint64, scale, shift float64, shape ...int) *tensor.Tensor {
	t := testBE.Empty(tensor.Float64, shape...)
	testBE.Random(t, tensor.Normal(shift, scale), tensor.NewRNG(seed))
	return t
}

// as converts a float64 tensor to dt.
func as(dt tensor.DType, t *tensor.Tensor) *tensor.Tensor {
	if dt == t.DType() {
		return t
	}
	y := testBE.Empty(dt, t.Shape()...)
	testBE.Copy(y, t)
	return y
}

// pos returns a float64 tensor with entries in [lo, hi).
func pos(seed uint64, lo, hi float64, shape ...int) *tensor.Tensor {
	t := testBE.Empty(tensor.Float64, shape...)
	testBE.Random(t, tensor.Uniform(lo, hi), tensor.NewRNG(seed))
	return t
}

// weighted turns f into sum(w * f(xs)) with fixed random weights, so every
// output element gets a different cotangent.
func weighted(f func(xs []*Var) *Var, seed uint64) func(xs []*Var) *Var {
	return func(xs []*Var) *Var {
		y := f(xs)
		w := xs[0].Tape().Const(as(y.DType(), rnd(seed, 1, 0, y.Shape()...)))
		return Mul(w, y)
	}
}

// secondOrder returns g(xs) = sum(v * d/dx0 sum(w*f(xs))): its gradient is a
// Hessian-vector product, so checking it checks every second derivative
// rule that f uses.
func secondOrder(f func(xs []*Var) *Var, seed uint64) func(xs []*Var) *Var {
	fw := weighted(f, seed)
	return func(xs []*Var) *Var {
		y := fw(xs)
		gs := Grad([]*Var{y}, xs, GradOptions{CreateGraph: true})
		var acc *Var
		for i, g := range gs {
			v := xs[0].Tape().Const(as(g.DType(), rnd(seed+uint64(i)+7, 1, 0, g.Shape()...)))
			acc = accumulate(acc, Sum(Mul(v, g)))
		}
		return acc
	}
}

type opCase struct {
	name   string
	f      func(xs []*Var) *Var
	inputs func() []*tensor.Tensor
	// noSecond skips the second-order check for ops whose second derivative
	// is zero or a distribution (the first-order check still runs).
	noSecond bool
}

func opCases() []opCase {
	u := func(f func(*Var) *Var) func(xs []*Var) *Var { return func(xs []*Var) *Var { return f(xs[0]) } }
	b := func(f func(a, b *Var) *Var) func(xs []*Var) *Var {
		return func(xs []*Var) *Var { return f(xs[0], xs[1]) }
	}
	x34 := func() []*tensor.Tensor { return []*tensor.Tensor{rnd(1, 1, 0, 3, 4)} }
	p34 := func() []*tensor.Tensor { return []*tensor.Tensor{pos(2, 0.5, 2, 3, 4)} }
	// Values kept away from kinks (|x| > 0.1) so differences do not straddle them.
	away := func() []*tensor.Tensor {
		t := rnd(3, 1, 0, 3, 4)
		vs := t.ToFloat64s()
		for i, v := range vs {
			if math.Abs(v) < 0.1 {
				vs[i] = 0.1 + v
			}
		}
		tensor.WriteAs(t, vs)
		return []*tensor.Tensor{t}
	}
	two := func(sa, sb []int) func() []*tensor.Tensor {
		return func() []*tensor.Tensor { return []*tensor.Tensor{rnd(4, 1, 0, sa...), rnd(5, 1, 0, sb...)} }
	}
	return []opCase{
		{name: "neg", f: u(Neg), inputs: x34},
		{name: "exp", f: u(Exp), inputs: x34},
		{name: "log", f: u(Log), inputs: p34},
		{name: "log1p", f: u(Log1p), inputs: p34},
		{name: "expm1", f: u(Expm1), inputs: x34},
		{name: "sqrt", f: u(Sqrt), inputs: p34},
		{name: "square", f: u(Square), inputs: x34},
		{name: "reciprocal", f: u(Reciprocal), inputs: p34},
		{name: "tanh", f: u(Tanh), inputs: x34},
		{name: "sigmoid", f: u(Sigmoid), inputs: x34},
		{name: "softplus", f: u(Softplus), inputs: x34},
		{name: "elu", f: u(ELU), inputs: away},
		{name: "sin", f: u(Sin), inputs: x34},
		{name: "cos", f: u(Cos), inputs: x34},
		{name: "abs", f: u(Abs), inputs: away, noSecond: true},
		{name: "relu", f: u(ReLU), inputs: away, noSecond: true},
		{name: "scale", f: u(func(x *Var) *Var { return Scale(x, -2.5) }), inputs: x34},
		{name: "add_scalar", f: u(func(x *Var) *Var { return Square(AddScalar(x, 1.5)) }), inputs: x34},
		{name: "add", f: b(Add), inputs: two([]int{3, 4}, []int{3, 4})},
		{name: "add_broadcast", f: b(func(a, b *Var) *Var { return Mul(Add(a, b), Add(a, b)) }), inputs: two([]int{3, 4}, []int{4})},
		{name: "sub_broadcast", f: b(func(a, b *Var) *Var { return Square(Sub(a, b)) }), inputs: two([]int{3, 1}, []int{2, 1, 4})},
		{name: "mul_broadcast", f: b(Mul), inputs: two([]int{2, 3, 4}, []int{3, 1})},
		{name: "div", f: b(Div), inputs: func() []*tensor.Tensor { return []*tensor.Tensor{rnd(6, 1, 0, 3, 4), pos(7, 0.5, 2, 4)} }},
		{name: "pow", f: b(Pow), inputs: func() []*tensor.Tensor { return []*tensor.Tensor{pos(8, 0.5, 2, 3, 4), rnd(9, 1, 0, 3, 4)} }},
		{name: "maximum", f: b(Maximum), inputs: two([]int{3, 4}, []int{3, 4}), noSecond: true},
		{name: "minimum", f: b(Minimum), inputs: two([]int{3, 4}, []int{4}), noSecond: true},
		{name: "sum_axes", f: u(func(x *Var) *Var { return Square(Sum(x, 0, 2)) }), inputs: func() []*tensor.Tensor { return []*tensor.Tensor{rnd(10, 1, 0, 2, 3, 4)} }},
		{name: "mean", f: u(func(x *Var) *Var { return Square(Mean(x, -1)) }), inputs: x34},
		{name: "broadcast_to", f: u(func(x *Var) *Var { return Square(BroadcastTo(x, tensor.Shape{2, 3, 4})) }), inputs: func() []*tensor.Tensor { return []*tensor.Tensor{rnd(11, 1, 0, 3, 1)} }},
		{name: "logsumexp", f: u(func(x *Var) *Var { return LogSumExp(x, 1) }), inputs: x34},
		{name: "reshape", f: u(func(x *Var) *Var { return Square(Reshape(x, 4, -1)) }), inputs: x34},
		{name: "transpose", f: u(func(x *Var) *Var { return Square(Transpose(x, 2, 0, 1)) }), inputs: func() []*tensor.Tensor { return []*tensor.Tensor{rnd(12, 1, 0, 2, 3, 4)} }},
		{name: "slice", f: u(func(x *Var) *Var { return Square(Slice(x, 1, 1, 3)) }), inputs: x34},
		{name: "concat", f: b(func(a, b *Var) *Var { return Square(Concat(0, a, b, a)) }), inputs: two([]int{2, 4}, []int{3, 4})},
		{name: "matmul", f: b(func(a, b *Var) *Var { return Square(MatMul(a, b, false, false)) }), inputs: two([]int{3, 4}, []int{4, 2})},
		{name: "matmul_tA", f: b(func(a, b *Var) *Var { return Square(MatMul(a, b, true, false)) }), inputs: two([]int{4, 3}, []int{4, 2})},
		{name: "matmul_tB", f: b(func(a, b *Var) *Var { return Square(MatMul(a, b, false, true)) }), inputs: two([]int{3, 4}, []int{2, 4})},
		{name: "matmul_tAtB", f: b(func(a, b *Var) *Var { return Square(MatMul(a, b, true, true)) }), inputs: two([]int{4, 3}, []int{2, 4})},
		{name: "matmul_batched", f: b(func(a, b *Var) *Var { return Square(MatMul(a, b, false, true)) }), inputs: two([]int{2, 3, 4}, []int{2, 5, 4})},
		{name: "matmul_shared", f: b(func(a, b *Var) *Var { return Square(MatMul(a, b, true, false)) }), inputs: two([]int{2, 4, 3}, []int{4, 2})},
		{name: "linear", f: func(xs []*Var) *Var { return Softplus(Linear(xs[0], xs[1], xs[2])) },
			inputs: func() []*tensor.Tensor {
				return []*tensor.Tensor{rnd(13, 1, 0, 5, 3), rnd(14, 1, 0, 4, 3), rnd(15, 1, 0, 4)}
			}},
		{name: "conv2d", f: b(func(x, w *Var) *Var { return Square(Conv2D(x, w, tensor.Conv(2, 1, 1))) }),
			inputs: two([]int{2, 3, 6, 5}, []int{4, 3, 3, 3})},
		{name: "conv2d_dilated", f: b(func(x, w *Var) *Var { return Tanh(Conv2D(x, w, tensor.ConvParams{PadH: 2, PadW: 1, DilationH: 2})) }),
			inputs: two([]int{1, 2, 6, 6}, []int{3, 2, 3, 2})},
		{name: "avg_pool", f: u(func(x *Var) *Var { return Square(AvgPool2D(x, tensor.PoolParams{Kernel: 2})) }),
			inputs: func() []*tensor.Tensor { return []*tensor.Tensor{rnd(16, 1, 0, 2, 3, 4, 6)} }},
		{name: "avg_pool_padded", f: u(func(x *Var) *Var { return Square(AvgPool2D(x, tensor.PoolParams{Kernel: 3, Stride: 2, Pad: 1})) }),
			inputs: func() []*tensor.Tensor { return []*tensor.Tensor{rnd(17, 1, 0, 1, 2, 5, 5)} }},
		{name: "solve", f: b(func(a, b *Var) *Var { x, err := Solve(a, b); must(err); return Square(x) }),
			inputs: func() []*tensor.Tensor { return []*tensor.Tensor{wellConditioned(18, 4), rnd(19, 1, 0, 4, 2)} }},
		{name: "solve_vector", f: b(func(a, b *Var) *Var { x, err := Solve(a, b); must(err); return Exp(x) }),
			inputs: func() []*tensor.Tensor { return []*tensor.Tensor{wellConditioned(20, 3), rnd(21, 1, 0, 3)} }},
	}
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// wellConditioned returns a random diagonally dominant n×n matrix.
func wellConditioned(seed uint64, n int) *tensor.Tensor {
	t := rnd(seed, 0.3, 0, n, n)
	vs := t.ToFloat64s()
	for i := 0; i < n; i++ {
		vs[i*n+i] += 2
	}
	tensor.WriteAs(t, vs)
	return t
}

// TestOpDerivatives checks every op's first derivative, and (through a
// Hessian-vector product) its second derivatives, against float64 central
// differences with CheckGrad's default tolerances (see CheckOptions).
func TestOpDerivatives(t *testing.T) {
	for i, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			if err := CheckGrad(testBE, weighted(c.f, uint64(100+i)), c.inputs(), CheckOptions{}); err != nil {
				t.Errorf("first order: %v", err)
			}
			if c.noSecond {
				return
			}
			if err := CheckGrad(testBE, secondOrder(c.f, uint64(200+i)), c.inputs(), CheckOptions{}); err != nil {
				t.Errorf("second order: %v", err)
			}
		})
	}
}

// TestFloat32MatchesFloat64 runs every op in float32 and float64 on the same
// inputs and compares values and gradients. float32 carries ~6e-8 relative
// rounding per op; chains here are a few ops deep, so 1e-4 relative to the
// largest magnitude is a generous but still discriminating bound.
func TestFloat32MatchesFloat64(t *testing.T) {
	for i, c := range opCases() {
		t.Run(c.name, func(t *testing.T) {
			xs := c.inputs()
			run := func(dt tensor.DType) ([]float64, [][]float64) {
				tp := NewTape(testBE)
				defer tp.Reset()
				ls := make([]*Var, len(xs))
				for j, x := range xs {
					y := testBE.Empty(dt, x.Shape()...)
					testBE.Copy(y, x)
					ls[j] = tp.Leaf(y)
				}
				out := weighted(c.f, uint64(300+i))(ls)
				gs := Grad([]*Var{out}, ls, GradOptions{})
				var g [][]float64
				for _, v := range gs {
					g = append(g, v.Value().ToFloat64s())
				}
				return out.Value().ToFloat64s(), g
			}
			v64, g64 := run(tensor.Float64)
			v32, g32 := run(tensor.Float32)
			if err := closeAll(v32, v64, 1e-4); err != nil {
				t.Errorf("value: %v", err)
			}
			for j := range g64 {
				if err := closeAll(g32[j], g64[j], 1e-4); err != nil {
					t.Errorf("grad %d: %v", j, err)
				}
			}
		})
	}
}

func closeAll(got, want []float64, rel float64) error {
	scale := 0.0
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > rel*math.Max(scale, 1e-6) {
			return fmt.Errorf("element %d: got %g want %g (scale %g)", i, got[i], want[i], scale)
		}
	}
	return nil
}
