package models

import (
	"fmt"
	"math"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// DKEFOptions configure the dkef kind.
type DKEFOptions struct {
	InputDim    int     `json:"input_dim"`    // default 11
	NumInducing int     `json:"num_inducing"` // M, default 200
	FeatureDim  int     `json:"feature_dim"`  // width of every feature layer, default 30
	NumKernels  int     `json:"num_kernels"`  // default 3
	Q0Std       float64 `json:"q0_std"`       // std of the Gaussian base, default 2
	// LogSigmaInit holds one initial log10 bandwidth per kernel. Left out, it
	// is the reference's [0, 0.5185, 1] for 3 kernels and evenly spaced from
	// 0 to 1 otherwise; given, its length must equal num_kernels.
	LogSigmaInit  []float64 `json:"log_sigma_init,omitempty"`
	LogLambdaInit float64   `json:"log_lambda_init"` // log10 ridge, default -2
}

func init() {
	register("dkef", "deep kernel exponential family: log p~ = -|x|²/(2 q0²) + Σ_j softmax(w)_j Σ_m α_m k_j(x, z_m), α from a ridge-regularised score-matching fit",
		func() *DKEFOptions {
			return &DKEFOptions{InputDim: 11, NumInducing: 200, FeatureDim: 30, NumKernels: 3, Q0Std: 2, LogLambdaInit: -2}
		},
		func(b *Builder, o *DKEFOptions) (Model, error) { return NewDKEF(b, *o) })
}

// dkefFeature is φ_j(x) = l3(softplus(l2(softplus(l1(x))))) + skip(x).
type dkefFeature struct{ l1, l2, l3, skip *Linear }

// DKEF is the deep kernel exponential family of Wenliang et al. as in the
// paper's reference code:
//
//	log p~(x) = -|x|²/(2 q0_std²) + Σ_j softmax(w)_j Σ_m α_m k_j(x, z_m),
//	k_j(x, z) = exp(-|φ_j(x) - φ_j(z)|² / (2·10^{log_sigma_j})).
//
// α is not a parameter: each step fits it in closed form on a batch
// (FitAlphaSM) and the loss on another batch differentiates through that
// solve. The model keeps the last fitted α as the buffer "alpha" for
// evaluation (LogDensity); checkpoint code must save and load Buffers()
// next to Params(). SetAlpha and SetInducingPoints mutate the model and must
// not run concurrently with its forward methods.
//
// Parameters, in order: features.{j}.l1.weight [F,d], features.{j}.l1.bias,
// features.{j}.l2.weight [F,F], .l2.bias, .l3.weight [F,F], .l3.bias,
// features.{j}.skip.weight [F,d] (no bias) for each kernel j; log_sigma [K];
// kernel_weights [K] (w); inducing_points [M,d] (z); log_lambda [1].
type DKEF struct {
	opts      DKEFOptions
	feats     []dkefFeature
	logSigma  *ad.Param
	weights   *ad.Param
	inducing  *ad.Param
	logLambda *ad.Param
	params    []*ad.Param
	dt        tensor.DType
	be        tensor.Backend
	alpha     *tensor.Tensor // buffer [M], zero until SetAlpha
	eye       *tensor.Tensor // constant identity [M,M] for the ridge
}

// NewDKEF builds a DKEF; inducing points start N(0,1) (SetInducingPoints
// replaces them with data).
func NewDKEF(b *Builder, o DKEFOptions) (*DKEF, error) {
	switch {
	case o.InputDim <= 0:
		return nil, fmt.Errorf("input_dim must be positive, got %d", o.InputDim)
	case o.NumInducing <= 0:
		return nil, fmt.Errorf("num_inducing must be positive, got %d", o.NumInducing)
	case o.FeatureDim <= 0:
		return nil, fmt.Errorf("feature_dim must be positive, got %d", o.FeatureDim)
	case o.NumKernels <= 0:
		return nil, fmt.Errorf("num_kernels must be positive, got %d", o.NumKernels)
	case !(o.Q0Std > 0) || math.IsInf(o.Q0Std, 0):
		return nil, fmt.Errorf("q0_std must be positive and finite, got %v", o.Q0Std)
	case math.IsNaN(o.LogLambdaInit) || math.IsInf(o.LogLambdaInit, 0):
		return nil, fmt.Errorf("log_lambda_init must be finite, got %v", o.LogLambdaInit)
	}
	ls := append([]float64(nil), o.LogSigmaInit...)
	switch {
	case len(ls) == 0 && o.NumKernels == 3:
		ls = []float64{0, 0.5185, 1}
	case len(ls) == 0:
		ls = make([]float64, o.NumKernels)
		for j := range ls {
			ls[j] = float64(j) / float64(max(o.NumKernels-1, 1))
		}
	case len(ls) != o.NumKernels:
		return nil, fmt.Errorf("log_sigma_init has %d values but num_kernels is %d", len(ls), o.NumKernels)
	}
	for _, v := range ls {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("log_sigma_init must be finite, got %v", ls)
		}
	}
	o.LogSigmaInit = ls

	d, f, m := o.InputDim, o.FeatureDim, o.NumInducing
	dk := &DKEF{opts: o, dt: b.DType(), be: b.Backend()}
	for j := 0; j < o.NumKernels; j++ {
		p := fmt.Sprintf("features.%d", j)
		dk.feats = append(dk.feats, dkefFeature{
			l1:   NewLinear(b, p+".l1", d, f, true),
			l2:   NewLinear(b, p+".l2", f, f, true),
			l3:   NewLinear(b, p+".l3", f, f, true),
			skip: NewLinear(b, p+".skip", d, f, false),
		})
	}
	dk.logSigma = b.Const("log_sigma", 0, o.NumKernels)
	tensor.WriteAs(dk.logSigma.Value, ls)
	dk.weights = b.Const("kernel_weights", 0, o.NumKernels)
	dk.inducing = b.Param("inducing_points", tensor.Normal(0, 1), m, d)
	dk.logLambda = b.Const("log_lambda", o.LogLambdaInit, 1)
	dk.params = b.Params()

	dk.alpha = dk.be.Zeros(dk.dt, m)
	eye := make([]float64, m*m)
	for i := 0; i < m; i++ {
		eye[i*m+i] = 1
	}
	dk.eye = tensor.FromFloat64s(dk.be, dk.dt, tensor.Shape{m, m}, eye)
	return dk, nil
}

