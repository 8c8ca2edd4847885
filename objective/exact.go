package objective

import (
	"fmt"
	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// The exact objectives differentiate log p with respect to x by autodiff,
// keeping every derivative in the graph (CreateGraph) so the loss can be
// differentiated with respect to the parameters: DSM needs second-order,
// SSM and SM third-order derivatives through the model.

func init() {
	register("sm", func(o Options) (Objective, error) { return sm{o}, nil })
	register("ssm", func(o Options) (Objective, error) { return ssm{o, false}, nil })
	register("ssmvr", func(o Options) (Objective, error) { return ssm{o, true}, nil })
	register("dsm", func(o Options) (Objective, error) { return dsm{o, false}, nil })
	register("mdsm", func(o Options) (Objective, error) { return dsm{o, true}, nil })
	register("mle", func(o Options) (Objective, error) { return mle{o}, nil })
}

var create = ad.GradOptions{CreateGraph: true}

// scoreAt returns x as a leaf and g = ∇ₓ log p(x), kept in the graph.
func scoreAt(tp *ad.Tape, e models.Energy, x *tensor.Tensor) (xv, g *ad.Var) {
	xv = tp.Leaf(x)
	g = ad.Grad([]*ad.Var{ad.Sum(e.LogDensity(xv))}, []*ad.Var{xv}, create)[0]
	return xv, g
}

// sm is exact score matching (Eq. 1): raw = ½‖g‖² + tr(∇ₓ² log p), the
// trace by d backward passes (for evaluation and small d). Loss = mean in
// every scaling.
type sm struct{ o Options }

func (sm) Name() string { return "sm" }

func (s sm) Eval(tp *ad.Tape, m models.Model, b Batch, rng *tensor.RNG) (Result, error) {
	e, err := energyOf("sm", m)
	if err != nil {
		return Result{}, err
	}
	if err := checkX("sm", m, b); err != nil {
		return Result{}, err
	}
	xv, g := scoreAt(tp, e, b.X)
	n, d := b.X.Dim(0), dim(b.X)
	gf := ad.Reshape(g, n, d)
	var tr *ad.Var
	for j := 0; j < d; j++ {
		gj := ad.Sum(ad.Slice(gf, 1, j, j+1))
		hj := ad.Reshape(ad.Grad([]*ad.Var{gj}, []*ad.Var{xv}, create)[0], n, d)
		tr = add(tr, ad.Reshape(ad.Slice(hj, 1, j, j+1), n))
	}
	per := ad.Add(ad.Scale(rowSq(g), 0.5), tr)
	return Result{Loss: mean(per, 1), PerSample: per}, nil
}

func add(acc, v *ad.Var) *ad.Var {
	if acc == nil {
		return v
	}
	return ad.Add(acc, v)
}

// ssm is sliced score matching (Eq. 3) and, with vr, its variance-reduced
// form. Energy models: raw = vᵀHv + ½(vᵀg)² (ssm) or vᵀHv + ½‖g‖² (ssmvr),
// H = ∇ₓ² log p, g = ∇ₓ log p. Paper scaling: ssm loss = mean(raw)/C_v with
// C_v = E‖v‖² (d for gaussian and rademacher, ε² for sphere); ssmvr loss =
// mean(vᵀHv/C_v + ½‖g‖²/d) (Eq. 11). Reference scalings: mean(raw).
//
// Score networks (ssmvr only, NCSN): x~ = x + σ_y n at a noise level y per
// sample, s = s(x~, y); raw = vᵀ(∇s)v + ½‖s‖²; paper loss = mean(σ_y²·(vᵀ∇s v/C_v
// + ½‖s‖²/d)); reference-ncsn = d× that with gaussian v (their "ssm").
type ssm struct {
	o  Options
	vr bool
}

func (s ssm) Name() string {
	if s.vr {
		return "ssmvr"
	}
	return "ssm"
}

func (s ssm) Eval(tp *ad.Tape, m models.Model, b Batch, rng *tensor.RNG) (Result, error) {
	if err := checkX(s.Name(), m, b); err != nil {
		return Result{}, err
	}
	if sc, ok := m.(models.Score); ok && s.vr {
		return s.evalScore(tp, sc, b, rng)
	}
	e, err := energyOf(s.Name(), m)
	if err != nil {
		return Result{}, err
	}
	xv, g := scoreAt(tp, e, b.X)
	v := directions(tp, b, s.o.Projection, s.o.Eps, rng)
	vg := rowDot(v, g)
	hv := ad.Grad([]*ad.Var{ad.Sum(vg)}, []*ad.Var{xv}, create)[0]
	vhv := rowDot(v, hv)
	d := float64(dim(b.X))
	cv := projectionScale(s.o.Projection, s.o.Eps, dim(b.X))
	ref := s.o.Scaling != Paper
	if !s.vr {
		per := ad.Add(vhv, ad.Scale(ad.Square(vg), 0.5))
		if ref {
			return Result{Loss: mean(per, 1), PerSample: per}, nil
		}
		return Result{Loss: mean(per, 1/cv), PerSample: per}, nil
	}
	g2 := rowSq(g)
	per := ad.Add(vhv, ad.Scale(g2, 0.5))
	if ref {
		return Result{Loss: mean(per, 1), PerSample: per}, nil
	}
	return Result{Loss: ad.Mean(ad.Add(ad.Scale(vhv, 1/cv), ad.Scale(g2, 0.5/d))), PerSample: per}, nil
}

func (s ssm) evalScore(tp *ad.Tape, sc models.Score, b Batch, rng *tensor.RNG) (Result, error) {
	xt, levels, sig2, err := perturbLevels(tp, s.Name(), sc, b, rng)
	if err != nil {
		return Result{}, err
	}
	xv := tp.Leaf(xt)
	out := sc.Score(xv, levels)
	v := directions(tp, b, s.o.Projection, s.o.Eps, rng)
	sv := rowDot(out, v)
	jv := ad.Grad([]*ad.Var{ad.Sum(sv)}, []*ad.Var{xv}, create)[0]
	vjv := rowDot(v, jv)
	s2 := rowSq(out)
	per := ad.Add(vjv, ad.Scale(s2, 0.5))
	d := float64(dim(b.X))
	cv := projectionScale(s.o.Projection, s.o.Eps, dim(b.X))
	w := ad.Add(ad.Scale(vjv, 1/cv), ad.Scale(s2, 0.5/d))
	scale := 1.0
	if s.o.Scaling == ReferenceNCSN {
		scale = d
	}
	return Result{Loss: ad.Scale(ad.Mean(ad.Mul(w, sig2)), scale), PerSample: per}, nil
}

// perturbLevels draws (or takes) a noise level per sample and returns
// x~ = x + σ_y n as a tensor owned by the tape, the one-hot levels y, and
// σ_y² [n], all on the device.
func perturbLevels(tp *ad.Tape, name string, sc models.Score, b Batch, rng *tensor.RNG) (*tensor.Tensor, *ad.Var, *ad.Var, error) {
	y, sg, err := noiseLevels(tp, name, sc, b, rng)
	if err != nil {
		return nil, nil, nil, err
	}
	x := like(tp, b.X, b.X)
	xt := ad.Add(x, ad.Mul(noise(tp, b, rng), expandRows(sg, b.X.Rank())))
	return xt.Value(), y, ad.Square(sg), nil
}

// dsm is denoising score matching (Eq. 2) with x~ = x + σ n:
// raw = ‖g(x~) + (x~ - x)/σ²‖², paper loss = mean(raw)/d; reference
// scalings use the σ⁴-scaled form ‖σ² g + σ n‖²/2 = σ⁴/2 · raw.
//
// With multi (mdsm, the deep-EBM baseline of Li et al.), σ_b varies over
// the batch (Batch.Sigmas, else linspace(SigmaMin, SigmaMax, n) by batch
// position) and the target uses the fixed scale s0: raw_b = ‖g(x~_b) +
// (x~_b - x_b)/s0²‖²; paper loss = mean(raw_b/σ_b²)/d, reference-ebm
// c·mean(raw_b/σ_b²) with c = s0⁴.
//
// Score networks (dsm): annealed DSM over the network's σ levels, a level y
// per sample: raw = ‖s(x~, y) + (x~ - x)/σ_y²‖², loss = mean(½σ_y²·raw) in
// every scaling (NCSN's λ(σ) = σ²).
type dsm struct {
	o     Options
	multi bool
}

func (s dsm) Name() string {
	if s.multi {
		return "mdsm"
	}
	return "dsm"
}

func (s dsm) Eval(tp *ad.Tape, m models.Model, b Batch, rng *tensor.RNG) (Result, error) {
	if err := checkX(s.Name(), m, b); err != nil {
		return Result{}, err
	}
	if sc, ok := m.(models.Score); ok && !s.multi {
		return s.evalScore(tp, sc, b, rng)
	}
	e, err := energyOf(s.Name(), m)
	if err != nil {
		return Result{}, err
	}
	d := float64(dim(b.X))
	sig, inv := s.sigmaVars(tp, b)
	x := like(tp, b.X, b.X)
	nz := noise(tp, b, rng)
	xt := ad.Add(x, ad.Mul(nz, expandRows(sig, b.X.Rank())))
	xv, g := scoreAt(tp, e, xt.Value())
	target := s.o.Sigma * s.o.Sigma
	if s.multi {
		target = s.o.S0 * s.o.S0
	}
	per := rowSq(ad.Add(g, ad.Scale(ad.Sub(xv, x), 1/target)))
	if !s.multi {
		if s.o.Scaling != Paper {
			return Result{Loss: mean(per, target*target/2), PerSample: per}, nil
		}
		return Result{Loss: mean(per, 1/d), PerSample: per}, nil
	}
	weighted := ad.Mean(ad.Mul(per, inv))
	if s.o.Scaling == ReferenceEBM {
		return Result{Loss: ad.Scale(weighted, target*target), PerSample: per}, nil
	}
	return Result{Loss: ad.Scale(weighted, 1/d), PerSample: per}, nil
}

// sigmaVars returns σ per sample and 1/σ² [n] on the device. The batch's
// own σ (Batch.Sigmas) are copied in; the schedule's (mdsm) or the single
// σ are the same every step, so they are device constants (models.Constant).
func (s dsm) sigmaVars(tp *ad.Tape, b Batch) (sig, inv *ad.Var) {
	dt, n := b.X.DType(), b.X.Dim(0)
	vals := func() []float64 { return s.sigmas(b) }
	invs := func() []float64 {
		v := append([]float64(nil), s.sigmas(b)...) // Batch.Sigmas stays the caller's
		for i, x := range v {
			v[i] = 1 / (x * x)
		}
		return v
	}
	if b.Sigmas != nil {
		return perSample(tp, dt, vals()), perSample(tp, dt, invs())
	}
	key := fmt.Sprintf("dsm sigmas multi=%v %g %g %s %g n=%d", s.multi, s.o.SigmaMin, s.o.SigmaMax, s.o.SigmaSpacing, s.o.Sigma, n)
	return tp.Const(models.Constant(tp.Backend(), dt, key, tensor.Shape{n}, vals)),
		tp.Const(models.Constant(tp.Backend(), dt, key+" inverse squares", tensor.Shape{n}, invs))
}

// sigmas returns σ per sample: Batch.Sigmas, the mdsm schedule, or Sigma.
func (s dsm) sigmas(b Batch) []float64 {
	if b.Sigmas != nil {
		return b.Sigmas
	}
	n := b.X.Dim(0)
	if s.multi {
		if s.o.SigmaSpacing == "geometric" {
			return geomspace(s.o.SigmaMin, s.o.SigmaMax, n)
		}
		return linspace(s.o.SigmaMin, s.o.SigmaMax, n)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = s.o.Sigma
	}
	return out
}

func (s dsm) evalScore(tp *ad.Tape, sc models.Score, b Batch, rng *tensor.RNG) (Result, error) {
	xt, levels, sig2, err := perturbLevels(tp, s.Name(), sc, b, rng)
	if err != nil {
		return Result{}, err
	}
	x := like(tp, b.X, b.X)
	xtv := tp.Const(xt)
	out := sc.Score(xtv, levels)
	inv := ad.Reciprocal(sig2)
	per := rowSq(ad.Add(out, ad.Mul(ad.Sub(xtv, x), expandRows(inv, b.X.Rank()))))
	return Result{Loss: ad.Scale(ad.Mean(ad.Mul(per, sig2)), 0.5), PerSample: per}, nil
}

// mle is maximum likelihood for flows: raw = -log p(x), loss = mean.
type mle struct{ o Options }

func (mle) Name() string { return "mle" }

func (mle) Eval(tp *ad.Tape, m models.Model, b Batch, rng *tensor.RNG) (Result, error) {
	f, ok := m.(models.Flow)
	if !ok {
		return Result{}, errNeedsFlow("mle", m)
	}
	if err := checkX("mle", m, b); err != nil {
		return Result{}, err
	}
	per := ad.Neg(f.LogDensity(tp.Const(b.X)))
	return Result{Loss: mean(per, 1), PerSample: per}, nil
}
