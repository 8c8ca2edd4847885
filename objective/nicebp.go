package objective

import (
	"fmt"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// The NICE baselines of the paper's Table 1 estimate the score-matching
// integrand ½‖g‖² + tr(H), g = ∇ₓ log p and H = ∇ₓ² log p, by one explicit
// backward pass through the flow instead of d autodiff passes:
//
//   - approx-bp (Kingma & LeCun 2010) propagates g exactly and an
//     approximation h of diag(H) that drops every off-diagonal second
//     derivative between the units of a layer;
//   - cp (curvature propagation, Martens et al. 2012) propagates g and two
//     random vectors S_r, S_i with E[S_r² - S_i²] = diag(H) exactly.
//
// Per-sample raw term ½‖g‖² + Σᵢ hᵢ; loss = mean in every scaling (the
// reference code computes the same). Every step is an autodiff op, so the
// loss is differentiable with respect to the parameters.
//
// The backward pass of z = f(x) (see models.NICE), at each set of units u
// with g = ∂ log p/∂u:
//
//	output, log p = -½‖z‖² + Σs:  g = -z, h = -1 (the exact Hessian -I),
//	                              S_r = 0, S_i = v Rademacher (-I = (iI)(iI)ᵀ);
//	scale z = y∘eˢ:                g, S ← ·∘eˢ, h ← h∘e²ˢ;
//	Linear y = u Wᵀ + b:           g, S ← · W, h ← h (W∘W);
//	activation y = φ(a):           h ← g φ''(a) + h φ'(a)²,
//	                              S_r ← √max(M,0) r + S_r φ'(a),
//	                              S_i ← √max(-M,0) r + S_i φ'(a), M = g φ''(a),
//	                              then g ← g φ'(a); r a fresh Rademacher vector
//	                              per nonlinearity (g, M taken before the update);
//	split/merge:                   the fixed permutation, applied to every quantity.
//
// Additive coupling y_b = x_b + m(x_a), y_a = x_a, where (a, b) = (first,
// second) half for NICECoupling.Swap false and (second, first) for Swap true:
// x_b reaches the output only through the identity into y_b, so every
// quantity passes unchanged (g_xb = g_yb, h_xb = h_yb, S_xb = S_yb); x_a
// reaches it through the identity into y_a and through m into y_b, so
//
//	g_xa = g_ya + Jₘᵀ g_yb,   S_xa = S_ya + (S_yb propagated back through m),
//	h_xa = h_ya + (h_yb, g_yb propagated back through m by the rules above).
//
// For g and S this is the exact chain rule. For h it drops the cross terms
// 2 Σⱼ H[y_a,i, y_b,j] ∂mⱼ/∂x_a,i, zero when the Hessian at the coupling's
// output is diagonal (the last coupling) and not in general, which is Kingma
// & LeCun's approximation. The reference code never passes the coupling type
// and so treats the Swap-true couplings as Swap false, which propagates
// through the wrong halves; here each coupling uses its own (a, b).

func init() {
	register("approx-bp", func(o Options) (Objective, error) { return niceBP{o: o}, nil })
	register("cp", func(o Options) (Objective, error) { return niceBP{o: o, cp: true}, nil })
}

// niceBP is approx-bp, or cp when cp is set.
type niceBP struct {
	o  Options
	cp bool
}

func (n niceBP) Name() string {
	if n.cp {
		return "cp"
	}
	return "approx-bp"
}

func (n niceBP) Eval(tp *ad.Tape, m models.Model, b Batch, rng *tensor.RNG) (Result, error) {
	nm, ok := m.(*models.NICE)
	if !ok {
		return Result{}, errNeedsFlow(n.Name(), m)
	}
	if err := checkX(n.Name(), m, b); err != nil {
		return Result{}, err
	}
	if n.cp && rng == nil {
		return Result{}, fmt.Errorf("objective cp: needs an RNG for its Rademacher vectors")
	}
	x := tp.Const(b.X.Reshape(b.X.Dim(0), dim(b.X)))
	g, h := niceDerivs(nm, x, n.cp, rng)
	per := ad.Add(ad.Scale(rowSq(g), 0.5), ad.Sum(h, 1))
	return Result{Loss: mean(per, 1), PerSample: per}, nil
}

// bpState holds the backward quantities at a set of units, each [n, units]:
// g exactly, and h (approx-bp) or sr, si (cp).
type bpState struct{ g, h, sr, si *ad.Var }

// niceDerivs returns g = ∇ₓ log p and the diagonal estimate h, each [n, d],
// for x [n, d]: Approx BP's h, or with cp one CP draw S_r² - S_i².
func niceDerivs(nm *models.NICE, x *ad.Var, cp bool, rng *tensor.RNG) (g, h *ad.Var) {
	tp := x.Tape()
	act := nm.Activation()
	cs := nm.Couplings()
	// Forward, keeping the pre-activations of every coupling net.
	var hv [2]*ad.Var
	hv[0], hv[1] = nm.Split(x)
	pre := make([][]*ad.Var, len(cs))
	for k, c := range cs {
		a, bh := halves(c)
		u := hv[a]
		for i, l := range c.Net {
			u = l.Forward(u)
			if i+1 < len(c.Net) {
				pre[k] = append(pre[k], u)
				u = act.Apply(u)
			}
		}
		hv[bh] = ad.Add(hv[bh], u)
	}
	es := ad.Exp(tp.Param(nm.Scale()))
	z := ad.Mul(ad.Concat(1, hv[0], hv[1]), es)

	// Output and scale layer.
	n, d := z.Shape()[0], z.Shape()[1]
	dt := z.DType()
	st := bpState{g: ad.Mul(ad.Neg(z), es)}
	if cp {
		st.sr = tp.Zeros(dt, n, d)
		st.si = ad.Mul(tp.Random(dt, tensor.Rademacher(), rng, n, d), es)
	} else {
		st.h = ad.BroadcastTo(ad.Neg(ad.Square(es)), tensor.Shape{n, d})
	}
	half := d / 2
	s := [2]bpState{st.slice(0, half), st.slice(half, d)}

	// Couplings in reverse order.
	for k := len(cs) - 1; k >= 0; k-- {
		a, bh := halves(cs[k])
		s[a] = s[a].plus(netBack(cs[k].Net, pre[k], act, s[bh], rng))
	}
	g = nm.Merge(s[0].g, s[1].g)
	if cp {
		return g, nm.Merge(s[0].diag(), s[1].diag())
	}
	return g, nm.Merge(s[0].h, s[1].h)
}

// halves returns (conditioning half a, transformed half b) of a coupling.
func halves(c models.NICECoupling) (a, b int) {
	if c.Swap {
		return 1, 0
	}
	return 0, 1
}

// netBack propagates out (the quantities at the net's output) back to its
// input through the Linear layers and activations of net; pre are the
// pre-activations of the activations in forward order.
func netBack(net []*models.Linear, pre []*ad.Var, act models.Activation, out bpState, rng *tensor.RNG) bpState {
	tp, s := out.g.Tape(), out
	for i := len(net) - 1; i >= 0; i-- {
		s = s.linear(tp.Param(net[i].Weight))
		if i > 0 {
			s = s.activation(pre[i-1], act, rng)
		}
	}
	return s
}

func (s bpState) slice(lo, hi int) bpState {
	cut := func(v *ad.Var) *ad.Var {
		if v == nil {
			return nil
		}
		return ad.Slice(v, 1, lo, hi)
	}
	return bpState{cut(s.g), cut(s.h), cut(s.sr), cut(s.si)}
}

func (s bpState) plus(t bpState) bpState {
	sum := func(a, b *ad.Var) *ad.Var {
		if a == nil {
			return nil
		}
		return ad.Add(a, b)
	}
	return bpState{sum(s.g, t.g), sum(s.h, t.h), sum(s.sr, t.sr), sum(s.si, t.si)}
}

// linear goes back through y = u Wᵀ + b, w [out, in].
func (s bpState) linear(w *ad.Var) bpState {
	mm := func(v, w *ad.Var) *ad.Var {
		if v == nil {
			return nil
		}
		return ad.MatMul(v, w, false, false)
	}
	return bpState{mm(s.g, w), mm(s.h, ad.Square(w)), mm(s.sr, w), mm(s.si, w)}
}

// activation goes back through y = φ(a).
func (s bpState) activation(a *ad.Var, act models.Activation, rng *tensor.RNG) bpState {
	d1, d2 := actDerivs(act, a)
	out := bpState{g: ad.Mul(s.g, d1)}
	if s.h != nil {
		out.h = ad.Add(ad.Mul(s.g, d2), ad.Mul(s.h, ad.Square(d1)))
	}
	if s.sr != nil {
		m := ad.Mul(s.g, d2)
		r := a.Tape().Random(a.DType(), tensor.Rademacher(), rng, a.Shape()...)
		out.sr = ad.Add(ad.Mul(sqrtPos(m), r), ad.Mul(s.sr, d1))
		out.si = ad.Add(ad.Mul(sqrtPos(ad.Neg(m)), r), ad.Mul(s.si, d1))
	}
	return out
}

// diag is CP's estimate S_r² - S_i² of diag(H).
func (s bpState) diag() *ad.Var { return ad.Sub(ad.Square(s.sr), ad.Square(s.si)) }

// sqrtTiny keeps √ away from 0, where its derivative is infinite: √max(m, c)
// masked by m > 0 differs from √max(m, 0) by at most √c = 1e-15 and its
// derivative is finite everywhere (zero where m ≤ c).
const sqrtTiny = 1e-30

// sqrtPos returns √max(m, 0) elementwise, differentiably.
func sqrtPos(m *ad.Var) *ad.Var {
	c := m.Tape().Scalar(m.DType(), sqrtTiny)
	return ad.Mul(ad.Sqrt(ad.Maximum(m, c)), ad.Step(m))
}

// actDerivs returns φ's first and second derivatives at a in closed form, for
// every models.Activation (ELU with α = 1, as models uses).
func actDerivs(act models.Activation, a *ad.Var) (d1, d2 *ad.Var) {
	switch act {
	case models.ActSoftplus, models.ActShiftedSoftplus:
		s := ad.Sigmoid(a)
		return s, ad.Mul(s, ad.OneMinus(s))
	case models.ActTanh:
		t := ad.Tanh(a)
		d1 = ad.OneMinus(ad.Square(t))
		return d1, ad.Scale(ad.Mul(t, d1), -2)
	case models.ActSigmoid:
		s := ad.Sigmoid(a)
		d1 = ad.Mul(s, ad.OneMinus(s))
		return d1, ad.Mul(d1, ad.OneMinus(ad.Scale(s, 2)))
	case models.ActELU:
		// a > 0: (1, 0); a ≤ 0: (eᵃ, eᵃ). e^min(a,0) never overflows.
		pos := ad.Step(a)
		d2 = ad.Mul(ad.Exp(ad.Neg(ad.ReLU(ad.Neg(a)))), ad.OneMinus(pos))
		return ad.Add(pos, d2), d2
	case models.ActSwish:
		// φ = aσ: φ' = σ + aσ(1-σ), φ'' = σ(1-σ)(2 + a(1-2σ)).
		s := ad.Sigmoid(a)
		ds := ad.Mul(s, ad.OneMinus(s))
		d1 = ad.Add(s, ad.Mul(a, ds))
		return d1, ad.Mul(ds, ad.AddScalar(ad.Mul(a, ad.OneMinus(ad.Scale(s, 2))), 2))
	}
	panic(fmt.Sprintf("objective: no derivatives for activation %q", act))
}
