package models

import (
	"fmt"
	"math"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// MLPOptions configure the mlp kind.
type MLPOptions struct {
	InputDim   int        `json:"input_dim"`  // default 784
	Hidden     []int      `json:"hidden"`     // default [512, 512]
	Activation Activation `json:"activation"` // default softplus
	// Head is the output layer: "linear" (default), a Linear(last → 1), or
	// "quadratic", the deep EBM's l1(h)·l2(h) + lq(h²) on the last hidden
	// layer, whose energy can grow quadratically far from the data (a
	// linear head on softplus features grows only linearly, so its
	// gradient cannot match the large-noise targets of multiscale DSM).
	Head string `json:"head"`
	// BasePrecision, when positive, adds a Gaussian base term
	// ½·exp(base.log_precision)·‖x‖² to the energy, the precision learned
	// from this initial value (DKEF's log p~ has such a base). Far from the
	// data the energy of multiscale DSM grows like ‖x‖²/(2s0²); softplus
	// layers grow only linearly, so without the base the network spends
	// itself on that growth (s0 = 0.1 suggests 100).
	BasePrecision float64 `json:"base_precision"`
}

func init() {
	register("mlp", "MLP energy E(x) = L_k(act(...act(L_0(x)))), log p~ = -E",
		func() *MLPOptions {
			return &MLPOptions{InputDim: 784, Hidden: []int{512, 512}, Activation: ActSoftplus, Head: "linear"}
		},
		func(b *Builder, o *MLPOptions) (Model, error) { return NewMLP(b, *o) })
}

// MLP is an energy network of Linear layers with a scalar last layer and no
// activation after it, or the quadratic head. Parameters:
// layers.{i}.weight [out, in], layers.{i}.bias; with the quadratic head the
// hidden layers are layers.{i} and the head head.{l1,l2,lq}.
type MLP struct {
	opts   MLPOptions
	layers []*Linear
	head   *QuadraticHead // nil: the last layer is linear
	base   *ad.Param      // log precision of the Gaussian base; nil: none
	params []*ad.Param
	dt     tensor.DType
}

// NewMLP builds an MLP energy.
func NewMLP(b *Builder, o MLPOptions) (*MLP, error) {
	if o.InputDim <= 0 {
		return nil, fmt.Errorf("input_dim must be positive, got %d", o.InputDim)
	}
	for _, h := range o.Hidden {
		if h <= 0 {
			return nil, fmt.Errorf("hidden sizes must be positive, got %v", o.Hidden)
		}
	}
	if err := o.Activation.Validate(); err != nil {
		return nil, err
	}
	m := &MLP{opts: o, dt: b.DType()}
	dims := append([]int{o.InputDim}, o.Hidden...)
	switch o.Head {
	case "", "linear":
		dims = append(dims, 1)
	case "quadratic":
		if len(o.Hidden) == 0 {
			return nil, fmt.Errorf("head quadratic needs at least one hidden layer")
		}
	default:
		return nil, fmt.Errorf("unknown head %q (valid: linear, quadratic)", o.Head)
	}
	for i := 0; i+1 < len(dims); i++ {
		m.layers = append(m.layers, NewLinear(b, fmt.Sprintf("layers.%d", i), dims[i], dims[i+1], true))
	}
	if o.Head == "quadratic" {
		m.head = NewQuadraticHead(b, "head", dims[len(dims)-1])
	}
	if o.BasePrecision < 0 || math.IsNaN(o.BasePrecision) || math.IsInf(o.BasePrecision, 0) {
		return nil, fmt.Errorf("base_precision must be >= 0 and finite, got %g", o.BasePrecision)
	}
	if o.BasePrecision > 0 {
		m.base = b.Const("base.log_precision", math.Log(o.BasePrecision), 1)
	}
	m.params = b.Params()
	return m, nil
}

func (m *MLP) Spec() Spec          { return specOf("mlp", m.opts) }
func (m *MLP) Params() []*ad.Param { return m.params }
func (m *MLP) InputShape() []int   { return []int{m.opts.InputDim} }
func (m *MLP) DType() tensor.DType { return m.dt }

// Energy returns E(x) per sample; x may have any shape [n, ...] with
// InputDim elements per sample.
func (m *MLP) Energy(x *ad.Var) *ad.Var {
	h := ad.Reshape(x, x.Shape()[0], -1)
	for i, l := range m.layers {
		h = l.Forward(h)
		if i+1 < len(m.layers) || m.head != nil {
			h = m.opts.Activation.Apply(h)
		}
	}
	var e *ad.Var
	if m.head != nil {
		e = m.head.Forward(h)
	} else {
		e = ad.Reshape(h, -1)
	}
	if m.base != nil {
		flat := ad.Reshape(x, x.Shape()[0], -1)
		prec := ad.Exp(x.Tape().Param(m.base))
		e = ad.Add(e, ad.Mul(ad.Scale(ad.Sum(ad.Square(flat), 1), 0.5), prec))
	}
	return e
}

// LogDensity returns -E(x).
func (m *MLP) LogDensity(x *ad.Var) *ad.Var { return ad.Neg(m.Energy(x)) }
