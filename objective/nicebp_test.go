package objective

import (
	"math"
	"strings"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// bpNICE builds a tiny float64 NICE (d = 4) and redraws every parameter,
// the scale included, from N(0, 0.5²) so no term hides behind a zero init.
func bpNICE(t *testing.T, opts map[string]any, seed uint64) *models.NICE {
	t.Helper()
	o := map[string]any{"input_dim": 4, "hidden": 3, "hidden_layers": 2, "coupling_layers": 3}
	for k, v := range opts {
		o[k] = v
	}
	m, err := models.Build(models.Spec{Kind: "nice", Options: o}, tensor.DefaultCPU(), tensor.Float64, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(seed + 100)
	for _, p := range m.Params() {
		tensor.DefaultCPU().Random(p.Value, tensor.Normal(0, 0.5), rng)
	}
	return m.(*models.NICE)
}

func bpX(seed uint64, n, d int) *tensor.Tensor {
	x := tensor.DefaultCPU().Empty(tensor.Float64, n, d)
	tensor.DefaultCPU().Random(x, tensor.Normal(0, 1), tensor.NewRNG(seed))
	return x
}

// exactDerivs returns ∇ₓ log p and diag(∇ₓ² log p) [n·d] by autodiff, the
// diagonal by d backward passes.
func exactDerivs(nm *models.NICE, x *tensor.Tensor) (g, hd []float64) {
	tp := ad.NewTape(tensor.DefaultCPU())
	defer tp.Reset()
	xv := tp.Leaf(x)
	gv := ad.Grad([]*ad.Var{ad.Sum(nm.LogDensity(xv))}, []*ad.Var{xv}, ad.GradOptions{CreateGraph: true})[0]
	n, d := x.Dim(0), x.Dim(1)
	g, hd = gv.Value().ToFloat64s(), make([]float64, n*d)
	for i := range d {
		row := ad.Grad([]*ad.Var{ad.Sum(ad.Slice(gv, 1, i, i+1))}, []*ad.Var{xv}, ad.GradOptions{})[0].Value().ToFloat64s()
		for r := range n {
			hd[r*d+i] = row[r*d+i]
		}
	}
	return g, hd
}

// ourDerivs returns niceDerivs' g and h as float64s.
func ourDerivs(nm *models.NICE, x *tensor.Tensor, cp bool, rng *tensor.RNG) (g, h []float64) {
	tp := ad.NewTape(tensor.DefaultCPU())
	defer tp.Reset()
	gv, hv := niceDerivs(nm, tp.Const(x), cp, rng)
	return gv.Value().ToFloat64s(), hv.Value().ToFloat64s()
}

// closeTo reports the worst |got-want|/max(1,|want|) above tol, or "".
func closeTo(got, want []float64, tol float64) (worst float64, at int) {
	worst, at = -1, -1
	for i := range want {
		e := math.Abs(got[i]-want[i]) / math.Max(1, math.Abs(want[i]))
		if e > worst || math.IsNaN(e) {
			worst, at = e, i
		}
	}
	return worst, at
}

// Float64 rounding over a few dozen operations on O(1) values errs by about
// 1e-15; 1e-12 leaves three orders of margin while any wrong term is O(0.1).
const bpTol = 1e-12

func TestApproxBPAndCPScoreIsExact(t *testing.T) {
	for _, act := range []string{"softplus", "tanh", "elu", "swish"} {
		nm := bpNICE(t, map[string]any{"activation": act}, 1)
		x := bpX(2, 5, 4)
		want, _ := exactDerivs(nm, x)
		for _, cp := range []bool{false, true} {
			g, _ := ourDerivs(nm, x, cp, tensor.NewRNG(3))
			if e, i := closeTo(g, want, bpTol); e > bpTol {
				t.Errorf("%s cp=%v: g[%d] = %.15g, exact %.15g", act, cp, i, g[i], want[i])
			}
		}
	}
}

// refApproxBP is an independent plain-loop Approx BP for one sample of a
// softplus NICE, following the rules in the facts and the coupling chain.
func refApproxBP(nm *models.NICE, x []float64) (g, h []float64) {
	d, half := len(x), len(x)/2
	var hv, gs, hs [2][]float64
	for p := range 2 {
		hv[p], gs[p], hs[p] = make([]float64, half), make([]float64, half), make([]float64, half)
		for j := range half {
			hv[p][j] = x[2*j+p]
		}
	}
	sig := func(a float64) float64 { return 1 / (1 + math.Exp(-a)) }
	cs := nm.Couplings()
	pre := make([][][]float64, len(cs))
	for k, c := range cs {
		a, b := 0, 1
		if c.Swap {
			a, b = 1, 0
		}
		u := hv[a]
		for i, l := range c.Net {
			w, bias := l.Weight.Value, l.Bias.Value.Float64s()
			y := make([]float64, w.Dim(0))
			for o := range y {
				y[o] = bias[o]
				for j := range u {
					y[o] += w.At(o, j) * u[j]
				}
			}
			u = y
			if i+1 < len(c.Net) {
				pre[k] = append(pre[k], y)
				u = make([]float64, len(y))
				for j, v := range y {
					u[j] = math.Log1p(math.Exp(v))
				}
			}
		}
		for j := range half {
			hv[b][j] += u[j]
		}
	}
	s := nm.Scale().Value.Float64s()
	for i := range d {
		p, j := i/half, i%half
		gs[p][j] = -hv[p][j] * math.Exp(2*s[i]) // -z eˢ, z = y eˢ
		hs[p][j] = -math.Exp(2 * s[i])
	}
	for k := len(cs) - 1; k >= 0; k-- {
		a, b := 0, 1
		if cs[k].Swap {
			a, b = 1, 0
		}
		gc, hc := gs[b], hs[b]
		for i := len(cs[k].Net) - 1; i >= 0; i-- {
			w := cs[k].Net[i].Weight.Value
			gi, hi := make([]float64, w.Dim(1)), make([]float64, w.Dim(1))
			for j := range gi {
				for o := range w.Dim(0) {
					gi[j] += gc[o] * w.At(o, j)
					hi[j] += hc[o] * w.At(o, j) * w.At(o, j)
				}
			}
			if i > 0 {
				for j, av := range pre[k][i-1] {
					sg := sig(av)
					hi[j] = gi[j]*sg*(1-sg) + hi[j]*sg*sg
					gi[j] *= sg
				}
			}
			gc, hc = gi, hi
		}
		for j := range half {
			gs[a][j] += gc[j]
			hs[a][j] += hc[j]
		}
	}
	g, h = make([]float64, d), make([]float64, d)
	for j := range half {
		for p := range 2 {
			g[2*j+p], h[2*j+p] = gs[p][j], hs[p][j]
		}
	}
	return g, h
}

func TestApproxBPMatchesReferenceLoops(t *testing.T) {
	nm := bpNICE(t, nil, 4) // 3 couplings: both coupling types, twice and once
	x := bpX(5, 3, 4)
	g, h := ourDerivs(nm, x, false, nil)
	xs := x.Float64s()
	var wantG, wantH, wantPer []float64
	for r := range 3 {
		rg, rh := refApproxBP(nm, xs[r*4:(r+1)*4])
		wantG, wantH = append(wantG, rg...), append(wantH, rh...)
		per := 0.0
		for i := range rg {
			per += 0.5*rg[i]*rg[i] + rh[i]
		}
		wantPer = append(wantPer, per)
	}
	if e, i := closeTo(g, wantG, bpTol); e > bpTol {
		t.Errorf("g[%d] = %.15g, reference %.15g", i, g[i], wantG[i])
	}
	if e, i := closeTo(h, wantH, bpTol); e > bpTol {
		t.Errorf("h[%d] = %.15g, reference %.15g", i, h[i], wantH[i])
	}
	// Eval assembles ½‖g‖² + Σh per sample and their mean.
	obj, err := New("approx-bp", Options{})
	if err != nil {
		t.Fatal(err)
	}
	tp := ad.NewTape(tensor.DefaultCPU())
	defer tp.Reset()
	res, err := obj.Eval(tp, nm, Batch{X: x}, nil)
	if err != nil {
		t.Fatal(err)
	}
	per := res.PerSample.Value().ToFloat64s()
	if e, i := closeTo(per, wantPer, bpTol); e > bpTol {
		t.Errorf("per-sample[%d] = %.15g, reference %.15g", i, per[i], wantPer[i])
	}
	if m := (wantPer[0] + wantPer[1] + wantPer[2]) / 3; math.Abs(res.Loss.Item()-m) > bpTol*math.Max(1, math.Abs(m)) {
		t.Errorf("loss %.15g, want mean %.15g", res.Loss.Item(), m)
	}
}

// Approx BP drops only the off-diagonal second derivatives between units of
// one layer. It is therefore exact when every Hessian it meets is diagonal:
// a NICE with one effective coupling (the other's last weight zeroed makes
// it a constant shift) whose net has one hidden layer of width d/2 and a
// diagonal output weight (each output depends on one hidden unit, so the
// Hessian at the hidden layer, W₂ᵀ diag(·) W₂ + diag(·), is diagonal). Doing
// this for either coupling checks both coupling types (Swap), the one the
// reference code gets wrong.
func TestApproxBPExactWhenHessiansAreDiagonal(t *testing.T) {
	for _, act := range []string{"softplus", "shifted_softplus", "tanh", "sigmoid", "elu", "swish"} {
		for live := range 2 {
			nm := bpNICE(t, map[string]any{"activation": act, "hidden": 2, "hidden_layers": 1, "coupling_layers": 2}, 6)
			cs := nm.Couplings()
			w2 := cs[live].Net[1].Weight.Value
			w2.Set(0, 0, 1) // zero the off-diagonal elements [0,1] and [1,0]
			w2.Set(0, 1, 0)
			dead := cs[1-live].Net[1].Weight.Value.Float64s()
			clear(dead)
			x := bpX(7, 4, 4)
			_, want := exactDerivs(nm, x)
			_, h := ourDerivs(nm, x, false, nil)
			if e, i := closeTo(h, want, bpTol); e > bpTol {
				t.Errorf("%s, live coupling %d (swap %v): h[%d] = %.15g, exact %.15g", act, live, cs[live].Swap, i, h[i], want[i])
			}
		}
	}
	// With both couplings live, the cross terms make it an approximation:
	// the case above is not vacuously exact.
	nm := bpNICE(t, map[string]any{"hidden": 2, "hidden_layers": 1, "coupling_layers": 2}, 6)
	x := bpX(7, 4, 4)
	_, want := exactDerivs(nm, x)
	_, h := ourDerivs(nm, x, false, nil)
	if e, _ := closeTo(h, want, bpTol); e < 1e-4 {
		t.Errorf("Approx BP matched the exact diagonal to %.3g with two live couplings; expected an approximation", e)
	}
}

// E[S_r² - S_i²] = diag(H) exactly, so the mean of many CP draws approaches
// the exact diagonal. Each sample is repeated R times in one batch (fresh
// Rademacher vectors per row); the tolerance is 5 standard errors estimated
// from the draws (a false failure has probability below 1e-5 per element),
// plus 1e-12 for elements whose draws do not vary.
func TestCPIsUnbiased(t *testing.T) {
	const R, n, d = 4000, 2, 4
	for _, act := range []string{"softplus", "tanh"} {
		nm := bpNICE(t, map[string]any{"activation": act}, 8)
		x0 := bpX(9, n, d)
		_, want := exactDerivs(nm, x0)
		x := tensor.DefaultCPU().Empty(tensor.Float64, n*R, d)
		xs, x0s := x.Float64s(), x0.Float64s()
		for r := range n * R {
			copy(xs[r*d:(r+1)*d], x0s[(r%n)*d:(r%n+1)*d])
		}
		_, h := ourDerivs(nm, x, true, tensor.NewRNG(10))
		for i := range n * d {
			s, ss := 0.0, 0.0
			for r := range R {
				v := h[(r*n)*d+i]
				s += v
				ss += v * v
			}
			mu := s / R
			se := math.Sqrt(math.Max(ss/R-mu*mu, 0) / (R - 1))
			if math.Abs(mu-want[i]) > 5*se+1e-12 {
				t.Errorf("%s: element %d: CP mean %.6g ± %.2g (s.e.), exact %.6g", act, i, mu, se, want[i])
			}
		}
	}
}

func TestApproxBPAndCPParamGrad(t *testing.T) {
	nm := bpNICE(t, nil, 11)
	x := bpX(12, 3, 4)
	for _, name := range []string{"approx-bp", "cp"} {
		obj, err := New(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// CP is made deterministic by a fresh RNG of the same seed per call.
		f := func(tp *ad.Tape) *ad.Var {
			res, err := obj.Eval(tp, nm, Batch{X: x}, tensor.NewRNG(13))
			if err != nil {
				t.Fatal(err)
			}
			return res.Loss
		}
		if err := ad.CheckParamGrad(tensor.DefaultCPU(), f, nm.Params(), ad.CheckOptions{}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestApproxBPAndCPNeedNICE(t *testing.T) {
	m, err := models.Build(models.Spec{Kind: "mlp", Options: map[string]any{"input_dim": 4, "hidden": []int{3}}}, tensor.DefaultCPU(), tensor.Float64, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"approx-bp", "cp"} {
		obj, err := New(name, Options{})
		if err != nil {
			t.Fatal(err)
		}
		tp := ad.NewTape(tensor.DefaultCPU())
		_, err = obj.Eval(tp, m, Batch{X: bpX(1, 2, 4)}, tensor.NewRNG(1))
		if err == nil || !strings.Contains(err.Error(), "nice") {
			t.Errorf("%s on an mlp: error %v, want one naming nice", name, err)
		}
		tp.Reset()
	}
}

// float32 runs and agrees with float64 to float32 precision (relative 1e-4
// is ~1000 ulp, ample for a few dozen ops on O(1) values).
func TestApproxBPAndCPFloat32(t *testing.T) {
	nm64 := bpNICE(t, nil, 14)
	m32, err := models.Build(nm64.Spec(), tensor.DefaultCPU(), tensor.Float32, 14)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range m32.Params() {
		for j, v := range nm64.Params()[i].Value.Float64s() {
			p.Value.Float32s()[j] = float32(v)
		}
	}
	x64 := bpX(15, 3, 4)
	x32 := tensor.DefaultCPU().Empty(tensor.Float32, 3, 4)
	for j, v := range x64.Float64s() {
		x32.Float32s()[j] = float32(v)
	}
	for _, name := range []string{"approx-bp", "cp"} {
		obj, _ := New(name, Options{})
		var loss [2]float64
		for k, c := range []struct {
			m models.Model
			x *tensor.Tensor
		}{{nm64, x64}, {m32, x32}} {
			tp := ad.NewTape(tensor.DefaultCPU())
			res, err := obj.Eval(tp, c.m, Batch{X: c.x}, tensor.NewRNG(16))
			if err != nil {
				t.Fatal(err)
			}
			loss[k] = res.Loss.Item()
			tp.Reset()
		}
		if math.Abs(loss[0]-loss[1]) > 1e-4*math.Max(1, math.Abs(loss[0])) {
			t.Errorf("%s: float32 loss %.7g, float64 %.7g", name, loss[1], loss[0])
		}
	}
}
