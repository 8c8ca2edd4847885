package autodiff

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

// A tape spans devices: every operation runs on its inputs' device
// (deviceOf), and To is the one operation that moves a Var between them.

type transferOp struct{ from tensor.Backend }

func (transferOp) Name() string { return "to" }

// To returns x's value on be (x itself when it is there already): the way
// a Var crosses devices. Its adjoint moves the cotangent back to x's device,
// so gradients, of any order, flow through it.
func To(x *Var, be tensor.Backend) *Var {
	tp := tapeOf(x)
	from := x.value.Backend()
	if from == be {
		return x
	}
	out := tp.alloc(be, x.value.DType(), x.value.Shape()...)
	CopyAcross(out, x.value)
	return tp.record(transferOp{from}, out, x)
}

func (o transferOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	return []*Var{To(g, o.from)}
}

// CopyAcross copies src into dst, which may belong to another backend:
// directly between host memories or between the lanes of one GPU
// (tensor.DirectCopier), else through a host buffer (the typed
// read waits for the work that wrote src; the write is ordered on dst's
// backend as any other).
func CopyAcross(dst, src *tensor.Tensor) {
	if dst.DType() != src.DType() || dst.Numel() != src.Numel() {
		panic(fmt.Sprintf("autodiff: copy %s %v into %s %v", src.DType(), src.Shape(), dst.DType(), dst.Shape()))
	}
	if dst.Backend() == src.Backend() {
		dst.Backend().Copy(dst, src)
		return
	}
	if dc, ok := dst.Backend().(tensor.DirectCopier); ok && dc.CopyFromOther(dst, src) {
		return
	}
	switch {
	case dst.IsHost() && src.IsHost() && src.DType() == tensor.Float32:
		copy(dst.Float32s(), src.Float32s())
	case dst.IsHost() && src.IsHost():
		copy(dst.Float64s(), src.Float64s())
	case src.DType() == tensor.Float32:
		buf := make([]float32, src.Numel())
		src.Backend().ReadFloat32s(buf, src)
		dst.Backend().WriteFloat32s(dst, buf)
	default:
		buf := make([]float64, src.Numel())
		src.Backend().ReadFloat64s(buf, src)
		dst.Backend().WriteFloat64s(dst, buf)
	}
}
