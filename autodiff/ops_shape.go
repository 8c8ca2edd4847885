package autodiff

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

type reshapeOp struct{}

func (reshapeOp) Name() string { return "reshape" }

// Reshape views x with a new shape of the same size (one extent may be -1).
// The result shares x's memory.
func Reshape(x *Var, shape ...int) *Var {
	tp := tapeOf(x)
	if x.value.Shape().Equal(shape) {
		return x
	}
	return tp.record(reshapeOp{}, x.value.Reshape(shape...), x)
}

func (reshapeOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	return []*Var{Reshape(g, in[0].Shape()...)}
}

type transposeOp struct{ perm []int }

func (transposeOp) Name() string { return "transpose" }

// Transpose permutes the axes of x: result axis i is x's axis perm[i].
func Transpose(x *Var, perm ...int) *Var {
	tp := tapeOf(x)
	s := x.value.Shape()
	if len(perm) != len(s) {
		panic(fmt.Sprintf("autodiff: transpose perm %v for shape %v", perm, s))
	}
	shape := make([]int, len(s))
	for i, p := range perm {
		shape[i] = s[p]
	}
	be := deviceOf("Transpose", x)
	out := tp.alloc(be, x.value.DType(), shape...)
	be.Transpose(out, x.value, perm)
	return tp.record(transposeOp{perm}, out, x)
}

// T transposes a matrix (rank 2) or the last two axes of a batch (rank 3).
func T(x *Var) *Var {
	switch len(x.Shape()) {
	case 2:
		return Transpose(x, 1, 0)
	case 3:
		return Transpose(x, 0, 2, 1)
	}
	panic(fmt.Sprintf("autodiff: T of shape %v", x.Shape()))
}

func (o transposeOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	inv := make([]int, len(o.perm))
	for i, p := range o.perm {
		inv[p] = i
	}
	return []*Var{Transpose(g, inv...)}
}

type sliceOp struct{ axis, start int }

func (sliceOp) Name() string { return "slice" }

// Slice returns x[..., start:end, ...] along axis (negative counts from the end).
func Slice(x *Var, axis, start, end int) *Var {
	tp := tapeOf(x)
	s := x.value.Shape()
	axis = normAxis(axis, len(s))
	if start < 0 || end < start || end > s[axis] {
		panic(fmt.Sprintf("autodiff: slice [%d:%d] of axis %d in shape %v", start, end, axis, s))
	}
	shape := s.Clone()
	shape[axis] = end - start
	be := deviceOf("Slice", x)
	out := tp.alloc(be, x.value.DType(), shape...)
	be.Slice(out, x.value, axis, start)
	return tp.record(sliceOp{axis, start}, out, x)
}

func (o sliceOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	return []*Var{padSlice(g, in[0].Shape(), o.axis, o.start)}
}

type padSliceOp struct{ axis, start int }

func (padSliceOp) Name() string { return "pad_slice" }

// padSlice places x at offset start along axis of a zero tensor of shape:
// the adjoint of Slice.
func padSlice(x *Var, shape tensor.Shape, axis, start int) *Var {
	tp := tapeOf(x)
	be := deviceOf("SetSlice", x)
	out := tp.allocZeros(be, x.value.DType(), shape...)
	be.SetSlice(out, x.value, axis, start)
	return tp.record(padSliceOp{axis, start}, out, x)
}

func (o padSliceOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	return []*Var{Slice(g, o.axis, o.start, o.start+in[0].Shape()[o.axis])}
}

type concatOp struct{ axis int }

func (concatOp) Name() string { return "concat" }

// Concat joins xs along axis.
func Concat(axis int, xs ...*Var) *Var {
	tp := tapeOf(xs...)
	s := xs[0].value.Shape()
	axis = normAxis(axis, len(s))
	shape := s.Clone()
	shape[axis] = 0
	ts := make([]*tensor.Tensor, len(xs))
	for i, x := range xs {
		ts[i] = x.value
		shape[axis] += x.value.Shape()[axis]
	}
	be := deviceOf("Concat", xs...)
	out := tp.alloc(be, xs[0].value.DType(), shape...)
	be.Concat(out, ts, axis)
	return tp.record(concatOp{axis}, out, xs...)
}

func (o concatOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	gs := make([]*Var, len(in))
	off := 0
	for i, x := range in {
		n := x.Shape()[o.axis]
		if needs[i] {
			gs[i] = Slice(g, o.axis, off, off+n)
		}
		off += n
	}
	return gs
}

func normAxis(axis, rank int) int {
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		panic(fmt.Sprintf("autodiff: axis out of range for rank %d", rank))
	}
	return axis
}
