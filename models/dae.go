package models

import (
	"fmt"
	"math"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// DAEOptions configure the dae kind.
type DAEOptions struct {
	InputDim   int        `json:"input_dim"`  // default 784
	Hidden     []int      `json:"hidden"`     // default [1024, 1024]
	Activation Activation `json:"activation"` // hidden layers; default softplus
	// Output is the reconstruction's activation: "sigmoid" (default, for
	// data in [0, 1]) or "linear".
	Output string `json:"output"`
	// Scale c in E(x) = ½·c·‖x - r(x)‖², learned from this initial value;
	// default 100 = 1/s0² for multiscale DSM's s0 = 0.1, so that s0²∇E is
	// x - r(x) wherever r's Jacobian is small.
	Scale float64 `json:"scale"`
}

func init() {
	register("dae", "reconstruction energy E(x) = ½·c·‖x - r(x)‖², r an MLP autoencoder, log p~ = -E",
		func() *DAEOptions {
			return &DAEOptions{InputDim: 784, Hidden: []int{1024, 1024}, Activation: ActSoftplus, Output: "sigmoid", Scale: 100}
		},
		func(b *Builder, o *DAEOptions) (Model, error) { return NewDAE(b, *o) })
}

// DAE is an energy given by an autoencoder's reconstruction error (the
// energy of a denoising autoencoder, Kamyshanska and Memisevic 2015). Why
// it suits multiscale DSM: the objective asks s0²∇E(x~) to be x~ - x for
// every noise level, i.e. an energy that grows like ‖x~ - x‖²/(2s0²) away
// from the data; here s0²∇E = (I - J_r)ᵀ(x - r(x)) does so with r a
// bounded denoiser, where a scalar MLP's softplus energy grows only
// linearly. Parameters: layers.{i}.weight [out, in], layers.{i}.bias for
// input → hidden... → input, and log_scale.
type DAE struct {
	opts     DAEOptions
	layers   []*Linear
	logScale *ad.Param
	params   []*ad.Param
	dt       tensor.DType
}

// NewDAE builds a reconstruction energy.
func NewDAE(b *Builder, o DAEOptions) (*DAE, error) {
	if o.InputDim <= 0 {
		return nil, fmt.Errorf("input_dim must be positive, got %d", o.InputDim)
	}
	if len(o.Hidden) == 0 {
		return nil, fmt.Errorf("hidden needs at least one layer")
	}
	for _, h := range o.Hidden {
		if h <= 0 {
			return nil, fmt.Errorf("hidden sizes must be positive, got %v", o.Hidden)
		}
	}
	if err := o.Activation.Validate(); err != nil {
		return nil, err
	}
	switch o.Output {
	case "sigmoid", "linear":
	default:
		return nil, fmt.Errorf("unknown output %q (valid: sigmoid, linear)", o.Output)
	}
	if !(o.Scale > 0) || math.IsInf(o.Scale, 0) {
		return nil, fmt.Errorf("scale must be positive and finite, got %g", o.Scale)
	}
	m := &DAE{opts: o, dt: b.DType()}
	dims := append(append([]int{o.InputDim}, o.Hidden...), o.InputDim)
	for i := 0; i+1 < len(dims); i++ {
		m.layers = append(m.layers, NewLinear(b, fmt.Sprintf("layers.%d", i), dims[i], dims[i+1], true))
	}
	m.logScale = b.Const("log_scale", math.Log(o.Scale), 1)
	m.params = b.Params()
	return m, nil
}

func (m *DAE) Spec() Spec          { return specOf("dae", m.opts) }
func (m *DAE) Params() []*ad.Param { return m.params }
func (m *DAE) InputShape() []int   { return []int{m.opts.InputDim} }
func (m *DAE) DType() tensor.DType { return m.dt }

// Reconstruct returns r(x) as [n, InputDim].
func (m *DAE) Reconstruct(x *ad.Var) *ad.Var {
	h := ad.Reshape(x, x.Shape()[0], -1)
	for i, l := range m.layers {
		h = l.Forward(h)
		if i+1 < len(m.layers) {
			h = m.opts.Activation.Apply(h)
		}
	}
	if m.opts.Output == "sigmoid" {
		h = ad.Sigmoid(h)
	}
	return h
}

// Energy returns E(x) per sample; x may have any shape [n, ...] with
// InputDim elements per sample.
func (m *DAE) Energy(x *ad.Var) *ad.Var {
	flat := ad.Reshape(x, x.Shape()[0], -1)
	r := ad.Sum(ad.Square(ad.Sub(flat, m.Reconstruct(x))), 1)
	return ad.Mul(ad.Scale(r, 0.5), ad.Exp(x.Tape().Param(m.logScale)))
}

// LogDensity returns -E(x).
func (m *DAE) LogDensity(x *ad.Var) *ad.Var { return ad.Neg(m.Energy(x)) }
