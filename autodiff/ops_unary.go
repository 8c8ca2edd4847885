package autodiff

import (
	"github.com/fdsm-go/fdsm/tensor"
)

type unaryOp struct{ kind tensor.UnaryOp }

func (o unaryOp) Name() string { return o.kind.String() }

func unary(kind tensor.UnaryOp, x *Var) *Var {
	tp := tapeOf(x)
	be := deviceOf(kind.String(), x)
	out := tp.alloc(be, x.value.DType(), x.value.Shape()...)
	be.Unary(kind, out, x.value)
	return tp.record(unaryOp{kind}, out, x)
}

// Neg returns -x.
func Neg(x *Var) *Var { return unary(tensor.OpNeg, x) }

// Exp returns e^x.
func Exp(x *Var) *Var { return unary(tensor.OpExp, x) }

// Log returns ln x.
func Log(x *Var) *Var { return unary(tensor.OpLog, x) }

// Log1p returns ln(1+x).
func Log1p(x *Var) *Var { return unary(tensor.OpLog1p, x) }

// Expm1 returns e^x - 1.
func Expm1(x *Var) *Var { return unary(tensor.OpExpm1, x) }

// Sqrt returns √x.
func Sqrt(x *Var) *Var { return unary(tensor.OpSqrt, x) }

// Square returns x².
func Square(x *Var) *Var { return unary(tensor.OpSquare, x) }

// Reciprocal returns 1/x.
func Reciprocal(x *Var) *Var { return unary(tensor.OpReciprocal, x) }

// Tanh returns tanh x.
func Tanh(x *Var) *Var { return unary(tensor.OpTanh, x) }

// Sigmoid returns 1/(1+e^-x).
func Sigmoid(x *Var) *Var { return unary(tensor.OpSigmoid, x) }

// Softplus returns ln(1+e^x).
func Softplus(x *Var) *Var { return unary(tensor.OpSoftplus, x) }

// ELU returns x for x > 0 and e^x - 1 otherwise (alpha 1).
func ELU(x *Var) *Var { return unary(tensor.OpELU, x) }

// Sin returns sin x.
func Sin(x *Var) *Var { return unary(tensor.OpSin, x) }

// Cos returns cos x.
func Cos(x *Var) *Var { return unary(tensor.OpCos, x) }

// Abs returns |x|; its derivative at 0 is taken as 0.
func Abs(x *Var) *Var { return unary(tensor.OpAbs, x) }

// Sign returns the sign of x as a constant.
func Sign(x *Var) *Var { return constUnary(tensor.OpSign, x) }

// Step returns 1 where x > 0 and 0 elsewhere, as a constant.
func Step(x *Var) *Var { return constUnary(tensor.OpStep, x) }

func constUnary(kind tensor.UnaryOp, x *Var) *Var {
	tp := tapeOf(x)
	be := deviceOf(kind.String(), x)
	out := tp.alloc(be, x.value.DType(), x.value.Shape()...)
	be.Unary(kind, out, x.value)
	return tp.Const(out)
}

// ReLU returns max(x, 0).
func ReLU(x *Var) *Var { return Mul(x, Step(x)) }

func (o unaryOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	x := in[0]
	var gx *Var
	switch o.kind {
	case tensor.OpNeg:
		gx = Neg(g)
	case tensor.OpExp:
		gx = Mul(g, out)
	case tensor.OpLog:
		gx = Div(g, x)
	case tensor.OpLog1p:
		gx = Div(g, AddScalar(x, 1))
	case tensor.OpExpm1:
		gx = Mul(g, AddScalar(out, 1))
	case tensor.OpSqrt:
		gx = Div(Scale(g, 0.5), out)
	case tensor.OpSquare:
		gx = Mul(g, Scale(x, 2))
	case tensor.OpReciprocal:
		gx = Neg(Mul(g, Square(out)))
	case tensor.OpTanh:
		gx = Mul(g, OneMinus(Square(out)))
	case tensor.OpSigmoid:
		gx = Mul(g, Mul(out, OneMinus(out)))
	case tensor.OpSoftplus:
		gx = Mul(g, Sigmoid(x))
	case tensor.OpELU:
		// ELU'(x) = 1 for x > 0, e^x = out+1 otherwise: 1 + (1-step(x))*out.
		gx = Mul(g, AddScalar(Mul(out, OneMinus(Step(x))), 1))
	case tensor.OpSin:
		gx = Mul(g, Cos(x))
	case tensor.OpCos:
		gx = Neg(Mul(g, Sin(x)))
	case tensor.OpAbs:
		gx = Mul(g, Sign(x))
	default:
		return nil // sign and step: zero derivative
	}
	return []*Var{gx}
}
