package models

import (
	"math"
	"strings"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// niceSmall builds a CPU-sized NICE (d = 6, hidden 8, two hidden layers)
// and redraws every parameter, the scale s included, from N(0, 0.5²) so that
// no term of the math is hidden by a zero initialisation.
func niceSmall(t *testing.T, dt tensor.DType, seed uint64) *NICE {
	t.Helper()
	m, err := Build(Spec{Kind: "nice", Options: map[string]any{"input_dim": 6, "hidden": 8, "hidden_layers": 2}}, tensor.DefaultCPU(), dt, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := tensor.NewRNG(seed + 100)
	for _, p := range m.Params() {
		tensor.DefaultCPU().Random(p.Value, tensor.Normal(0, 0.5), rng)
	}
	return m.(*NICE)
}

func niceRandom(dt tensor.DType, seed uint64, shape ...int) *tensor.Tensor {
	x := tensor.DefaultCPU().Empty(dt, shape...)
	tensor.DefaultCPU().Random(x, tensor.Normal(0, 1), tensor.NewRNG(seed))
	return x
}

func TestNICEForwardShapes(t *testing.T) {
	m := niceSmall(t, tensor.Float32, 1)
	tp := ad.NewTape(tensor.DefaultCPU())
	x := tp.Const(niceRandom(tensor.Float32, 2, 5, 6))
	for name, c := range map[string]struct {
		got  tensor.Shape
		want tensor.Shape
	}{
		"forward":            {m.Forward(x).Shape(), tensor.Shape{5, 6}},
		"inverse":            {m.Inverse(x).Shape(), tensor.Shape{5, 6}},
		"log density":        {m.LogDensity(x).Shape(), tensor.Shape{5}},
		"forward of [5,2,3]": {m.Forward(ad.Reshape(x, 5, 2, 3)).Shape(), tensor.Shape{5, 6}},
	} {
		if !c.got.Equal(c.want) {
			t.Errorf("%s shape %v, want %v", name, c.got, c.want)
		}
	}
}

// niceReference computes z = f(x) and log p(x) for one sample with plain
// float64 loops over the parameter values, following the documented math.
func niceReference(m *NICE, x []float64) (z []float64, logp float64) {
	d := len(x)
	h := [2][]float64{make([]float64, d/2), make([]float64, d/2)}
	for j := 0; j < d/2; j++ {
		h[0][j], h[1][j] = x[2*j], x[2*j+1] // evens, then odds
	}
	for k, c := range m.Couplings() {
		src, dst := 0, 1 // even k: second half += m(first half)
		if k%2 == 1 {
			src, dst = 1, 0
		}
		a := h[src]
		for i, l := range c.Net {
			w, b := l.Weight.Value.Float64s(), l.Bias.Value.Float64s()
			in := len(a)
			out := make([]float64, len(b))
			for o := range out {
				out[o] = b[o]
				for q := 0; q < in; q++ {
					out[o] += w[o*in+q] * a[q]
				}
				if i+1 < len(c.Net) { // stable softplus
					out[o] = math.Max(out[o], 0) + math.Log1p(math.Exp(-math.Abs(out[o])))
				}
			}
			a = out
		}
		for j := range h[dst] {
			h[dst][j] += a[j]
		}
	}
	s := m.Scale().Value.Float64s()
	z = append(append([]float64{}, h[0]...), h[1]...)
	logp = -0.5 * float64(d) * math.Log(2*math.Pi)
	for i := range z {
		z[i] *= math.Exp(s[i])
		logp += -0.5*z[i]*z[i] + s[i]
	}
	return z, logp
}

// TestNICEMatchesReference compares Forward and LogDensity with
// niceReference. Both are float64 sums of a few dozen O(1) terms, so they
// agree to rounding (~1e-15); 1e-12 leaves room and still catches any
// wrong permutation, coupling direction or scale.
func TestNICEMatchesReference(t *testing.T) {
	m := niceSmall(t, tensor.Float64, 3)
	tp := ad.NewTape(tensor.DefaultCPU())
	xt := niceRandom(tensor.Float64, 4, 3, 6)
	x := tp.Const(xt)
	z, lp := m.Forward(x).Value().Float64s(), m.LogDensity(x).Value().Float64s()
	for i := 0; i < 3; i++ {
		wz, wlp := niceReference(m, xt.Float64s()[6*i:6*i+6])
		for j, w := range wz {
			if math.Abs(z[6*i+j]-w) > 1e-12 {
				t.Errorf("z[%d][%d] = %.15g, reference %.15g", i, j, z[6*i+j], w)
			}
		}
		if math.Abs(lp[i]-wlp) > 1e-12 {
			t.Errorf("log p[%d] = %.15g, reference %.15g", i, lp[i], wlp)
		}
	}
}

// TestNICEInverse checks f⁻¹(f(x)) = x. float64: each coupling adds and
// subtracts the same shift, leaving rounding of order 1e-16·|shift|; 1e-12
// allows for the four layers. float32 (d = 784, as trained): the same
// argument with ε = 6e-8 gives errors near 5e-7 (observed);
// 1e-5 absolute on O(1) inputs.
func TestNICEInverse(t *testing.T) {
	for _, c := range []struct {
		dt   tensor.DType
		opts map[string]any
		tol  float64
	}{
		{tensor.Float64, map[string]any{"input_dim": 6, "hidden": 8, "hidden_layers": 2}, 1e-12},
		{tensor.Float32, map[string]any{"hidden": 64}, 1e-5},
	} {
		mm, err := Build(Spec{Kind: "nice", Options: c.opts}, tensor.DefaultCPU(), c.dt, 5)
		if err != nil {
			t.Fatal(err)
		}
		m := mm.(*NICE)
		tensor.DefaultCPU().Random(m.Scale().Value, tensor.Normal(0, 0.5), tensor.NewRNG(6))
		tp := ad.NewTape(tensor.DefaultCPU())
		d := m.InputShape()[0]
		xt := niceRandom(c.dt, 7, 4, d)
		back := m.Inverse(m.Forward(tp.Const(xt))).Value().ToFloat64s()
		worst := 0.0
		for i, v := range xt.ToFloat64s() {
			worst = math.Max(worst, math.Abs(back[i]-v))
		}
		if worst > c.tol {
			t.Errorf("%s: max |f⁻¹(f(x)) - x| = %.3g > %.0g", c.dt, worst, c.tol)
		}
	}
}

// niceLogAbsDet returns log|det a| for a row-major n×n matrix by Gaussian
// elimination with partial pivoting.
func niceLogAbsDet(a []float64, n int) float64 {
	a = append([]float64{}, a...)
	logdet := 0.0
	for c := 0; c < n; c++ {
		p := c
		for r := c + 1; r < n; r++ {
			if math.Abs(a[r*n+c]) > math.Abs(a[p*n+c]) {
				p = r
			}
		}
		for k := 0; k < n; k++ {
			a[c*n+k], a[p*n+k] = a[p*n+k], a[c*n+k]
		}
		logdet += math.Log(math.Abs(a[c*n+c]))
		for r := c + 1; r < n; r++ {
			f := a[r*n+c] / a[c*n+c]
			for k := c; k < n; k++ {
				a[r*n+k] -= f * a[c*n+k]
			}
		}
	}
	return logdet
}

// TestNICEChangeOfVariables checks log p(x) = log N(f(x); 0, I) + log|det J_f(x)|
// with J from central differences of Forward (step 1e-5: truncation ~1e-10
// relative, rounding ~1e-11) and its determinant by LU. 1e-7 on log p is
// three orders above those errors; a missing or wrong Σ s (|s| ~ 0.5 per
// coordinate) or a non-volume-preserving coupling would be off by O(0.1).
func TestNICEChangeOfVariables(t *testing.T) {
	m := niceSmall(t, tensor.Float64, 8)
	const d, h = 6, 1e-5
	xt := niceRandom(tensor.Float64, 9, 1, d)
	xs := xt.Float64s()
	tp := ad.NewTape(tensor.DefaultCPU())
	f := func() []float64 { defer tp.Reset(); return m.Forward(tp.Const(xt)).Value().ToFloat64s() }
	jac := make([]float64, d*d) // jac[i*d+j] = dz_i/dx_j
	for j := 0; j < d; j++ {
		orig := xs[j]
		xs[j] = orig + h
		zp := f()
		xs[j] = orig - h
		zm := f()
		xs[j] = orig
		for i := 0; i < d; i++ {
			jac[i*d+j] = (zp[i] - zm[i]) / (2 * h)
		}
	}
	z := f()
	logdet := niceLogAbsDet(jac, d)
	want := logdet - 0.5*d*math.Log(2*math.Pi)
	for _, v := range z {
		want -= 0.5 * v * v
	}
	got := m.LogDensity(tp.Const(xt)).Item()
	if math.Abs(got-want) > 1e-7 {
		t.Errorf("log p = %.12g, change of variables gives %.12g", got, want)
	}
	sumS := 0.0
	for _, s := range m.Scale().Value.Float64s() {
		sumS += s
	}
	if math.Abs(logdet-sumS) > 1e-7 {
		t.Errorf("log|det J| = %.12g, want Σ s = %.12g", logdet, sumS)
	}
}

// niceCheckParams checks the gradient of sum(f) with respect to every
// parameter of m against central differences with CheckGrad's defaults.
func niceCheckParams(t *testing.T, m *NICE, f func(tp *ad.Tape) *ad.Var) {
	t.Helper()
	if err := ad.CheckParamGrad(tensor.DefaultCPU(), f, m.Params(), ad.CheckOptions{}); err != nil {
		t.Error(err)
	}
}

// TestNICEGradients checks, against central differences, the first
// derivatives of Σ log p (MLE) and the second-order quantity Σ v·∇x log p
// (its gradient is what exact SSM and DSM need), each with respect to x and
// to every parameter.
func TestNICEGradients(t *testing.T) {
	m := niceSmall(t, tensor.Float64, 10)
	be := tensor.DefaultCPU()
	xt, vt := niceRandom(tensor.Float64, 11, 3, 6), niceRandom(tensor.Float64, 12, 3, 6)
	logp := func(x *ad.Var) *ad.Var { return m.LogDensity(x) }
	vDotScore := func(x *ad.Var) *ad.Var {
		g := ad.Grad([]*ad.Var{ad.Sum(m.LogDensity(x))}, []*ad.Var{x}, ad.GradOptions{CreateGraph: true})[0]
		return ad.Mul(x.Tape().Const(vt), g)
	}
	for name, f := range map[string]func(*ad.Var) *ad.Var{"log p": logp, "v·∇x log p": vDotScore} {
		if err := ad.CheckGrad(be, func(xs []*ad.Var) *ad.Var { return f(xs[0]) }, []*tensor.Tensor{xt}, ad.CheckOptions{}); err != nil {
			t.Errorf("d/dx %s: %v", name, err)
		}
		t.Run("d/dθ "+name, func(t *testing.T) {
			niceCheckParams(t, m, func(tp *ad.Tape) *ad.Var { return f(tp.Leaf(xt)) })
		})
	}
}

func TestNICEDefaultParams(t *testing.T) {
	mm, err := Build(Spec{Kind: "nice", Options: map[string]any{}}, tensor.DefaultCPU(), tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Per coupling 392·1000+1000 + 3(1000·1000+1000) + 1000·392+392, four
	// couplings, plus s: the reference model's size.
	if got := NumParams(mm); got != 15154352 {
		t.Errorf("%d parameters, want 15154352", got)
	}
	ps := mm.Params()
	for _, c := range []struct {
		i     int
		name  string
		shape tensor.Shape
	}{
		{0, "scale", tensor.Shape{784}},
		{1, "couplings.0.layers.0.weight", tensor.Shape{1000, 392}},
		{2, "couplings.0.layers.0.bias", tensor.Shape{1000}},
		{len(ps) - 2, "couplings.3.layers.4.weight", tensor.Shape{392, 1000}},
		{len(ps) - 1, "couplings.3.layers.4.bias", tensor.Shape{392}},
	} {
		if p := ps[c.i]; p.Name != c.name || !p.Value.Shape().Equal(c.shape) {
			t.Errorf("param %d: %s %v, want %s %v", c.i, p.Name, p.Value.Shape(), c.name, c.shape)
		}
	}
	for _, v := range mm.(*NICE).Scale().Value.Float32s() {
		if v != 0 {
			t.Fatal("scale must start at 0")
		}
	}
	if cs := mm.(*NICE).Couplings(); len(cs) != 4 || cs[0].Swap || !cs[1].Swap || len(cs[0].Net) != 5 {
		t.Errorf("couplings: %d, swaps %v %v, %d layers", len(cs), cs[0].Swap, cs[1].Swap, len(cs[0].Net))
	}
}

func TestNICESpecRoundTrip(t *testing.T) {
	m := niceSmall(t, tensor.Float64, 1)
	again, err := Build(m.Spec(), tensor.DefaultCPU(), tensor.Float64, 2)
	if err != nil {
		t.Fatal(err)
	}
	a, b := m.Params(), again.Params()
	if len(a) != len(b) {
		t.Fatalf("%d params after round trip, want %d", len(b), len(a))
	}
	for i := range a {
		if a[i].Name != b[i].Name || !a[i].Value.Shape().Equal(b[i].Value.Shape()) {
			t.Errorf("param %d: %s %v, want %s %v", i, b[i].Name, b[i].Value.Shape(), a[i].Name, a[i].Value.Shape())
		}
	}
}

func TestNICEBadOptions(t *testing.T) {
	for _, c := range []struct {
		opts map[string]any
		want string
	}{
		{map[string]any{"input_dim": 7}, "even"},
		{map[string]any{"input_dim": 0}, "even"},
		{map[string]any{"hidden": 0}, "hidden"},
		{map[string]any{"coupling_layers": 0}, "coupling_layers"},
		{map[string]any{"hidden_layers": 0}, "hidden_layers"},
		{map[string]any{"activation": "cube"}, "activation"},
		{map[string]any{"depth": 3}, "unknown option"},
	} {
		_, err := Build(Spec{Kind: "nice", Options: c.opts}, tensor.DefaultCPU(), tensor.Float32, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("options %v: error %v, want one mentioning %q", c.opts, err, c.want)
		}
	}
}