func (m *DKEF) Spec() Spec          { return specOf("dkef", m.opts) }
func (m *DKEF) Params() []*ad.Param { return m.params }
func (m *DKEF) InputShape() []int   { return []int{m.opts.InputDim} }
func (m *DKEF) DType() tensor.DType { return m.dt }

// Alpha returns the α buffer [M] that LogDensity uses.
func (m *DKEF) Alpha() *tensor.Tensor { return m.alpha }

// SetAlpha copies t (M elements) into the α buffer. It panics on a size
// mismatch (a caller bug).
func (m *DKEF) SetAlpha(t *tensor.Tensor) {
	if t.Numel() != m.opts.NumInducing {
		panic(fmt.Sprintf("models: dkef alpha of shape %v, want [%d]", t.Shape(), m.opts.NumInducing))
	}
	m.be.Copy(m.alpha, t)
}

// Buffers returns the non-trainable state to checkpoint: "alpha" [M].
func (m *DKEF) Buffers() map[string]*tensor.Tensor {
	return map[string]*tensor.Tensor{"alpha": m.alpha}
}

// SetInducingPoints copies t [M, InputDim...] (typically M data rows) into
// the inducing points.
func (m *DKEF) SetInducingPoints(t *tensor.Tensor) error {
	mm, d := m.opts.NumInducing, m.opts.InputDim
	if t.Rank() == 0 || t.Dim(0) != mm || t.Numel() != mm*d {
		return fmt.Errorf("dkef: inducing points of shape %v, want [%d %d]", t.Shape(), mm, d)
	}
	m.be.Copy(m.inducing.Value, t)
	return nil
}

// MixtureWeights returns softmax(w) [K] on tp.
func (m *DKEF) MixtureWeights(tp *ad.Tape) *ad.Var {
	w := tp.Param(m.weights)
	return ad.Exp(ad.Sub(w, ad.LogSumExp(w)))
}

// flat views x [n, ...] as [n, d].
func (m *DKEF) flat(x *ad.Var) *ad.Var { return ad.Reshape(x, x.Shape()[0], m.opts.InputDim) }

// invBandwidth returns 1/10^{log_sigma_j} as a [1] Var.
func (m *DKEF) invBandwidth(tp *ad.Tape, j int) *ad.Var {
	return ad.Exp(ad.Scale(ad.Slice(tp.Param(m.logSigma), 0, j, j+1), -math.Ln10))
}

