package autodiff

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

type sumToOp struct{}

func (sumToOp) Name() string { return "sum_to" }

// SumTo sums x down to shape, which must broadcast to x's shape (NumPy
// rules): the adjoint of BroadcastTo.
func SumTo(x *Var, shape tensor.Shape) *Var {
	tp := tapeOf(x)
	if x.value.Shape().Equal(shape) {
		return x
	}
	be := deviceOf("ReduceTo", x)
	out := tp.alloc(be, x.value.DType(), shape...)
	be.ReduceTo(tensor.ReduceSum, out, x.value)
	return tp.record(sumToOp{}, out, x)
}

func (sumToOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	return []*Var{BroadcastTo(g, in[0].Shape())}
}

type broadcastOp struct{}

func (broadcastOp) Name() string { return "broadcast_to" }

// BroadcastTo repeats x to shape by NumPy broadcasting.
func BroadcastTo(x *Var, shape tensor.Shape) *Var {
	tp := tapeOf(x)
	if x.value.Shape().Equal(shape) {
		return x
	}
	if !tensor.CanBroadcastTo(x.value.Shape(), shape) {
		panic(fmt.Sprintf("autodiff: cannot broadcast %v to %v", x.value.Shape(), shape))
	}
	be := deviceOf("broadcast_to", x)
	out := tp.alloc(be, x.value.DType(), shape...)
	zero := tp.scalarTensor(be, x.value.DType(), 0)
	be.Binary(tensor.OpAdd, out, x.value, zero)
	return tp.record(broadcastOp{}, out, x)
}

func (broadcastOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	return []*Var{SumTo(g, in[0].Shape())}
}

// keptShape returns x's shape with the given axes set to 1, and the shape
// with them removed. Negative axes count from the end; no axes means all.
func keptShape(s tensor.Shape, axes []int) (kept, dropped tensor.Shape) {
	kept = s.Clone()
	if len(axes) == 0 {
		for i := range kept {
			kept[i] = 1
		}
		return kept, tensor.Shape{}
	}
	for _, a := range axes {
		if a < 0 {
			a += len(s)
		}
		if a < 0 || a >= len(s) {
			panic(fmt.Sprintf("autodiff: axis %d out of range for shape %v", a, s))
		}
		kept[a] = -1
	}
	for i, d := range kept {
		if d == -1 {
			kept[i] = 1
		} else {
			dropped = append(dropped, d)
		}
	}
	if dropped == nil {
		dropped = tensor.Shape{}
	}
	return kept, dropped
}

// Sum sums over the given axes (all when none), removing them.
func Sum(x *Var, axes ...int) *Var {
	kept, dropped := keptShape(x.Shape(), axes)
	return Reshape(SumTo(x, kept), dropped...)
}

// SumKeep sums over the given axes (all when none), keeping them with extent 1.
func SumKeep(x *Var, axes ...int) *Var {
	kept, _ := keptShape(x.Shape(), axes)
	return SumTo(x, kept)
}

// Mean averages over the given axes (all when none), removing them.
func Mean(x *Var, axes ...int) *Var {
	kept, _ := keptShape(x.Shape(), axes)
	n := x.Shape().Numel() / max(kept.Numel(), 1)
	return Scale(Sum(x, axes...), 1/float64(n))
}

type maxToOp struct{}

func (maxToOp) Name() string { return "max_to" }

// MaxKeep takes the maximum over the given axes (all when none), keeping
// them with extent 1. At ties the gradient is shared equally.
func MaxKeep(x *Var, axes ...int) *Var {
	tp := tapeOf(x)
	kept, _ := keptShape(x.Shape(), axes)
	be := deviceOf("ReduceTo", x)
	out := tp.alloc(be, x.value.DType(), kept...)
	be.ReduceTo(tensor.ReduceMax, out, x.value)
	return tp.record(maxToOp{}, out, x)
}

func (maxToOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	x := in[0]
	mask := Equal(x, out)
	count := Detach(SumTo(mask, out.Shape()))
	return []*Var{Mul(mask, BroadcastTo(Div(g, count), x.Shape()))}
}

// LogSumExp returns log(sum(exp(x))) over the given axes (all when none),
// keeping them, computed stably by shifting with the (constant) maximum.
func LogSumExp(x *Var, axes ...int) *Var {
	m := Detach(MaxKeep(x, axes...))
	return Add(Log(SumKeep(Exp(Sub(x, m)), axes...)), m)
}
