package models

import (
	"fmt"
	"math"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// NICEOptions configure the nice kind. The defaults are the paper's MNIST
// model: 15,154,352 parameters for input_dim 784.
type NICEOptions struct {
	InputDim       int `json:"input_dim"`       // d, even; default 784
	Hidden         int `json:"hidden"`          // width of the coupling nets; default 1000
	CouplingLayers int `json:"coupling_layers"` // default 4
	// HiddenLayers counts the hidden layers of each coupling net, i.e. its
	// Linear layers of output width Hidden; the net has HiddenLayers+1
	// Linear layers (d/2→hidden, HiddenLayers-1 × hidden→hidden,
	// hidden→d/2). Default 4, the reference's 392→1000, 3×(1000→1000), 1000→392.
	HiddenLayers int        `json:"hidden_layers"`
	Activation   Activation `json:"activation"` // between Linear layers, none after the last; default softplus
}

func init() {
	register("nice", "NICE flow: even/odd split, additive couplings with MLP shifts, diagonal scale; exact log p",
		func() *NICEOptions {
			return &NICEOptions{InputDim: 784, Hidden: 1000, CouplingLayers: 4, HiddenLayers: 4, Activation: ActSoftplus}
		},
		func(b *Builder, o *NICEOptions) (Model, error) { return NewNICE(b, *o) })
}

// NICE is the flow of Dinh et al. (2014) as in the paper's reference code.
// With x flattened to d values, f(x) = z is:
//
//  1. split: first half h₀ = x[0::2] (even indices), second half h₁ =
//     x[1::2] (odd indices), i.e. the fixed permutation "evens then odds";
//  2. coupling k = 0..K-1 (additive): k even sets h₁ ← h₁ + m_k(h₀), k odd
//     sets h₀ ← h₀ + m_k(h₁), m_k an MLP (see NICEOptions.HiddenLayers);
//  3. z = concat(h₀, h₁) · exp(s), s ∈ ℝᵈ initialised to 0.
//
// log p(x) = Σᵢ log N(zᵢ; 0, 1) + Σ s = -(d/2) log 2π - ½‖z‖² + Σ s, exact
// because additive couplings have unit Jacobian determinant.
//
// Parameters (in PyTorch state_dict order, see tools/pytorch/nice.py):
// scale [d] (s), then couplings.{k}.layers.{i}.weight [out, in] and
// couplings.{k}.layers.{i}.bias [out].
type NICE struct {
	opts      NICEOptions
	scale     *ad.Param
	couplings []NICECoupling
	params    []*ad.Param
	dt        tensor.DType
}

// NICECoupling is one additive coupling layer, exposed so that objectives
// which propagate derivatives layer by layer (Approx BP, curvature
// propagation) can walk the network.
type NICECoupling struct {
	// Net is the shift network m: Linear layers with the model's activation
	// between them and none after the last.
	Net []*Linear
	// Swap is false when the coupling transforms the second half conditioned
	// on the first (h₁ ← h₁ + m(h₀); couplings 0, 2, ...) and true for the
	// opposite (h₀ ← h₀ + m(h₁); couplings 1, 3, ...). Halves are those of
	// Split.
	Swap bool
}

// NewNICE builds a NICE flow.
func NewNICE(b *Builder, o NICEOptions) (*NICE, error) {
	switch {
	case o.InputDim <= 0 || o.InputDim%2 != 0:
		return nil, fmt.Errorf("input_dim must be positive and even, got %d", o.InputDim)
	case o.Hidden <= 0:
		return nil, fmt.Errorf("hidden must be positive, got %d", o.Hidden)
	case o.CouplingLayers <= 0:
		return nil, fmt.Errorf("coupling_layers must be positive, got %d", o.CouplingLayers)
	case o.HiddenLayers <= 0:
		return nil, fmt.Errorf("hidden_layers must be positive, got %d", o.HiddenLayers)
	}
	if err := o.Activation.Validate(); err != nil {
		return nil, err
	}
	m := &NICE{opts: o, dt: b.DType()}
	// scale first: PyTorch lists a module's own parameters before its children's.
	m.scale = b.Const("scale", 0, o.InputDim)
	half := o.InputDim / 2
	dims := []int{half}
	for range o.HiddenLayers {
		dims = append(dims, o.Hidden)
	}
	dims = append(dims, half)
	for k := range o.CouplingLayers {
		c := NICECoupling{Swap: k%2 == 1}
		for i := 0; i+1 < len(dims); i++ {
			c.Net = append(c.Net, NewLinear(b, fmt.Sprintf("couplings.%d.layers.%d", k, i), dims[i], dims[i+1], true))
		}
		m.couplings = append(m.couplings, c)
	}
	m.params = b.Params()
	return m, nil
}

func (m *NICE) Spec() Spec          { return specOf("nice", m.opts) }
func (m *NICE) Params() []*ad.Param { return m.params }
func (m *NICE) InputShape() []int   { return []int{m.opts.InputDim} }
func (m *NICE) DType() tensor.DType { return m.dt }

// Couplings returns the coupling layers in the order Forward applies them.
func (m *NICE) Couplings() []NICECoupling { return m.couplings }

// Scale returns the log-scale parameter s [d].
func (m *NICE) Scale() *ad.Param { return m.scale }

// Activation returns the nonlinearity of the coupling nets.
func (m *NICE) Activation() Activation { return m.opts.Activation }

// Shift evaluates coupling k's net m_k on a half h [n, d/2].
func (m *NICE) Shift(k int, h *ad.Var) *ad.Var {
	net := m.couplings[k].Net
	for i, l := range net {
		h = l.Forward(h)
		if i+1 < len(net) {
			h = m.opts.Activation.Apply(h)
		}
	}
	return h
}

// Split applies the fixed permutation to x [n, ...] (d values per sample),
// returning its even-indexed and odd-indexed values, each [n, d/2].
func (m *NICE) Split(x *ad.Var) (first, second *ad.Var) {
	n, half := x.Shape()[0], m.opts.InputDim/2
	// Viewing x as [n, d/2, 2] puts index 2j at [j, 0] and 2j+1 at [j, 1].
	p := ad.Reshape(x, n, half, 2)
	return ad.Reshape(ad.Slice(p, 2, 0, 1), n, half), ad.Reshape(ad.Slice(p, 2, 1, 2), n, half)
}

// Merge is Split's inverse: it interleaves the halves back to [n, d].
func (m *NICE) Merge(first, second *ad.Var) *ad.Var {
	n, half := first.Shape()[0], m.opts.InputDim/2
	p := ad.Concat(2, ad.Reshape(first, n, half, 1), ad.Reshape(second, n, half, 1))
	return ad.Reshape(p, n, 2*half)
}

// Forward maps x [n, ...] (d values per sample) to z = f(x) [n, d], z in the
// permuted order (evens, then odds).
func (m *NICE) Forward(x *ad.Var) *ad.Var {
	h0, h1 := m.Split(x)
	for k, c := range m.couplings {
		if c.Swap {
			h0 = ad.Add(h0, m.Shift(k, h1))
		} else {
			h1 = ad.Add(h1, m.Shift(k, h0))
		}
	}
	return ad.Mul(ad.Concat(1, h0, h1), ad.Exp(x.Tape().Param(m.scale)))
}

// Inverse maps z [n, d] to x = f⁻¹(z) [n, d]: it undoes the scale, then the
// couplings in reverse order (subtracting the same shifts), then the
// permutation.
func (m *NICE) Inverse(z *ad.Var) *ad.Var {
	half := m.opts.InputDim / 2
	y := ad.Mul(ad.Reshape(z, z.Shape()[0], -1), ad.Exp(ad.Neg(z.Tape().Param(m.scale))))
	h0, h1 := ad.Slice(y, 1, 0, half), ad.Slice(y, 1, half, 2*half)
	for k := len(m.couplings) - 1; k >= 0; k-- {
		if m.couplings[k].Swap {
			h0 = ad.Sub(h0, m.Shift(k, h1))
		} else {
			h1 = ad.Sub(h1, m.Shift(k, h0))
		}
	}
	return m.Merge(h0, h1)
}

// LogDensity returns the exact log p(x) [n] under the standard normal prior:
// -(d/2) log 2π - ½‖f(x)‖² + Σ s.
func (m *NICE) LogDensity(x *ad.Var) *ad.Var {
	z := m.Forward(x)
	d := float64(m.opts.InputDim)
	lp := ad.AddScalar(ad.Scale(ad.Sum(ad.Square(z), 1), -0.5), -0.5*d*math.Log(2*math.Pi))
	return ad.Add(lp, ad.Sum(x.Tape().Param(m.scale)))
}
