package autodiff

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

// The convolution family is closed under differentiation: with y = C(x, w)
// bilinear, <u, C(x,w)> = <C^T(u, w), x> = <W(x, u), w>, where C^T is the
// input gradient (transposed convolution) and W the weight gradient. Each
// VJP below is one of the three, so every order of derivative stays in the
// family.

type conv2dOp struct{ p tensor.ConvParams }

func (conv2dOp) Name() string { return "conv2d" }

// Conv2D cross-correlates x [N,C,H,W] with w [O,C,KH,KW] (no bias).
func Conv2D(x, w *Var, p tensor.ConvParams) *Var {
	tp := tapeOf(x, w)
	xs, ws := x.value.Shape(), w.value.Shape()
	if len(xs) != 4 || len(ws) != 4 || xs[1] != ws[1] {
		panic(fmt.Sprintf("autodiff: conv2d of x%v with w%v", xs, ws))
	}
	oh, ow := p.OutSize(xs[2], xs[3], ws[2], ws[3])
	be := deviceOf("Conv2D", x, w)
	out := tp.alloc(be, x.value.DType(), xs[0], ws[0], oh, ow)
	be.Conv2D(out, x.value, w.value, p)
	return tp.record(conv2dOp{p}, out, x, w)
}

func (o conv2dOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	x, w := in[0], in[1]
	var gx, gw *Var
	if needs[0] {
		gx = conv2dInputGrad(g, w, x.Shape(), o.p)
	}
	if needs[1] {
		gw = conv2dWeightGrad(x, g, w.Shape(), o.p)
	}
	return []*Var{gx, gw}
}

type convInputGradOp struct{ p tensor.ConvParams }

func (convInputGradOp) Name() string { return "conv2d_input_grad" }

func conv2dInputGrad(gy, w *Var, xShape tensor.Shape, p tensor.ConvParams) *Var {
	tp := tapeOf(gy, w)
	be := deviceOf("Conv2DInputGrad", gy, w)
	out := tp.alloc(be, gy.value.DType(), xShape...)
	be.Conv2DInputGrad(out, gy.value, w.value, p)
	return tp.record(convInputGradOp{p}, out, gy, w)
}

func (o convInputGradOp) VJP(u, out *Var, in []*Var, needs []bool) []*Var {
	gy, w := in[0], in[1]
	var ggy, gw *Var
	if needs[0] {
		ggy = Conv2D(u, w, o.p)
	}
	if needs[1] {
		gw = conv2dWeightGrad(u, gy, w.Shape(), o.p)
	}
	return []*Var{ggy, gw}
}

type convWeightGradOp struct{ p tensor.ConvParams }

func (convWeightGradOp) Name() string { return "conv2d_weight_grad" }

func conv2dWeightGrad(x, gy *Var, wShape tensor.Shape, p tensor.ConvParams) *Var {
	tp := tapeOf(x, gy)
	be := deviceOf("Conv2DWeightGrad", x, gy)
	out := tp.alloc(be, x.value.DType(), wShape...)
	be.Conv2DWeightGrad(out, x.value, gy.value, p)
	return tp.record(convWeightGradOp{p}, out, x, gy)
}

func (o convWeightGradOp) VJP(u, out *Var, in []*Var, needs []bool) []*Var {
	x, gy := in[0], in[1]
	var gx, ggy *Var
	if needs[0] {
		gx = conv2dInputGrad(gy, u, x.Shape(), o.p)
	}
	if needs[1] {
		ggy = Conv2D(x, u, o.p)
	}
	return []*Var{gx, ggy}
}

type avgPoolOp struct{ p tensor.PoolParams }

func (avgPoolOp) Name() string { return "avg_pool2d" }

// AvgPool2D averages windows of x [N,C,H,W] (padding counts as zeros).
func AvgPool2D(x *Var, p tensor.PoolParams) *Var {
	tp := tapeOf(x)
	xs := x.value.Shape()
	if len(xs) != 4 {
		panic(fmt.Sprintf("autodiff: avg_pool2d of %v", xs))
	}
	oh, ow := p.OutSize(xs[2], xs[3])
	be := deviceOf("AvgPool2D", x)
	out := tp.alloc(be, x.value.DType(), xs[0], xs[1], oh, ow)
	be.AvgPool2D(out, x.value, p)
	return tp.record(avgPoolOp{p}, out, x)
}

func (o avgPoolOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	return []*Var{avgPoolAdjoint(g, in[0].Shape(), o.p)}
}

type avgPoolAdjointOp struct{ p tensor.PoolParams }

func (avgPoolAdjointOp) Name() string { return "avg_pool2d_adjoint" }

func avgPoolAdjoint(g *Var, xShape tensor.Shape, p tensor.PoolParams) *Var {
	tp := tapeOf(g)
	be := deviceOf("AvgPool2DAdjoint", g)
	out := tp.alloc(be, g.value.DType(), xShape...)
	be.AvgPool2DAdjoint(out, g.value, p)
	return tp.record(avgPoolAdjointOp{p}, out, g)
}

func (o avgPoolAdjointOp) VJP(u, out *Var, in []*Var, needs []bool) []*Var {
	return []*Var{AvgPool2D(u, o.p)}
}
