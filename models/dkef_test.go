package models

import (
	"fmt"
	"math"
	"strings"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

var dkefBE = tensor.DefaultCPU()

func dkefRand(seed uint64, std float64, shape ...int) *tensor.Tensor {
	t := dkefBE.Empty(tensor.Float64, shape...)
	dkefBE.Random(t, tensor.Normal(0, std), tensor.NewRNG(seed))
	return t
}

// dkefSmall is a float64 DKEF with d=3, M=5, F=4 and 3 kernels whose
// mixture weights are moved off their symmetric start, so every parameter
// has a generic gradient.
func dkefSmall(t *testing.T) *DKEF {
	t.Helper()
	m, err := NewDKEF(NewBuilder(dkefBE, tensor.Float64, 7),
		DKEFOptions{InputDim: 3, NumInducing: 5, FeatureDim: 4, NumKernels: 3, Q0Std: 2, LogLambdaInit: -2})
	if err != nil {
		t.Fatal(err)
	}
	copy(m.weights.Value.Float64s(), []float64{0.3, -0.2, 0.1})
	return m
}

// dkefCheckParams checks the gradient of sum(f) with respect to each
// parameter against central differences with CheckGrad's defaults.
func dkefCheckParams(t *testing.T, params []*ad.Param, f func(tp *ad.Tape) *ad.Var) {
	t.Helper()
	if err := ad.CheckParamGrad(dkefBE, f, params, ad.CheckOptions{}); err != nil {
		t.Error(err)
	}
}

func dkefAlpha(t *testing.T, m *DKEF, xfit *tensor.Tensor, tp *ad.Tape) *ad.Var {
	alpha, err := m.FitAlphaSM(tp.Const(xfit))
	if err != nil {
		t.Fatal(err)
	}
	return alpha
}

func TestDKEFShapesAndParams(t *testing.T) {
	s, err := ParseSpec([]byte("kind: dkef"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := Build(s, dkefBE, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	m := mod.(*DKEF)
	want := map[string][]int{"log_sigma": {3}, "kernel_weights": {3}, "inducing_points": {200, 11}, "log_lambda": {1}}
	for j := 0; j < 3; j++ {
		p := fmt.Sprintf("features.%d.", j)
		want[p+"l1.weight"], want[p+"l1.bias"] = []int{30, 11}, []int{30}
		want[p+"l2.weight"], want[p+"l2.bias"] = []int{30, 30}, []int{30}
		want[p+"l3.weight"], want[p+"l3.bias"] = []int{30, 30}, []int{30}
		want[p+"skip.weight"] = []int{30, 11}
	}
	if n := NumParams(m); n != 9857 { // 3·(360+930+930+330) + 3 + 3 + 2200 + 1
		t.Errorf("%d parameters, want 9857", n)
	}
	if len(m.Params()) != len(want) {
		t.Errorf("%d params, want %d", len(m.Params()), len(want))
	}
	for _, p := range m.Params() {
		if w, ok := want[p.Name]; !ok || !p.Value.Shape().Equal(w) {
			t.Errorf("param %s %v, want %v", p.Name, p.Value.Shape(), w)
		}
	}
	if got := m.Spec().Options["log_sigma_init"]; fmt.Sprint(got) != "[0 0.5185 1]" {
		t.Errorf("spec log_sigma_init %v", got)
	}
	if ls := m.logSigma.Value.ToFloat64s(); math.Abs(ls[1]-0.5185) > 1e-7 || m.logLambda.Value.Item() != -2 {
		t.Errorf("log_sigma %v, log_lambda %v", ls, m.logLambda.Value.Item())
	}
	if a := m.Buffers()["alpha"]; a != m.Alpha() || !a.Shape().Equal(tensor.Shape{200}) {
		t.Errorf("alpha buffer %v", a)
	}

	tp := ad.NewTape(dkefBE)
	x := tp.Leaf(tensor.FromFloat64s(dkefBE, tensor.Float32, tensor.Shape{20, 11}, dkefRand(3, 1, 20, 11).Float64s()))
	if got := m.KernelMatrix(x).Shape(); !got.Equal(tensor.Shape{20, 200}) {
		t.Errorf("K %v", got)
	}
	g, b := m.SMSystem(x)
	if !g.Shape().Equal(tensor.Shape{200, 200}) || !b.Shape().Equal(tensor.Shape{200}) {
		t.Errorf("G %v b %v", g.Shape(), b.Shape())
	}
	alpha, err := m.FitAlphaSM(x)
	if err != nil {
		t.Fatal(err)
	}
	lp := m.LogDensityAlpha(x, alpha)
	if !alpha.Shape().Equal(tensor.Shape{200}) || !lp.Shape().Equal(tensor.Shape{20}) || lp.Value().HasNonFinite() {
		t.Errorf("alpha %v log p %v finite %v", alpha.Shape(), lp.Shape(), !lp.Value().HasNonFinite())
	}
	m.SetAlpha(alpha.Value())
	if got := m.LogDensity(x).Value().ToFloat64s(); got[3] != lp.Value().ToFloat64s()[3] {
		t.Errorf("LogDensity with the buffer %v, with alpha %v", got[3], lp.Value().ToFloat64s()[3])
	}
}

// dkefRefK computes K[i,m] in plain float64 from the parameter values, with
// the distance taken directly as Σ(φ(x)-φ(z))².
func dkefRefK(m *DKEF, x []float64, n int) [][]float64 {
	o := m.opts
	lin := func(l *Linear, in []float64) []float64 {
		w := l.Weight.Value.Float64s()
		out := make([]float64, l.Weight.Value.Dim(0))
		for r := range out {
			for c, v := range in {
				out[r] += w[r*len(in)+c] * v
			}
			if l.Bias != nil {
				out[r] += l.Bias.Value.Float64s()[r]
			}
		}
		return out
	}
	sp := func(v []float64) []float64 {
		for i := range v {
			v[i] = math.Log1p(math.Exp(v[i]))
		}
		return v
	}
	phi := func(f dkefFeature, in []float64) []float64 {
		y := lin(f.l3, sp(lin(f.l2, sp(lin(f.l1, in)))))
		for i, s := range lin(f.skip, in) {
			y[i] += s
		}
		return y
	}
	w, ls, z := m.weights.Value.Float64s(), m.logSigma.Value.Float64s(), m.inducing.Value.Float64s()
	den := 0.0
	for _, v := range w {
		den += math.Exp(v)
	}
	k := make([][]float64, n)
	for i := range k {
		k[i] = make([]float64, o.NumInducing)
		for mm := range k[i] {
			for j, f := range m.feats {
				a, b := phi(f, x[i*o.InputDim:(i+1)*o.InputDim]), phi(f, z[mm*o.InputDim:(mm+1)*o.InputDim])
				d2 := 0.0
				for c := range a {
					d2 += (a[c] - b[c]) * (a[c] - b[c])
				}
				k[i][mm] += math.Exp(w[j]) / den * math.Exp(-d2/(2*math.Pow(10, ls[j])))
			}
		}
	}
	return k
}

// TestDKEFKernelValues: K and log p~ against the plain float64 formulas.
// Tolerance 1e-12: the model expands |a-b|² = |a|²+|b|²-2a·b, which loses
// about 1e-16·|φ|² ≈ 1e-15 here; everything else is exact up to rounding.
func TestDKEFKernelValues(t *testing.T) {
	m := dkefSmall(t)
	copy(m.logSigma.Value.Float64s(), []float64{-0.2, 0.3, 0.6})
	n := 4
	xt, at := dkefRand(11, 1, n, 3), dkefRand(12, 1, 5)
	ref := dkefRefK(m, xt.Float64s(), n)
	tp := ad.NewTape(dkefBE)
	k := m.KernelMatrix(tp.Const(xt)).Value()
	lp := m.LogDensityAlpha(tp.Const(xt), tp.Const(at)).Value().Float64s()
	for i := 0; i < n; i++ {
		want := 0.0
		for c := 0; c < 3; c++ {
			want -= xt.At(i, c) * xt.At(i, c) / 8 // q0_std = 2
		}
		for mm := 0; mm < 5; mm++ {
			if got := k.At(i, mm); math.Abs(got-ref[i][mm]) > 1e-12 {
				t.Errorf("K[%d,%d] = %.15g, want %.15g", i, mm, got, ref[i][mm])
			}
			want += ref[i][mm] * at.Float64s()[mm]
		}
		if math.Abs(lp[i]-want) > 1e-12*math.Max(1, math.Abs(want)) {
			t.Errorf("log p~[%d] = %.15g, want %.15g", i, lp[i], want)
		}
	}
}

func TestDKEFMixtureWeightsSumToOne(t *testing.T) {
	m := dkefSmall(t)
	w := m.MixtureWeights(ad.NewTape(dkefBE)).Value().Float64s()
	raw, den, sum := m.weights.Value.Float64s(), 0.0, 0.0
	for _, v := range raw {
		den += math.Exp(v)
	}
	for j, v := range w {
		sum += v
		if math.Abs(v-math.Exp(raw[j])/den) > 1e-15 {
			t.Errorf("softmax[%d] = %v, want %v", j, v, math.Exp(raw[j])/den)
		}
	}
	if math.Abs(sum-1) > 1e-15 { // a few ulp of 1
		t.Errorf("mixture weights sum to %v", sum)
	}
}

// TestDKEFSolveGrad: a scalar of α = SolveAlpha(G, b) against central
// differences, first with G, b built from free leaves (so CheckGrad applies
// directly), then with G, b from the score-matching system, wrt every
// parameter (log_lambda, the G-producing nets, inducing points).
func TestDKEFSolveGrad(t *testing.T) {
	m := dkefSmall(t)
	c := dkefRand(21, 1, 5)
	f := func(xs []*ad.Var) *ad.Var {
		g := ad.MatMul(xs[0], xs[0], true, false) // PSD like the real G
		alpha, err := m.SolveAlpha(g, xs[1])
		if err != nil {
			t.Fatal(err)
		}
		return ad.Mul(ad.Tanh(alpha), xs[0].Tape().Const(c))
	}
	if err := ad.CheckGrad(dkefBE, f, []*tensor.Tensor{dkefRand(22, 0.5, 6, 5), dkefRand(23, 1, 5)}, ad.CheckOptions{}); err != nil {
		t.Error(err)
	}
	xfit := dkefRand(24, 1, 8, 3)
	dkefCheckParams(t, m.Params(), func(tp *ad.Tape) *ad.Var {
		return ad.Mul(ad.Tanh(dkefAlpha(t, m, xfit, tp)), tp.Const(c))
	})
}

// TestDKEFLogDensityGradThroughFit: sum log p~(x; α(x_fit)) wrt all params.
func TestDKEFLogDensityGradThroughFit(t *testing.T) {
	m := dkefSmall(t)
	xfit, x := dkefRand(31, 1, 8, 3), dkefRand(32, 1, 6, 3)
	dkefCheckParams(t, m.Params(), func(tp *ad.Tape) *ad.Var {
		return m.LogDensityAlpha(tp.Const(x), dkefAlpha(t, m, xfit, tp))
	})
}

// TestDKEFSecondOrderThroughFit: sum v·∇x log p~(x; α(x_fit)) wrt all params,
// a gradient of a gradient through the solve, and the third-order SSM loss
// ½(v·∇x log p~)² + v·∇x(v·∇x log p~) that exact SSM training differentiates.
func TestDKEFSecondOrderThroughFit(t *testing.T) {
	m := dkefSmall(t)
	xfit, xt, vt := dkefRand(41, 1, 8, 3), dkefRand(42, 1, 6, 3), dkefRand(43, 1, 6, 3)
	gradV := func(tp *ad.Tape) (x, v, gv *ad.Var) {
		x, v = tp.Leaf(xt), tp.Const(vt)
		lp := ad.Sum(m.LogDensityAlpha(x, dkefAlpha(t, m, xfit, tp)))
		g := ad.Grad([]*ad.Var{lp}, []*ad.Var{x}, ad.GradOptions{CreateGraph: true})[0]
		return x, v, ad.Sum(ad.Mul(g, v), 1)
	}
	dkefCheckParams(t, m.Params(), func(tp *ad.Tape) *ad.Var { _, _, gv := gradV(tp); return gv })
	dkefCheckParams(t, m.Params(), func(tp *ad.Tape) *ad.Var {
		x, v, gv := gradV(tp)
		h := ad.Grad([]*ad.Var{ad.Sum(gv)}, []*ad.Var{x}, ad.GradOptions{CreateGraph: true})[0]
		return ad.Add(ad.Scale(ad.Square(gv), 0.5), ad.Sum(ad.Mul(h, v), 1))
	})
}

// dkefBruteSM is the score-matching objective mean_i Σ_d [½(∂_d log p~)² +
// ∂²_d log p~] for coefficients a, with every derivative from autodiff
// (one backward pass per coordinate for the Hessian diagonal).
func dkefBruteSM(m *DKEF, xt, at *tensor.Tensor) float64 {
	tp := ad.NewTape(dkefBE)
	x := tp.Leaf(xt)
	n, d := xt.Dim(0), xt.Dim(1)
	g := ad.Grad([]*ad.Var{ad.Sum(m.LogDensityAlpha(x, tp.Const(at)))}, []*ad.Var{x}, ad.GradOptions{CreateGraph: true})[0]
	j := 0.5 * ad.Sum(ad.Square(g)).Item()
	for c := 0; c < d; c++ {
		h := ad.Grad1(ad.Sum(ad.Slice(g, 1, c, c+1)), x)[0]
		j += ad.Sum(ad.Slice(h, 1, c, c+1)).Item()
	}
	return j / float64(n)
}

// TestDKEFSMSystemMatchesObjective: J is quadratic in α, so J(a) - J(0) must
// equal ½aᵀGa + aᵀb for every a; checked for several random a against the
// brute-force objective. This validates the analytic first and second
// kernel derivatives in G and b. Tolerance 1e-12 absolute: both sides are
// float64 sums of O(100) terms of size <= O(1) (observed agreement ~1e-16),
// while dropping any one derivative term moves J by ~1e-3.
func TestDKEFSMSystemMatchesObjective(t *testing.T) {
	m := dkefSmall(t)
	copy(m.logSigma.Value.Float64s(), []float64{-0.2, 0.3, 0.6})
	xt := dkefRand(51, 1, 7, 3)
	tp := ad.NewTape(dkefBE)
	g, b := m.SMSystem(tp.Const(xt))
	gv, bv := g.Value(), b.Value().Float64s()
	j0 := dkefBruteSM(m, xt, dkefBE.Zeros(tensor.Float64, 5))
	for s := uint64(0); s < 5; s++ {
		at := dkefRand(52+s, 1, 5)
		a := at.Float64s()
		quad := 0.0
		for r := range a {
			quad += a[r] * bv[r]
			for c := range a {
				quad += 0.5 * a[r] * gv.At(r, c) * a[c]
				if math.Abs(gv.At(r, c)-gv.At(c, r)) > 1e-14 {
					t.Fatalf("G not symmetric at %d,%d", r, c)
				}
			}
		}
		got := dkefBruteSM(m, xt, at) - j0
		if math.Abs(got-quad) > 1e-12 {
			t.Errorf("a #%d: J(a)-J(0) = %.12g, ½aᵀGa + aᵀb = %.12g", s, got, quad)
		}
	}
}

func TestDKEFSetInducingPointsAndAlpha(t *testing.T) {
	m := dkefSmall(t)
	z := dkefRand(61, 1, 5, 3)
	if err := m.SetInducingPoints(z); err != nil {
		t.Fatal(err)
	}
	if m.inducing.Value.At(4, 2) != z.At(4, 2) {
		t.Error("inducing points not copied")
	}
	if err := m.SetInducingPoints(dkefRand(62, 1, 4, 3)); err == nil {
		t.Error("4 inducing points for M=5 accepted")
	}
	a := dkefRand(63, 1, 5)
	m.SetAlpha(a)
	a.Float64s()[0] = 99 // the buffer is a copy
	if m.Alpha().At(0) == 99 || m.Alpha().At(1) != a.At(1) {
		t.Error("SetAlpha does not copy")
	}
}

func TestDKEFBadOptions(t *testing.T) {
	for _, c := range []struct{ spec, want string }{
		{"{kind: dkef, input_dim: 0}", "input_dim"},
		{"{kind: dkef, num_inducing: -1}", "num_inducing"},
		{"{kind: dkef, feature_dim: 0}", "feature_dim"},
		{"{kind: dkef, num_kernels: 0}", "num_kernels"},
		{"{kind: dkef, q0_std: 0}", "q0_std"},
		{"{kind: dkef, q0_std: -2}", "q0_std"},
		{"{kind: dkef, log_sigma_init: [0, 1]}", "log_sigma_init"},
		{"{kind: dkef, num_kernels: 2, log_sigma_init: [0, 0.5, 1]}", "log_sigma_init"},
		{"{kind: dkef, bandwidth: 1}", "unknown option"},
	} {
		s, err := ParseSpec([]byte(c.spec))
		if err == nil {
			_, err = Build(s, dkefBE, tensor.Float64, 1)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.spec, err, c.want)
		}
	}
	// Without log_sigma_init, other kernel counts get evenly spaced values.
	s, _ := ParseSpec([]byte("{kind: dkef, num_kernels: 2, input_dim: 2, num_inducing: 3}"))
	m, err := Build(s, dkefBE, tensor.Float64, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ls := m.(*DKEF).logSigma.Value.ToFloat64s(); ls[0] != 0 || ls[1] != 1 {
		t.Errorf("log_sigma for 2 kernels %v, want [0 1]", ls)
	}
}
