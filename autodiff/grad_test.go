package autodiff

import (
	"math"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

func scalar(tp *Tape, v float64) *Var {
	return tp.Leaf(tensor.Scalar(testBE, tensor.Float64, v))
}

// TestCubeSecondDerivative is the regression for the gorgonia failure that
// made us write this engine: d²/dx² x³ at x = 2 is 6x = 12 (gorgonia gave 4).
func TestCubeSecondDerivative(t *testing.T) {
	tp := NewTape(testBE)
	x := scalar(tp, 2)
	y := Mul(Mul(x, x), x)
	d1 := Grad([]*Var{y}, []*Var{x}, GradOptions{CreateGraph: true})[0]
	d2 := Grad([]*Var{d1}, []*Var{x}, GradOptions{CreateGraph: true})[0]
	d3 := Grad1(d2, x)[0]
	if got := d1.Item(); got != 12 {
		t.Errorf("dy/dx = %v, want 3x² = 12", got)
	}
	if got := d2.Item(); got != 12 {
		t.Errorf("d²y/dx² = %v, want 6x = 12", got)
	}
	if got := d3.Item(); got != 6 {
		t.Errorf("d³y/dx³ = %v, want 6", got)
	}
}

// TestGradCallsAreIndependent: repeated Grad calls on one graph, and calls
// after a CreateGraph call, give the answers of fresh graphs.
func TestGradCallsAreIndependent(t *testing.T) {
	fresh := func() (float64, float64) {
		tp := NewTape(testBE)
		x := scalar(tp, 2)
		y := Mul(Mul(x, x), x)
		d1 := Grad([]*Var{y}, []*Var{x}, GradOptions{CreateGraph: true})[0]
		d2 := Grad1(d1, x)[0]
		return d1.Item(), d2.Item()
	}
	w1, w2 := fresh()

	tp := NewTape(testBE)
	x := scalar(tp, 2)
	y := Mul(Mul(x, x), x)
	for i := 0; i < 3; i++ {
		a := Grad1(y, x)[0].Item()
		d1 := Grad([]*Var{y}, []*Var{x}, GradOptions{CreateGraph: true})[0]
		b := Grad1(d1, x)[0].Item()
		c := Grad1(d1, x)[0].Item()
		if a != w1 || d1.Item() != w1 || b != w2 || c != w2 {
			t.Fatalf("round %d: got %v, %v, %v, %v; fresh graph gives %v, %v", i, a, d1.Item(), b, c, w1, w2)
		}
	}
}

// mlpEnergy is a 2-hidden-layer softplus MLP energy E(x) = w3·s(W2 s(W1 x + b1) + b2) + b3, per row.
func mlpEnergy(x *Var, ps []*Var) *Var {
	h := Softplus(Linear(x, ps[0], ps[1]))
	h = Softplus(Linear(h, ps[2], ps[3]))
	return Reshape(Linear(h, ps[4], ps[5]), -1)
}

func mlpParams(seed uint64, d, h int) []*tensor.Tensor {
	return []*tensor.Tensor{
		rnd(seed, 0.5, 0, h, d), rnd(seed+1, 0.5, 0, h),
		rnd(seed+2, 0.5, 0, h, h), rnd(seed+3, 0.5, 0, h),
		rnd(seed+4, 0.5, 0, 1, h), rnd(seed+5, 0.5, 0, 1),
	}
}

// vHv returns sum over rows of v·∇x(v·∇x E(x)) with x a leaf on the tape:
// the quantity exact SSM differentiates with respect to the weights.
func vHv(x, v *Var, ps []*Var, create bool) *Var {
	e := Sum(mlpEnergy(x, ps))
	g := Grad([]*Var{e}, []*Var{x}, GradOptions{CreateGraph: true})[0]
	vg := Sum(Mul(v, g))
	h := Grad([]*Var{vg}, []*Var{x}, GradOptions{CreateGraph: create})[0]
	return Sum(Mul(v, h))
}

// TestThirdOrderMLP: the weight-gradient of v·∇x(v·∇x E) (a third
// derivative of E) matches central differences over the weights of
// v·∇x(v·∇x E) computed on its own, with CheckGrad's default tolerances.
func TestThirdOrderMLP(t *testing.T) {
	const n, d, h = 3, 4, 5
	xt := rnd(40, 1, 0, n, d)
	vt := rnd(41, 1, 0, n, d)
	f := func(ps []*Var) *Var {
		tp := ps[0].Tape()
		return vHv(tp.Leaf(xt), tp.Const(vt), ps, true)
	}
	if err := CheckGrad(testBE, f, mlpParams(42, d, h), CheckOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestVJPSeed: a custom output cotangent gives the vector-Jacobian product;
// for y = A x, the VJP with seed s is Aᵀ s.
func TestVJPSeed(t *testing.T) {
	tp := NewTape(testBE)
	a := tp.Const(rnd(50, 1, 0, 3, 4))
	x := tp.Leaf(rnd(51, 1, 0, 4, 1))
	y := MatMul(a, x, false, false)
	s := tp.Const(rnd(52, 1, 0, 3, 1))
	g := Grad([]*Var{y}, []*Var{x}, GradOptions{Seeds: []*Var{s}})[0]
	want := MatMul(a, s, true, false)
	if err := closeAll(g.Value().ToFloat64s(), want.Value().ToFloat64s(), 1e-14); err != nil {
		t.Fatal(err)
	}
}

func TestUnusedInputGetsZeros(t *testing.T) {
	tp := NewTape(testBE)
	x, z := tp.Leaf(rnd(60, 1, 0, 2, 2)), tp.Leaf(rnd(61, 1, 0, 3))
	g := Grad1(Sum(Square(x)), x, z)
	if !g[1].Shape().Equal(tensor.Shape{3}) {
		t.Fatalf("shape %v", g[1].Shape())
	}
	for _, v := range g[1].Value().ToFloat64s() {
		if v != 0 {
			t.Fatalf("unused input gradient %v", v)
		}
	}
}

// TestNoGradBackwardIsConstant: without CreateGraph the backward pass records
// nothing, and its results are constants.
func TestNoGradBackwardIsConstant(t *testing.T) {
	tp := NewTape(testBE)
	x := tp.Leaf(rnd(70, 1, 0, 4))
	y := Sum(Exp(x))
	before := tp.Len()
	g := Grad1(y, x)[0]
	if tp.Len() != before {
		t.Errorf("backward recorded %d nodes", tp.Len()-before)
	}
	if g.Tracked() {
		t.Error("gradient without CreateGraph is tracked")
	}
	var inside *Var
	tp.NoGrad(func() { inside = Exp(x) })
	if inside.Tracked() {
		t.Error("op under NoGrad is tracked")
	}
	if !Exp(x).Tracked() {
		t.Error("recording not restored after NoGrad")
	}
}

func TestStaleVarPanics(t *testing.T) {
	tp := NewTape(testBE)
	x := tp.Leaf(rnd(80, 1, 0, 2))
	tp.Reset()
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("no panic for a Var used after Reset")
		}
	}()
	Exp(x)
}

// TestResetReturnsMemory: after Reset every tensor the tape allocated is back
// in the pool, and a second identical step allocates nothing new.
func TestResetReturnsMemory(t *testing.T) {
	be := tensor.NewCPU()
	tp := NewTape(be)
	p := NewParam("w", tensor.FromFloat64s(be, tensor.Float32, tensor.Shape{4, 3}, make([]float64, 12)))
	x := tensor.FromFloat64s(be, tensor.Float32, tensor.Shape{5, 3}, make([]float64, 15))
	step := func() {
		y := Sum(Softplus(MatMul(tp.Const(x), tp.Param(p), false, true)))
		Backward(y, []*Param{p})
		tp.Reset()
	}
	step()
	base := be.MemStats()
	step()
	after := be.MemStats()
	if after.InUseBytes != base.InUseBytes {
		t.Errorf("in-use bytes %d after a step, %d before", after.InUseBytes, base.InUseBytes)
	}
	if after.Allocs != base.Allocs {
		t.Errorf("steady-state step made %d fresh allocations", after.Allocs-base.Allocs)
	}
}

// TestBackwardAccumulates: Backward adds into Param.Grad; ZeroGrad clears it.
func TestBackwardAccumulates(t *testing.T) {
	tp := NewTape(testBE)
	p := NewParam("w", rnd(90, 1, 0, 3))
	for i := 0; i < 2; i++ {
		y := Sum(Square(tp.Param(p)))
		Backward(y, []*Param{p})
		tp.Reset()
	}
	grad := p.Grad.ToFloat64s()
	for i, v := range p.Value.ToFloat64s() {
		if got := grad[i]; math.Abs(got-4*v) > 1e-15 {
			t.Fatalf("grad[%d] = %v, want 2·2w = %v", i, got, 4*v)
		}
	}
	ZeroGrad([]*Param{p})
	for _, g := range p.Grad.ToFloat64s() {
		if g != 0 {
			t.Fatal("ZeroGrad left", g)
		}
	}
}

// TestHessianTrace: exact SM needs tr(∇²E) by d backward passes; for
// E = 0.5 xᵀ A x the Hessian is (A+Aᵀ)/2 symmetrised, trace = tr(A).
func TestHessianTrace(t *testing.T) {
	const d = 4
	tp := NewTape(testBE)
	at := rnd(95, 1, 0, d, d)
	x := tp.Leaf(rnd(96, 1, 0, d, 1))
	e := Scale(Sum(Mul(x, MatMul(tp.Const(at), x, false, false))), 0.5)
	g := Grad([]*Var{e}, []*Var{x}, GradOptions{CreateGraph: true})[0]
	tr := 0.0
	for i := 0; i < d; i++ {
		gi := Slice(g, 0, i, i+1)
		tr += Grad1(Sum(gi), x)[0].Value().ToFloat64s()[i]
	}
	want, av := 0.0, at.ToFloat64s()
	for i := 0; i < d; i++ {
		want += av[i*d+i]
	}
	if math.Abs(tr-want) > 1e-12 {
		t.Fatalf("trace %v, want %v", tr, want)
	}
}

// TestParamSharesLeaf: a parameter whose tensor was wrapped by Leaf uses that
// leaf, so gradients with respect to it are taken through the model.
func TestParamSharesLeaf(t *testing.T) {
	tp := NewTape(testBE)
	p := NewParam("w", rnd(97, 1, 0, 3))
	leaf := tp.Leaf(p.Value)
	if tp.Param(p) != leaf {
		t.Fatal("Param made a second leaf for a wrapped tensor")
	}
	g := Grad1(Sum(Square(tp.Param(p))), leaf)[0]
	gv := g.Value().ToFloat64s()
	for i, v := range p.Value.ToFloat64s() {
		if gv[i] != 2*v {
			t.Fatalf("grad %v, want 2w", gv)
		}
	}
}
