package models

import (
	"fmt"
	"math"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// Linear is PyTorch's nn.Linear: y = x Wᵀ + b, weight [out, in].
type Linear struct {
	Weight, Bias *ad.Param // Bias nil without bias
}

// NewLinear creates name.weight and name.bias (when bias is true).
func NewLinear(b *Builder, name string, in, out int, bias bool) *Linear {
	l := &Linear{Weight: b.Param(join(name, "weight"), fanInUniform(in), out, in)}
	if bias {
		l.Bias = b.Param(join(name, "bias"), fanInUniform(in), out)
	}
	return l
}

// Forward maps x [n, in] to [n, out].
func (l *Linear) Forward(x *ad.Var) *ad.Var {
	tp := x.Tape()
	var bias *ad.Var
	if l.Bias != nil {
		bias = tp.Param(l.Bias)
	}
	return ad.Linear(x, tp.Param(l.Weight), bias)
}

// Conv2d is PyTorch's nn.Conv2d (no groups): weight [out, in, k, k], bias [out].
type Conv2d struct {
	Weight, Bias *ad.Param
	P            tensor.ConvParams
}

// NewConv2d creates a k×k convolution with the given stride, padding and dilation.
func NewConv2d(b *Builder, name string, in, out, k, stride, pad, dilation int, bias bool) *Conv2d {
	fan := in * k * k
	c := &Conv2d{Weight: b.Param(join(name, "weight"), fanInUniform(fan), out, in, k, k), P: tensor.Conv(stride, pad, dilation)}
	if bias {
		c.Bias = b.Param(join(name, "bias"), fanInUniform(fan), out)
	}
	return c
}

// Forward maps x [n, in, h, w] to [n, out, oh, ow].
func (c *Conv2d) Forward(x *ad.Var) *ad.Var {
	tp := x.Tape()
	y := ad.Conv2D(x, tp.Param(c.Weight), c.P)
	if c.Bias != nil {
		out := c.Bias.Value.Dim(0)
		y = ad.Add(y, ad.Reshape(tp.Param(c.Bias), 1, out, 1, 1))
	}
	return y
}

// AvgPool2d averages k×k windows with stride k (PyTorch's nn.AvgPool2d(k)).
func AvgPool2d(x *ad.Var, k int) *ad.Var {
	return ad.AvgPool2D(x, tensor.PoolParams{Kernel: k})
}

// Activation names an elementwise nonlinearity.
type Activation string

// The activations the models use.
const (
	ActSoftplus        Activation = "softplus"
	ActShiftedSoftplus Activation = "shifted_softplus" // softplus(x) - ln 2, zero at 0
	ActELU             Activation = "elu"
	ActTanh            Activation = "tanh"
	ActSigmoid         Activation = "sigmoid"
	ActSwish           Activation = "swish" // x·sigmoid(x)
)

var activations = []Activation{ActSoftplus, ActShiftedSoftplus, ActELU, ActTanh, ActSigmoid, ActSwish}

// Validate reports an unknown activation, listing the valid ones.
func (a Activation) Validate() error {
	for _, v := range activations {
		if a == v {
			return nil
		}
	}
	return fmt.Errorf("unknown activation %q (valid: %v)", a, activations)
}

// Apply evaluates the activation. It panics for an unknown name (specs are
// validated when built).
func (a Activation) Apply(x *ad.Var) *ad.Var {
	switch a {
	case ActSoftplus:
		return ad.Softplus(x)
	case ActShiftedSoftplus:
		return ad.AddScalar(ad.Softplus(x), -math.Ln2)
	case ActELU:
		return ad.ELU(x)
	case ActTanh:
		return ad.Tanh(x)
	case ActSigmoid:
		return ad.Sigmoid(x)
	case ActSwish:
		return ad.Mul(x, ad.Sigmoid(x))
	}
	panic(fmt.Sprintf("models: unknown activation %q", a))
}

// QuadraticHead is the deep EBM's output: l1(h)·l2(h) + lq(h²), each a
// Linear(in → 1), giving one energy per sample.
type QuadraticHead struct {
	L1, L2, LQ *Linear
}

// NewQuadraticHead creates name.l1, name.l2 and name.lq.
func NewQuadraticHead(b *Builder, name string, in int) *QuadraticHead {
	return &QuadraticHead{
		L1: NewLinear(b, join(name, "l1"), in, 1, true),
		L2: NewLinear(b, join(name, "l2"), in, 1, true),
		LQ: NewLinear(b, join(name, "lq"), in, 1, true),
	}
}

// Forward maps h [n, in] to [n].
func (q *QuadraticHead) Forward(h *ad.Var) *ad.Var {
	y := ad.Add(ad.Mul(q.L1.Forward(h), q.L2.Forward(h)), q.LQ.Forward(ad.Square(h)))
	return ad.Reshape(y, -1)
}