// KernelMatrix returns K [n, M] = Σ_j softmax(w)_j k_j(x_i, z_m).
func (m *DKEF) KernelMatrix(x *ad.Var) *ad.Var {
	x = m.flat(x)
	tp := x.Tape()
	z, w := tp.Param(m.inducing), m.MixtureWeights(tp)
	var kk *ad.Var
	for j, f := range m.feats {
		k := ad.Mul(ad.Slice(w, 0, j, j+1), dkefGram(f.forward(x), f.forward(z), m.invBandwidth(tp, j)))
		kk = dkefAccum(kk, k)
	}
	return kk
}

// LogDensityAlpha returns log p~(x) [n] for coefficients alpha [M].
func (m *DKEF) LogDensityAlpha(x, alpha *ad.Var) *ad.Var {
	x = m.flat(x)
	f := ad.Reshape(ad.MatMul(m.KernelMatrix(x), ad.Reshape(alpha, -1, 1), false, false), -1)
	q := 1 / (m.opts.Q0Std * m.opts.Q0Std)
	return ad.Add(ad.Scale(ad.Sum(ad.Square(x), 1), -0.5*q), f)
}

// LogDensity returns log p~(x) with the α buffer (a constant).
func (m *DKEF) LogDensity(x *ad.Var) *ad.Var {
	return m.LogDensityAlpha(x, x.Tape().Const(m.alpha))
}

// SolveAlpha returns α = -(G + 10^{log_lambda} I)⁻¹ b for G [M,M] and b [M],
// the minimiser of ½αᵀGα + αᵀb + ½·10^{log_lambda}|α|². Gradients (of any
// order) flow through the solve to G, b and log_lambda.
func (m *DKEF) SolveAlpha(g, b *ad.Var) (*ad.Var, error) {
	tp := g.Tape()
	lam := ad.Exp(ad.Scale(tp.Param(m.logLambda), math.Ln10))
	return ad.Solve(ad.Add(g, ad.Mul(lam, tp.Const(m.eye))), ad.Neg(b))
}

// FitAlphaSM fits α on x by the regularised closed-form score-matching
// solve: SolveAlpha(SMSystem(x)).
func (m *DKEF) FitAlphaSM(x *ad.Var) (*ad.Var, error) {
	g, b := m.SMSystem(x)
	return m.SolveAlpha(g, b)
}

// SMSystem returns G [M,M] and b [M] with J(α) = ½αᵀGα + αᵀb + const, where
// J is the exact score-matching objective mean_i Σ_d [½(∂_d log p~)² +
// ∂²_d log p~] on x. With A_d = ∂K/∂x_d and B_d = ∂²K/∂x_d² (both [n,M]):
// G = mean_i Σ_d A_dᵀA_d and b = mean_i Σ_d (B_d + A_d ∂_d log q0).
//
// The x-derivatives are analytic (forward-mode through the feature nets),
// written with autodiff ops so G and b differentiate to any order.
func (m *DKEF) SMSystem(x *ad.Var) (g, b *ad.Var) {
	x = m.flat(x)
	tp := x.Tape()
	n, d, mm, fd := x.Shape()[0], m.opts.InputDim, m.opts.NumInducing, m.opts.FeatureDim
	z, w := tp.Param(m.inducing), m.MixtureWeights(tp)
	var a, bb *ad.Var // [n,d,M]
	for j, f := range m.feats {
		fx, jac, hess := f.derivs(x)
		fz := f.forward(z)
		inv := m.invBandwidth(tp, j)
		k := ad.Reshape(dkefGram(fx, fz, inv), n, 1, mm)
		// proj(T)[i,d,m] = T[i,d,:]·(φ(x_i) - φ(z_m))
		proj := func(t *ad.Var) *ad.Var {
			self := ad.SumKeep(ad.Mul(t, ad.Reshape(fx, n, 1, fd)), 2)
			cross := ad.MatMul(ad.Reshape(t, n*d, fd), fz, false, true)
			return ad.Sub(self, ad.Reshape(cross, n, d, mm))
		}
		p, q := proj(jac), proj(hess)
		jj := ad.SumKeep(ad.Square(jac), 2)
		wj := ad.Slice(w, 0, j, j+1)
		winv := ad.Mul(wj, inv)
		// k = exp(-u/2s) with u = |φ(x)-φ(z)|²: ∂k = -k p/s and
		// ∂²k = k (p²/s² - |J|²/s - q/s).
		aj := ad.Neg(ad.Mul(winv, ad.Mul(k, p)))
		bj := ad.Mul(winv, ad.Mul(k, ad.Sub(ad.Sub(ad.Mul(inv, ad.Square(p)), jj), q)))
		a, bb = dkefAccum(a, aj), dkefAccum(bb, bj)
	}
	af := ad.Reshape(a, n*d, mm)
	g = ad.Scale(ad.MatMul(af, af, true, false), 1/float64(n))
	dq := ad.Reshape(ad.Scale(x, -1/(m.opts.Q0Std*m.opts.Q0Std)), 1, n*d)
	lin := ad.Reshape(ad.MatMul(dq, af, false, false), -1)
	b = ad.Scale(ad.Add(ad.Sum(ad.Reshape(bb, n*d, mm), 0), lin), 1/float64(n))
	return g, b
}

