package models

import (
	"fmt"
	"math"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// MLPScoreOptions configure the mlp-score kind.
type MLPScoreOptions struct {
	InputDim   int        `json:"input_dim"`   // default 784
	Hidden     []int      `json:"hidden"`      // default [1024, 1024]
	Activation Activation `json:"activation"`  // default swish
	NumLevels  int        `json:"num_levels"`  // default 20
	SigmaBegin float64    `json:"sigma_begin"` // default 10, the largest σ (level 0)
	SigmaEnd   float64    `json:"sigma_end"`   // default 0.1, the smallest σ (level L-1)
	// SigmaData is the data's scale per coordinate in the input scaling
	// c_in(σ) = 1/sqrt(σ² + sigma_data²) (Karras et al.), which keeps the
	// first layer's input near unit scale at every noise level; default 1.
	SigmaData float64 `json:"sigma_data"`
	// PCA, when positive, models the data in the affine subspace of its PCA
	// leading principal components (fitted from the training samples when a
	// run starts; see MLPScore). 0: the network sees every input value.
	PCA int `json:"pca"`
	// PCASamples is the number of training samples the components are
	// fitted from, evenly spaced over the dataset; default 10000.
	PCASamples int `json:"pca_samples"`
}

func init() {
	register("mlp-score", "noise-conditional MLP score network s(x, σ_i) (annealed DSM, as NCSN), optionally on PCA components",
		func() *MLPScoreOptions {
			return &MLPScoreOptions{InputDim: 784, Hidden: []int{1024, 1024}, Activation: ActSwish, NumLevels: 20,
				SigmaBegin: 10, SigmaEnd: 0.1, SigmaData: 1, PCASamples: 10000}
		},
		func(b *Builder, o *MLPScoreOptions) (Model, error) { return NewMLPScore(b, *o) })
}

// MLPScore is a noise-conditional score network made of Linear layers: with
// y the one-hot noise level and σ_y its scale,
//
//	h_0 = c_in(σ_y)·z,  h_{i+1} = act(L_i(h_i) + E_i(y)),  F = L_k(h_k),  s_z = F/σ_y,
//
// where E_i is a learned per-level bias (a Linear without bias on y) and
// dividing by σ_y is NCSNv2's output scaling.
//
// Without PCA, z = x and s = s_z. With PCA = K, the model is the exact
// score of data lying in the affine subspace μ + span(V) of the K leading
// principal components (V [d, K] orthonormal), perturbed by N(0, σ²I):
// with z = Vᵀ(x − μ) and r = (x − μ) − Vz the part of x outside it,
//
//	s(x, σ) = V·s_z(z, σ) − r/σ²,
//
// the network learning the score of the K coordinates and the orthogonal
// part being the Gaussian's, which needs no parameters. Denoising score
// matching of s equals that of s_z on the coordinates plus a constant, so
// the network trains as if on K-dimensional data, and annealed Langevin
// dynamics with Tweedie's final step x + σ_L²·s(x) lands exactly in the
// subspace: samples are combinations of the components, as smooth as
// MNIST's 40-component reconstructions (88% of real test digits stay
// confidently recognisable; docs/benchmarks.md, "The main job").
//
// Parameters: layers.{i}.weight [out, in], layers.{i}.bias, embed.{i}.weight
// [hidden_i, L]; buffers pca.mean [d] and pca.components [d, K] (until
// fitted, the mean is 0 and the components the first K unit vectors).
type MLPScore struct {
	opts   MLPScoreOptions
	layers []*Linear
	embeds []*Linear
	params []*ad.Param
	dt     tensor.DType
	mean   *tensor.Tensor // [1, d]; nil without PCA
	comps  *tensor.Tensor // [d, K]
	// keyCIn and keyInvSigma name the per-level constants (models.Constant),
	// built once so that a forward pass formats no strings.
	keyCIn, keyInvSigma string
}

var (
	_ Score           = (*MLPScore)(nil)
	_ DataInitializer = (*MLPScore)(nil)
	_ Buffered        = (*MLPScore)(nil)
	_ DataProjector   = (*MLPScore)(nil)
)

// NewMLPScore builds the score network.
func NewMLPScore(b *Builder, o MLPScoreOptions) (*MLPScore, error) {
	switch {
	case o.InputDim <= 0:
		return nil, fmt.Errorf("input_dim must be positive, got %d", o.InputDim)
	case o.NumLevels < 1:
		return nil, fmt.Errorf("num_levels must be positive, got %d", o.NumLevels)
	case !(o.SigmaEnd > 0) || !(o.SigmaBegin >= o.SigmaEnd) || math.IsInf(o.SigmaBegin, 0):
		return nil, fmt.Errorf("sigma_begin and sigma_end must be finite with sigma_begin >= sigma_end > 0, got %v, %v", o.SigmaBegin, o.SigmaEnd)
	case !(o.SigmaData > 0) || math.IsInf(o.SigmaData, 0):
		return nil, fmt.Errorf("sigma_data must be positive and finite, got %v", o.SigmaData)
	case o.PCA < 0 || o.PCA > o.InputDim:
		return nil, fmt.Errorf("pca must be between 0 (none) and input_dim %d, got %d", o.InputDim, o.PCA)
	case o.PCA > 0 && o.PCASamples < 2:
		return nil, fmt.Errorf("pca_samples must be at least 2, got %d", o.PCASamples)
	}
	for _, h := range o.Hidden {
		if h <= 0 {
			return nil, fmt.Errorf("hidden sizes must be positive, got %v", o.Hidden)
		}
	}
	if err := o.Activation.Validate(); err != nil {
		return nil, err
	}
	m := &MLPScore{opts: o, dt: b.DType()}
	width := m.width()
	dims := append(append([]int{width}, o.Hidden...), width)
	for i := 0; i+1 < len(dims); i++ {
		m.layers = append(m.layers, NewLinear(b, fmt.Sprintf("layers.%d", i), dims[i], dims[i+1], true))
	}
	for i, h := range o.Hidden {
		m.embeds = append(m.embeds, NewLinear(b, fmt.Sprintf("embed.%d", i), o.NumLevels, h, false))
	}
	m.params = b.Params()
	levels := fmt.Sprintf("mlp-score sigmas %v", m.Sigmas())
	m.keyCIn = fmt.Sprintf("%s c_in sigma_data %g", levels, o.SigmaData)
	m.keyInvSigma = levels + " 1/sigma"
	if o.PCA > 0 {
		be, d, k := b.Backend(), o.InputDim, o.PCA
		m.mean = be.Zeros(m.dt, 1, d)
		eye := make([]float64, d*k)
		for j := range k {
			eye[j*k+j] = 1
		}
		m.comps = tensor.FromFloat64s(be, m.dt, tensor.Shape{d, k}, eye)
	}
	return m, nil
}

// width is the dimension the network works in: PCA's K, or input_dim.
func (m *MLPScore) width() int {
	if m.opts.PCA > 0 {
		return m.opts.PCA
	}
	return m.opts.InputDim
}

func (m *MLPScore) Spec() Spec          { return specOf("mlp-score", m.opts) }
func (m *MLPScore) Params() []*ad.Param { return m.params }
func (m *MLPScore) InputShape() []int   { return []int{m.opts.InputDim} }
func (m *MLPScore) DType() tensor.DType { return m.dt }
func (m *MLPScore) Levels() int         { return m.opts.NumLevels }

// Sigmas returns the noise levels, geometric from sigma_begin to sigma_end.
func (m *MLPScore) Sigmas() []float64 {
	return GeometricSigmas(m.opts.SigmaBegin, m.opts.SigmaEnd, m.opts.NumLevels)
}

// Buffers returns the PCA subspace (none without PCA).
func (m *MLPScore) Buffers() map[string]*tensor.Tensor {
	if m.mean == nil {
		return map[string]*tensor.Tensor{}
	}
	return map[string]*tensor.Tensor{"pca.mean": m.mean.Reshape(m.opts.InputDim), "pca.components": m.comps}
}

// InitFromData fits the PCA subspace to pca_samples training samples,
// evenly spaced over the n of the dataset (all of them when fewer).
func (m *MLPScore) InitFromData(n int, get func(i int, dst []float32) error) error {
	if m.mean == nil {
		return nil
	}
	use := min(n, m.opts.PCASamples)
	if use < 2 {
		return fmt.Errorf("mlp-score: fitting %d PCA components needs at least 2 training samples, the dataset has %d", m.opts.PCA, n)
	}
	b, err := FitPCA(use, m.opts.InputDim, m.opts.PCA, func(i int, dst []float32) error {
		return get(int(int64(i)*int64(n)/int64(use)), dst)
	})
	if err != nil {
		return fmt.Errorf("mlp-score: %w", err)
	}
	m.SetPCA(b)
	return nil
}

// SetPCA sets the subspace to b's mean and components.
func (m *MLPScore) SetPCA(b *PCABasis) {
	d, k := m.opts.InputDim, m.opts.PCA
	if m.mean == nil || len(b.Mean) != d || len(b.Components) != d*k {
		panic(fmt.Sprintf("models: mlp-score with pca %d of %d values given a basis of %d values and %d component entries", k, d, len(b.Mean), len(b.Components)))
	}
	be := m.mean.Backend()
	be.Copy(m.mean, tensor.FromFloat64s(be, m.dt, tensor.Shape{1, d}, b.Mean))
	be.Copy(m.comps, tensor.FromFloat64s(be, m.dt, tensor.Shape{d, k}, b.Components))
}

// Project returns x's reconstruction from the PCA components,
// μ + V·Vᵀ(x − μ) (x itself without PCA). Training on it rather than on x
// removes from the DSM loss the term ½‖r‖²/σ² of the part r of real data
// outside the subspace, which the model cannot learn and which, at σ_L =
// 0.1, would be several times the rest of the loss and noisy.
func (m *MLPScore) Project(tp *ad.Tape, x *tensor.Tensor) *tensor.Tensor {
	if m.mean == nil {
		return x
	}
	n := x.Dim(0)
	flat := ad.Reshape(tp.Const(x), n, -1)
	mean, comps := tp.Const(m.mean), tp.Const(m.comps)
	z := ad.MatMul(ad.Sub(flat, mean), comps, false, false)
	return ad.Reshape(ad.Add(ad.MatMul(z, comps, false, true), mean), x.Shape()...).Value()
}

// Score returns s(x, σ_y) for x [n, input_dim] (or any shape with
// input_dim values per sample) and the one-hot levels y [n, L]; the result
// has x's shape.
func (m *MLPScore) Score(x, y *ad.Var) *ad.Var {
	n, L := x.Shape()[0], m.opts.NumLevels
	if s := y.Shape(); len(s) != 2 || s[0] != n || s[1] != L {
		panic(fmt.Sprintf("models: mlp-score levels of shape %v, want [%d %d]", s, n, L))
	}
	tp := x.Tape()
	flat := ad.Reshape(x, n, -1)
	z := flat
	var centred, comps *ad.Var
	if m.mean != nil {
		centred = ad.Sub(flat, tp.Const(m.mean))
		comps = tp.Const(m.comps)
		z = ad.MatMul(centred, comps, false, false)
	}
	h := ad.Mul(z, ad.MatMul(y, m.perLevel(tp, m.keyCIn, func(s float64) float64 {
		return 1 / math.Sqrt(s*s+m.opts.SigmaData*m.opts.SigmaData)
	}), false, false))
	for i, l := range m.layers {
		h = l.Forward(h)
		if i < len(m.embeds) {
			h = m.opts.Activation.Apply(ad.Add(h, m.embeds[i].Forward(y)))
		}
	}
	invSigma := ad.MatMul(y, m.perLevel(tp, m.keyInvSigma, func(s float64) float64 { return 1 / s }), false, false)
	s := ad.Mul(h, invSigma)
	if m.mean != nil {
		inSpace := ad.MatMul(z, comps, false, true)
		outside := ad.Sub(centred, inSpace)
		invVar := ad.Square(invSigma)
		s = ad.Sub(ad.MatMul(s, comps, false, true), ad.Mul(outside, invVar))
	}
	return ad.Reshape(s, x.Shape()...)
}

// perLevel is the column [L, 1] of f(σ_i), a device constant made once
// per backend under key.
func (m *MLPScore) perLevel(tp *ad.Tape, key string, f func(float64) float64) *ad.Var {
	return tp.Const(Constant(tp.Backend(), m.dt, key, tensor.Shape{m.opts.NumLevels, 1}, func() []float64 {
		sig := m.Sigmas()
		v := make([]float64, len(sig))
		for i, s := range sig {
			v[i] = f(s)
		}
		return v
	}))
}
