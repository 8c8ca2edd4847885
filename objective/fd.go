package objective

import (
	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/fdpar"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// The finite-difference objectives (paper Sec. 4) replace derivatives of
// log p by evaluations at x ± v with v uniform on the sphere of radius ε
// (Batch.V, when given, is used as it is and should have norm ε). The
// evaluations form an fdpar plan run by the executor (one batched call by
// default, Options.Sequential for one call per block); the loss needs only
// an ordinary backward pass.

func init() {
	register("fd-ssm", func(o Options) (Objective, error) { return fdSSM{o}, nil })
	register("fd-dsm", func(o Options) (Objective, error) { return fdDSM{o, false}, nil })
	register("fd-mdsm", func(o Options) (Objective, error) { return fdDSM{o, true}, nil })
	register("fd-ssmvr", func(o Options) (Objective, error) { return fdSSMVR{o}, nil })
	register("fd-ssm-stencil", func(o Options) (Objective, error) { return fdSSMStencil{o}, nil })
}

// fdSSMStencil is FD-SSM with any pair of stencils (Theorem 1, Lemma 1 or
// higher accuracy): D1 = Σ w¹ᵢ f(x + γ¹ᵢ v) ≈ vᵀg and D2 = Σ w²ᵢ f(x + γ²ᵢ v) ≈
// vᵀHv over one plan of the union of their offsets; raw = D2 + ½D1², loss
// scaled as fd-ssm. With the default stencils it equals fd-ssm.
type fdSSMStencil struct{ o Options }

func (fdSSMStencil) Name() string { return "fd-ssm-stencil" }

func (s fdSSMStencil) Eval(tp *ad.Tape, m models.Model, b Batch, rng *tensor.RNG) (Result, error) {
	e, err := energyOf(s.Name(), m)
	if err != nil {
		return Result{}, err
	}
	if err := checkX(s.Name(), m, b); err != nil {
		return Result{}, err
	}
	var offsets []float64
	index := map[float64]int{}
	for _, st := range []*fdpar.Stencil{s.o.FirstOrder, s.o.SecondOrder} {
		for _, g := range st.Offsets {
			if _, ok := index[g]; !ok {
				index[g] = len(offsets)
				offsets = append(offsets, g)
			}
		}
	}
	weights := func(st *fdpar.Stencil) []float64 {
		w := make([]float64, len(offsets))
		for i, g := range st.Offsets {
			w[index[g]] += st.Weights[i]
		}
		return w
	}
	x := like(tp, b.X, b.X)
	v := directions(tp, b, Sphere, s.o.Eps, rng)
	plan := fdpar.NewPlan(offsets...)
	vals := s.o.Executor.Run(plan, x, v, e.LogDensity)
	d1 := plan.Combine(vals, weights(s.o.FirstOrder))
	d2 := plan.Combine(vals, weights(s.o.SecondOrder))
	per := ad.Add(d2, ad.Scale(ad.Square(d1), 0.5))
	scale := 1 / (s.o.Eps * s.o.Eps)
	if s.o.Scaling == ReferenceFlow {
		scale *= float64(dim(b.X))
	}
	return Result{Loss: mean(per, scale), PerSample: per}, nil
}

// fdSSM is FD-SSM (Eq. 9): with f± = log p(x ± v), f0 = log p(x),
// raw = f+ + f- - 2 f0 + (f+ - f-)²/8 (≈ vᵀHv + ½(vᵀg)²); paper loss =
// mean(raw)/ε² (≈ SSM with sphere directions, i.e. SM/d); reference-ebm the
// same; reference-flow d·mean(raw)/ε².
type fdSSM struct{ o Options }

func (fdSSM) Name() string { return "fd-ssm" }

func (s fdSSM) Eval(tp *ad.Tape, m models.Model, b Batch, rng *tensor.RNG) (Result, error) {
	e, err := energyOf("fd-ssm", m)
	if err != nil {
		return Result{}, err
	}
	if err := checkX("fd-ssm", m, b); err != nil {
		return Result{}, err
	}
	x := like(tp, b.X, b.X)
	v := directions(tp, b, Sphere, s.o.Eps, rng)
	plan := fdpar.NewPlan(0, 1, -1)
	vals := s.o.Executor.Run(plan, x, v, e.LogDensity)
	f0, fp, fm := plan.Block(vals, 0), plan.Block(vals, 1), plan.Block(vals, 2)
	diff := ad.Sub(fp, fm)
	per := ad.Add(ad.Sub(ad.Add(fp, fm), ad.Scale(f0, 2)), ad.Scale(ad.Square(diff), 0.125))
	scale := 1 / (s.o.Eps * s.o.Eps)
	if s.o.Scaling == ReferenceFlow {
		scale *= float64(dim(b.X))
	}
	return Result{Loss: mean(per, scale), PerSample: per}, nil
}

// fdDSM is FD-DSM (Eq. 10): x~ = x + σ n, f± = log p(x~ ± v),
// raw = (f+ - f- + 2vᵀ(x~ - x)/σ²)²/4 (≈ (vᵀ(g + (x~-x)/σ²))²); paper loss =
// mean(raw)/ε² (≈ DSM's ‖·‖²/d).
//
// With multi (fd-mdsm, the deep-EBM code's FD-DSM): σ_b per batch position
// as in mdsm and target scale s0: raw_b = (f+ - f- + 2vᵀ(x~-x)/s0²)²/4;
// paper loss = mean(raw_b/σ_b²)/ε², reference-ebm c·d·mean(raw_b/σ_b²)/ε²
// with c = s0⁴.
type fdDSM struct {
	o     Options
	multi bool
}

func (s fdDSM) Name() string {
	if s.multi {
		return "fd-mdsm"
	}
	return "fd-dsm"
}

func (s fdDSM) Eval(tp *ad.Tape, m models.Model, b Batch, rng *tensor.RNG) (Result, error) {
	e, err := energyOf(s.Name(), m)
	if err != nil {
		return Result{}, err
	}
	if err := checkX(s.Name(), m, b); err != nil {
		return Result{}, err
	}
	sig, inv := dsm(s).sigmaVars(tp, b)
	x := like(tp, b.X, b.X)
	xt := ad.Add(x, ad.Mul(noise(tp, b, rng), expandRows(sig, b.X.Rank())))
	v := directions(tp, b, Sphere, s.o.Eps, rng)
	plan := fdpar.NewPlan(1, -1)
	vals := s.o.Executor.Run(plan, xt, v, e.LogDensity)
	target := s.o.Sigma * s.o.Sigma
	if s.multi {
		target = s.o.S0 * s.o.S0
	}
	t := ad.Add(ad.Sub(plan.Block(vals, 0), plan.Block(vals, 1)), ad.Scale(rowDot(v, ad.Sub(xt, x)), 2/target))
	per := ad.Scale(ad.Square(t), 0.25)
	eps2 := s.o.Eps * s.o.Eps
	if !s.multi {
		return Result{Loss: mean(per, 1/eps2), PerSample: per}, nil
	}
	weighted := ad.Mean(ad.Mul(per, inv))
	scale := 1 / eps2
	if s.o.Scaling == ReferenceEBM {
		scale *= target * target * float64(dim(b.X))
	}
	return Result{Loss: ad.Scale(weighted, scale), PerSample: per}, nil
}

// fdSSMVR is FD-SSMVR for score networks (Sec. 4): at x~ = x + σ_y n and a
// level y per sample, s± = s(x~ ± v, y) from one plan;
// raw = ½vᵀ(s+ - s-) + ⅛‖s+ + s-‖² (≈ vᵀ∇s v + ½‖s‖²); paper loss =
// mean(σ_y²·(½vᵀ(s+ - s-)/ε² + ⅛‖s+ + s-‖²/d)), reference-ncsn d× that.
type fdSSMVR struct{ o Options }

func (fdSSMVR) Name() string { return "fd-ssmvr" }

func (s fdSSMVR) Eval(tp *ad.Tape, m models.Model, b Batch, rng *tensor.RNG) (Result, error) {
	sc, err := scoreOf("fd-ssmvr", m)
	if err != nil {
		return Result{}, err
	}
	if err := checkX("fd-ssmvr", m, b); err != nil {
		return Result{}, err
	}
	xt, levels, sig2, err := perturbLevels(tp, s.Name(), sc, b, rng)
	if err != nil {
		return Result{}, err
	}
	v := directions(tp, b, Sphere, s.o.Eps, rng)
	plan := fdpar.NewPlan(1, -1)
	// Each call sees whole blocks of n rows; repeat the levels to match.
	n := b.X.Dim(0)
	f := func(x *ad.Var) *ad.Var {
		rows := x.Shape()[0]
		if rows == n {
			return sc.Score(x, levels)
		}
		reps := make([]*ad.Var, rows/n)
		for i := range reps {
			reps[i] = levels
		}
		return sc.Score(x, ad.Concat(0, reps...))
	}
	vals := s.o.Executor.Run(plan, tp.Const(xt), v, f)
	sp, sm := plan.Block(vals, 0), plan.Block(vals, 1)
	jv := ad.Scale(rowDot(v, ad.Sub(sp, sm)), 0.5)
	s2 := ad.Scale(rowSq(ad.Add(sp, sm)), 0.125)
	per := ad.Add(jv, s2)
	d := float64(dim(b.X))
	w := ad.Add(ad.Scale(jv, 1/(s.o.Eps*s.o.Eps)), ad.Scale(s2, 1/d))
	scale := 1.0
	if s.o.Scaling == ReferenceNCSN {
		scale = d
	}
	return Result{Loss: ad.Scale(ad.Mean(ad.Mul(w, sig2)), scale), PerSample: per}, nil
}