// dkefGram returns exp(-|fx_i - fz_m|² inv / 2) [n, M], the squared
// distance expanded as |a|² + |b|² - 2a·b so the cross term is one GEMM.
func dkefGram(fx, fz, inv *ad.Var) *ad.Var {
	nx := ad.SumKeep(ad.Square(fx), 1)
	nz := ad.Reshape(ad.Sum(ad.Square(fz), 1), 1, -1)
	d2 := ad.Sub(ad.Add(nx, nz), ad.Scale(ad.MatMul(fx, fz, false, true), 2))
	return ad.Exp(ad.Mul(d2, ad.Scale(inv, -0.5)))
}

func (f *dkefFeature) forward(x *ad.Var) *ad.Var {
	h := ad.Softplus(f.l2.Forward(ad.Softplus(f.l1.Forward(x))))
	return ad.Add(f.l3.Forward(h), f.skip.Forward(x))
}

// derivs returns φ(x) [n,F], the Jacobian columns jac[i,d,:] = ∂φ(x_i)/∂x_d
// and the diagonal second derivatives hess[i,d,:] = ∂²φ(x_i)/∂x_d² [n,d,F],
// by forward-mode propagation of all d directions at once (softplus has
// derivative σ and second derivative σ(1-σ)).
func (f *dkefFeature) derivs(x *ad.Var) (phi, jac, hess *ad.Var) {
	tp := x.Tape()
	n, d := x.Shape()[0], x.Shape()[1]
	w1t := ad.Reshape(ad.T(tp.Param(f.l1.Weight)), 1, d, -1) // ∂h1/∂x_d = W1[:,d]
	h1 := f.l1.Forward(x)
	s1 := ad.Reshape(ad.Sigmoid(h1), n, 1, -1)
	da := ad.Mul(s1, w1t)
	dda := ad.Mul(ad.Mul(s1, ad.OneMinus(s1)), ad.Square(w1t))
	h2 := f.l2.Forward(ad.Softplus(h1))
	dh, ddh := dkefLinear3(da, tp.Param(f.l2.Weight)), dkefLinear3(dda, tp.Param(f.l2.Weight))
	s2 := ad.Reshape(ad.Sigmoid(h2), n, 1, -1)
	da2 := ad.Mul(s2, dh)
	dda2 := ad.Add(ad.Mul(ad.Mul(s2, ad.OneMinus(s2)), ad.Square(dh)), ad.Mul(s2, ddh))
	phi = ad.Add(f.l3.Forward(ad.Softplus(h2)), f.skip.Forward(x))
	w3 := tp.Param(f.l3.Weight)
	jac = ad.Add(dkefLinear3(da2, w3), ad.Reshape(ad.T(tp.Param(f.skip.Weight)), 1, d, -1))
	hess = dkefLinear3(dda2, w3)
	return phi, jac, hess
}

// dkefLinear3 applies t [n,d,in] ↦ t Wᵀ [n,d,out] (a weight without bias: the
// map of tangents) as one GEMM.
func dkefLinear3(t, w *ad.Var) *ad.Var {
	s := t.Shape()
	y := ad.MatMul(ad.Reshape(t, s[0]*s[1], s[2]), w, false, true)
	return ad.Reshape(y, s[0], s[1], -1)
}

func dkefAccum(acc, v *ad.Var) *ad.Var {
	if acc == nil {
		return v
	}
	return ad.Add(acc, v)
}
