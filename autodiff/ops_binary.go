package autodiff

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

type binaryOp struct{ kind tensor.BinaryOp }

func (o binaryOp) Name() string { return o.kind.String() }

func binary(kind tensor.BinaryOp, a, b *Var) *Var {
	tp := tapeOf(a, b)
	shape, err := tensor.BroadcastShapes(a.value.Shape(), b.value.Shape())
	if err != nil {
		panic(fmt.Sprintf("autodiff: %s: %v", kind, err))
	}
	be := deviceOf(kind.String(), a, b)
	out := tp.alloc(be, a.value.DType(), shape...)
	be.Binary(kind, out, a.value, b.value)
	return tp.record(binaryOp{kind}, out, a, b)
}

// Add returns a+b with broadcasting.
func Add(a, b *Var) *Var { return binary(tensor.OpAdd, a, b) }

// Sub returns a-b with broadcasting.
func Sub(a, b *Var) *Var { return binary(tensor.OpSub, a, b) }

// Mul returns a*b elementwise with broadcasting.
func Mul(a, b *Var) *Var { return binary(tensor.OpMul, a, b) }

// Div returns a/b elementwise with broadcasting.
func Div(a, b *Var) *Var { return binary(tensor.OpDiv, a, b) }

// Maximum returns max(a,b) elementwise; at ties the gradient goes to a.
func Maximum(a, b *Var) *Var { return binary(tensor.OpMax, a, b) }

// Minimum returns min(a,b) elementwise; at ties the gradient goes to a.
func Minimum(a, b *Var) *Var { return binary(tensor.OpMin, a, b) }

// Pow returns a^b elementwise (a > 0 where b is differentiated).
func Pow(a, b *Var) *Var { return binary(tensor.OpPow, a, b) }

// Greater returns 1 where a > b and 0 elsewhere, as a constant.
func Greater(a, b *Var) *Var { return comparison(tensor.OpGreater, a, b) }

// Equal returns 1 where a == b and 0 elsewhere, as a constant.
func Equal(a, b *Var) *Var { return comparison(tensor.OpEqual, a, b) }

func comparison(kind tensor.BinaryOp, a, b *Var) *Var {
	tp := tapeOf(a, b)
	shape, err := tensor.BroadcastShapes(a.value.Shape(), b.value.Shape())
	if err != nil {
		panic(fmt.Sprintf("autodiff: %s: %v", kind, err))
	}
	be := deviceOf(kind.String(), a, b)
	out := tp.alloc(be, a.value.DType(), shape...)
	be.Binary(kind, out, a.value, b.value)
	return tp.Const(out)
}

func (o binaryOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	a, b := in[0], in[1]
	var ga, gb *Var
	switch o.kind {
	case tensor.OpAdd:
		ga, gb = g, g
	case tensor.OpSub:
		ga = g
		if needs[1] {
			gb = Neg(g)
		}
	case tensor.OpMul:
		if needs[0] {
			ga = Mul(g, b)
		}
		if needs[1] {
			gb = Mul(g, a)
		}
	case tensor.OpDiv:
		if needs[0] {
			ga = Div(g, b)
		}
		if needs[1] {
			gb = Neg(Mul(g, Div(out, b)))
		}
	case tensor.OpMax, tensor.OpMin:
		// mask is 1 where a won; constant, so second derivatives are 0 a.e.
		var mask *Var
		if o.kind == tensor.OpMax {
			mask = OneMinus(Greater(b, a))
		} else {
			mask = OneMinus(Greater(a, b))
		}
		if needs[0] {
			ga = Mul(g, mask)
		}
		if needs[1] {
			gb = Mul(g, OneMinus(mask))
		}
	case tensor.OpPow:
		if needs[0] {
			ga = Mul(g, Mul(b, Pow(a, AddScalar(b, -1))))
		}
		if needs[1] {
			gb = Mul(g, Mul(out, Log(a)))
		}
	default:
		return nil // comparisons have zero derivative
	}
	return []*Var{reduceTo(ga, a), reduceTo(gb, b)}
}

// reduceTo sums a broadcast cotangent back to the shape of x.
func reduceTo(g, x *Var) *Var {
	if g == nil || g.Shape().Equal(x.Shape()) {
		return g
	}
	return SumTo(g, x.Shape())
}

type scaleOp struct{ c float64 }

func (o scaleOp) Name() string { return "scale" }

// Scale returns c*x.
func Scale(x *Var, c float64) *Var {
	tp := tapeOf(x)
	be := deviceOf("scale", x)
	out := tp.alloc(be, x.value.DType(), x.value.Shape()...)
	be.ScalarOp(tensor.OpMul, out, x.value, c, false)
	return tp.record(scaleOp{c}, out, x)
}

func (o scaleOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	return []*Var{Scale(g, o.c)}
}

type addScalarOp struct{ c float64 }

func (o addScalarOp) Name() string { return "add_scalar" }

// AddScalar returns x+c.
func AddScalar(x *Var, c float64) *Var {
	tp := tapeOf(x)
	be := deviceOf("add_scalar", x)
	out := tp.alloc(be, x.value.DType(), x.value.Shape()...)
	be.ScalarOp(tensor.OpAdd, out, x.value, c, false)
	return tp.record(addScalarOp{c}, out, x)
}

func (o addScalarOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	return []*Var{g}
}

// OneMinus returns 1-x.
func OneMinus(x *Var) *Var { return AddScalar(Neg(x), 1) }

// scalarTensor returns a one-element tensor owned by the tape (for a
// broadcast; scalar operands of elementwise ops use Backend.ScalarOp).
func (tp *Tape) scalarTensor(be tensor.Backend, dt tensor.DType, c float64) *tensor.Tensor {
	s := tp.alloc(be, dt)
	be.Fill(s, c)
	return s
}
