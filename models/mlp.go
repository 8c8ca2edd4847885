package models

import (
	"fmt"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// MLPOptions configure the mlp kind.
type MLPOptions struct {
	InputDim   int        `json:"input_dim"`  // default 784
	Hidden     []int      `json:"hidden"`     // default [512, 512]
	Activation Activation `json:"activation"` // default softplus
}

func init() {
	register("mlp", "MLP energy E(x) = L_k(act(...act(L_0(x)))), log p~ = -E",
		func() *MLPOptions {
			return &MLPOptions{InputDim: 784, Hidden: []int{512, 512}, Activation: ActSoftplus}
		},
		func(b *Builder, o *MLPOptions) (Model, error) { return NewMLP(b, *o) })
}

// MLP is an energy network of Linear layers with a scalar last layer and no
// activation after it. Parameters: layers.{i}.weight [out, in], layers.{i}.bias.
type MLP struct {
	opts   MLPOptions
	layers []*Linear
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
	dims := append(append([]int{o.InputDim}, o.Hidden...), 1)
	for i := 0; i+1 < len(dims); i++ {
		m.layers = append(m.layers, NewLinear(b, fmt.Sprintf("layers.%d", i), dims[i], dims[i+1], true))
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
		if i+1 < len(m.layers) {
			h = m.opts.Activation.Apply(h)
		}
	}
	return ad.Reshape(h, -1)
}

// LogDensity returns -E(x).
func (m *MLP) LogDensity(x *ad.Var) *ad.Var { return ad.Neg(m.Energy(x)) }
