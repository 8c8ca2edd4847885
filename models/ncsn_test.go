package models

import (
	"math"
	"strings"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

var ncsnBE = tensor.DefaultCPU()

// ncsnTiny builds a small float64 ELU network for the CPU tests.
func ncsnTiny(t *testing.T, ngf, size, levels int) *NCSN {
	return ncsnTinyAct(t, ngf, size, levels, ActELU)
}

// ncsnTinyAct is ncsnTiny with another activation. The derivative checks
// use softplus: ELU is only C¹ (its second derivative jumps at 0), and with
// thousands of activations some pre-activation lies within a difference
// step of 0 often enough to spoil central differences (of the gradient at
// O(h), of second-order quantities at O(1)); a C^∞ activation makes the
// comparison exact to O(h²) while testing the same wiring. The ELU network
// itself agrees with tools/pytorch/ncsn.py to 1e-14 in values, first and
// second derivatives (checked when the twin was written).
func ncsnTinyAct(t *testing.T, ngf, size, levels int, act Activation) *NCSN {
	t.Helper()
	m, err := Build(Spec{Kind: "ncsn", Options: map[string]any{
		"ngf": ngf, "image_size": size, "num_levels": levels, "sigma_end": 0.1, "activation": string(act),
	}}, ncsnBE, tensor.Float64, 7)
	if err != nil {
		t.Fatal(err)
	}
	return m.(*NCSN)
}

func ncsnRand(seed uint64, mean, std float64, shape ...int) *tensor.Tensor {
	x := ncsnBE.Empty(tensor.Float64, shape...)
	ncsnBE.Random(x, tensor.Normal(mean, std), tensor.NewRNG(seed))
	return x
}

// ncsnAccept is CheckGrad's default acceptance, |a-n| <= 1e-8 + 1e-6
// max(|a|,|n|): central differences with step 1e-5 err by about 1e-10
// relative on these smooth float64 functions, so a wrong derivative rule
// (an O(1) relative error) cannot pass.
func ncsnAccept(a, n float64) bool {
	return math.Abs(a-n) <= 1e-8+1e-6*math.Max(math.Abs(a), math.Abs(n))
}

// ncsnCheckGrad is CheckGrad for a computation that reads parameters
// through Tape.Param (CheckGrad differentiates with respect to leaves of its
// own): the gradient of sum(f(tp, x)) with respect to the leaf x and to
// every parameter in full, each element against central differences
// (autodiff.NumericGrad, step 1e-5), and with respect to every parameter in
// dirs along one random unit direction d, <∇, d> against
// (F(p+hd) - F(p-hd))/2h with the same step.
// The directional check costs four evaluations per tensor, so every
// parameter of the network is covered quickly.
func ncsnCheckGrad(t *testing.T, x *tensor.Tensor, full, dirs []*ad.Param, f func(tp *ad.Tape, x *ad.Var) *ad.Var) {
	t.Helper()
	tp := ad.NewTape(ncsnBE)
	xv := tp.Leaf(x)
	out := ad.Sum(f(tp, xv))
	vars := []*ad.Var{xv}
	for _, p := range append(append([]*ad.Param(nil), full...), dirs...) {
		vars = append(vars, tp.Param(p))
	}
	var analytic [][]float64
	for _, g := range ad.Grad([]*ad.Var{out}, vars, ad.GradOptions{}) {
		analytic = append(analytic, g.Value().ToFloat64s())
	}
	tp.Reset()
	eval := func() float64 { defer tp.Reset(); return ad.Sum(f(tp, tp.Leaf(x))).Item() }

	names := []string{"x"}
	tensors := []*tensor.Tensor{x}
	for _, p := range full {
		names, tensors = append(names, p.Name), append(tensors, p.Value)
	}
	for i, tt := range tensors {
		for j, n := range ad.NumericGrad(eval, tt, 1e-5) {
			if a := analytic[i][j]; !ncsnAccept(a, n) {
				t.Errorf("d/d %s[%d]: analytic %.10g, numeric %.10g", names[i], j, a, n)
				break
			}
		}
	}
	for k, p := range dirs {
		g := analytic[1+len(full)+k]
		v := p.Value.Float64s()
		orig := append([]float64(nil), v...)
		d := ncsnRand(uint64(100+k), 0, 1, len(v)).Float64s()
		norm := 0.0
		for _, e := range d {
			norm += e * e
		}
		a := 0.0
		for j := range d {
			d[j] /= math.Sqrt(norm)
			a += g[j] * d[j]
		}
		at := func(h float64) float64 {
			for j := range v {
				v[j] = orig[j] + h*d[j]
			}
			return eval()
		}
		// Richardson-extrapolated central difference (error O(h⁴)): the
		// C=2 channel statistics of the ngf=2 network's norms make third
		// derivatives large enough that the plain O(h²) quotient sits near
		// the 1e-6 tolerance.
		const h = 1e-5
		d1 := (at(h) - at(-h)) / (2 * h)
		d2 := (at(h/2) - at(-h/2)) / h
		copy(v, orig)
		if n := (4*d2 - d1) / 3; !ncsnAccept(a, n) {
			t.Errorf("directional d/d %s: analytic %.10g, numeric %.10g", p.Name, a, n)
		}
	}
}

func TestNCSNForwardShape(t *testing.T) {
	m := ncsnTiny(t, 4, 8, 3)
	if got := m.InputShape(); len(got) != 3 || got[0] != 3 || got[1] != 8 || got[2] != 8 {
		t.Fatalf("InputShape %v", got)
	}
	tp := ad.NewTape(ncsnBE)
	defer tp.Reset()
	out := scoreAt(m, tp.Const(ncsnRand(1, 0.5, 0.3, 2, 3, 8, 8)), []int{0, 2})
	if !out.Shape().Equal(tensor.Shape{2, 3, 8, 8}) {
		t.Fatalf("score shape %v, want [2 3 8 8]", out.Shape())
	}
	if out.Value().HasNonFinite() {
		t.Fatal("non-finite score")
	}
	flat := scoreAt(m, tp.Const(ncsnRand(1, 0.5, 0.3, 2, 192)), []int{0, 2})
	if !flat.Shape().Equal(tensor.Shape{2, 192}) {
		t.Fatalf("flat input gives %v, want [2 192]", flat.Shape())
	}
	// Same data, flattened or not: the same function (exactly, same kernels).
	a, b := out.Value().ToFloat64s(), flat.Value().ToFloat64s()
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("flat and image inputs differ at %d: %v vs %v", i, a[i], b[i])
		}
	}
	if m.Levels() != 3 {
		t.Fatalf("Levels %d", m.Levels())
	}
}

// TestNCSNSigmas: geometric from sigma_begin to sigma_end (closed form:
// constant ratio (end/begin)^(1/(L-1))), to 1e-12 relative (a few ulp of exp/log).
func TestNCSNSigmas(t *testing.T) {
	s := GeometricSigmas(1, 0.01, 10)
	r := math.Pow(0.01, 1.0/9)
	for i, v := range s {
		if want := math.Pow(r, float64(i)); math.Abs(v-want) > 1e-12*want {
			t.Errorf("sigma %d = %v, want %v", i, v, want)
		}
	}
	if got := GeometricSigmas(0.5, 0.1, 1); len(got) != 1 || got[0] != 0.5 {
		t.Errorf("one level: %v", got)
	}
}

// TestNCSNConditioning: the level changes the output, and samples do not
// interact (instance norm is per sample): each row of a batch equals the
// network applied to that row alone, to 1e-12 relative (summation order
// differs between batch sizes only in rounding).
func TestNCSNConditioning(t *testing.T) {
	m := ncsnTiny(t, 4, 8, 3)
	tp := ad.NewTape(ncsnBE)
	defer tp.Reset()
	x1 := ncsnRand(2, 0.5, 0.3, 1, 3, 8, 8)
	x1v := tp.Const(x1)
	x2 := tp.Const(ncsnRand(3, 0.5, 0.3, 1, 3, 8, 8))
	s0 := scoreAt(m, x1v, []int{0}).Value().ToFloat64s()
	s1 := scoreAt(m, x1v, []int{1}).Value().ToFloat64s()
	diff, norm := 0.0, 0.0
	for i := range s0 {
		diff += (s0[i] - s1[i]) * (s0[i] - s1[i])
		norm += s0[i] * s0[i]
	}
	if !(diff > 1e-8*norm) {
		t.Fatalf("levels 0 and 1 give nearly the same score: |diff|^2 %g, |s|^2 %g", diff, norm)
	}
	batch := scoreAt(m, ad.Concat(0, x2, x1v), []int{2, 1}).Value().ToFloat64s()
	alone := append(scoreAt(m, x2, []int{2}).Value().ToFloat64s(), s1...)
	for i := range batch {
		if math.Abs(batch[i]-alone[i]) > 1e-12*(1+math.Abs(alone[i])) {
			t.Fatalf("element %d: batched %v, alone %v", i, batch[i], alone[i])
		}
	}
}

// TestNCSNCondNormReference compares CondInstanceNorm2dPlus with a direct
// float64 evaluation of its formula (two-pass means and variances, the
// channel variance with divisor C-1), to 1e-12 relative: both are float64
// evaluations of one formula in different orders.
func TestNCSNCondNormReference(t *testing.T) {
	const n, c, h, w, levels = 2, 5, 3, 4, 3
	b := NewBuilder(ncsnBE, tensor.Float64, 1)
	norm := NewCondInstanceNorm2dPlus(b, "norm", c, levels)
	if norm.Embed.Name != "norm.embed.weight" || !norm.Embed.Value.Shape().Equal(tensor.Shape{levels, 3 * c}) {
		t.Fatalf("embed %s %v", norm.Embed.Name, norm.Embed.Value.Shape())
	}
	e := norm.Embed.Value.Float64s()
	for l := 0; l < levels; l++ { // init: γ, α near 1, β zero
		for k := 0; k < 3*c; k++ {
			v := e[l*3*c+k]
			if (k < 2*c && math.Abs(v-1) > 0.2) || (k >= 2*c && v != 0) {
				t.Fatalf("init embed[%d,%d] = %v", l, k, v)
			}
		}
	}
	copy(e, ncsnRand(5, 0.5, 1, levels*3*c).Float64s()) // β nonzero for the test
	x := ncsnRand(6, 0.3, 2, n, c, h, w)
	lv := []int{2, 0}
	tp := ad.NewTape(ncsnBE)
	defer tp.Reset()
	got := norm.Forward(tp.Const(x), OneHot(tp, tensor.Float64, lv, levels)).Value().ToFloat64s()

	xs := x.Float64s()
	for i := 0; i < n; i++ {
		mu, sd := make([]float64, c), make([]float64, c)
		for k := 0; k < c; k++ {
			px := xs[(i*c+k)*h*w : (i*c+k+1)*h*w]
			for _, v := range px {
				mu[k] += v / (h * w)
			}
			for _, v := range px {
				sd[k] += (v - mu[k]) * (v - mu[k]) / (h * w)
			}
			sd[k] = math.Sqrt(sd[k] + 1e-5)
		}
		m, v := 0.0, 0.0
		for _, u := range mu {
			m += u / c
		}
		for _, u := range mu {
			v += (u - m) * (u - m) / (c - 1)
		}
		row := e[lv[i]*3*c:]
		for k := 0; k < c; k++ {
			gamma, alpha, beta := row[k], row[c+k], row[2*c+k]
			for j := 0; j < h*w; j++ {
				idx := (i*c+k)*h*w + j
				want := gamma*((xs[idx]-mu[k])/sd[k]+alpha*(mu[k]-m)/math.Sqrt(v+1e-5)) + beta
				if math.Abs(got[idx]-want) > 1e-12*(1+math.Abs(want)) {
					t.Fatalf("out[%d] = %v, want %v", idx, got[idx], want)
				}
			}
		}
	}
}

// TestNCSNUpsampleBilinear checks align_corners=True bilinear resizing
// against the textbook formula evaluated per output pixel (1e-12: float64
// rounding), that it reproduces affine functions of the pixel position
// exactly up to rounding (an independent property of bilinear
// interpolation with aligned corners), and its derivative (the adjoint
// resize) with CheckGrad.
func TestNCSNUpsampleBilinear(t *testing.T) {
	const n, c, h, w, oh, ow = 2, 2, 3, 5, 7, 4
	x := ncsnRand(8, 0, 1, n, c, h, w)
	tp := ad.NewTape(ncsnBE)
	defer tp.Reset()
	got := UpsampleBilinear(tp.Const(x), oh, ow).Value().ToFloat64s()
	xs := x.Float64s()
	at := func(img, r, q int) float64 { return xs[img*h*w+r*w+q] }
	for img := 0; img < n*c; img++ {
		for i := 0; i < oh; i++ {
			for j := 0; j < ow; j++ {
				py, px := float64(i)*(h-1)/(oh-1), float64(j)*(w-1)/(ow-1)
				y0, x0 := int(py), int(px)
				y1, x1 := min(y0+1, h-1), min(x0+1, w-1)
				fy, fx := py-float64(y0), px-float64(x0)
				want := (1-fy)*((1-fx)*at(img, y0, x0)+fx*at(img, y0, x1)) + fy*((1-fx)*at(img, y1, x0)+fx*at(img, y1, x1))
				if g := got[(img*oh+i)*ow+j]; math.Abs(g-want) > 1e-12 {
					t.Fatalf("image %d (%d,%d): %v, want %v", img, i, j, g, want)
				}
			}
		}
	}
	// f(r, q) = 2 + 0.5 r - 1.5 q on the input grid resizes to the same
	// affine function of the source position (i·(h-1)/(oh-1), j·(w-1)/(ow-1)).
	aff := ncsnBE.Empty(tensor.Float64, 1, 1, h, w)
	for r := 0; r < h; r++ {
		for q := 0; q < w; q++ {
			aff.Set(2+0.5*float64(r)-1.5*float64(q), 0, 0, r, q)
		}
	}
	up := UpsampleBilinear(tp.Const(aff), 2*h, 2*w).Value()
	for i := 0; i < 2*h; i++ {
		for j := 0; j < 2*w; j++ {
			want := 2 + 0.5*float64(i)*(h-1)/(2*h-1) - 1.5*float64(j)*(w-1)/(2*w-1)
			if g := up.At(0, 0, i, j); math.Abs(g-want) > 1e-12 {
				t.Fatalf("affine (%d,%d): %v, want %v", i, j, g, want)
			}
		}
	}
	if same := UpsampleBilinear(tp.Const(x), h, w); same.Value() != x {
		t.Error("same-size resize is not the identity")
	}
	wt := ncsnRand(9, 0, 1, n, c, oh, ow)
	err := ad.CheckGrad(ncsnBE, func(v []*ad.Var) *ad.Var {
		return ad.Mul(UpsampleBilinear(v[0], oh, ow), v[0].Tape().Const(wt))
	}, []*tensor.Tensor{x}, ad.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNCSNGradient: the gradient of sum(w ⊙ s(x, levels)) with respect to
// x and every parameter (each element of x and of a few tensors of each
// kind; every tensor along a random direction).
func TestNCSNGradient(t *testing.T) {
	m := ncsnTinyAct(t, 2, 8, 3, ActSoftplus)
	x := ncsnRand(10, 0.5, 0.3, 2, 3, 8, 8)
	wt := ncsnRand(11, 0, 1, 2, 3, 8, 8)
	full := ncsnPick(m, "begin_conv.bias", "res2.0.shortcut.conv.weight", "res3.0.normalize1.embed.weight",
		"refine4.msf.convs.1.bias", "refine1.crp.norms.1.embed.weight", "normalizer.embed.weight", "end_conv.bias")
	ncsnCheckGrad(t, x, full, m.Params(), func(tp *ad.Tape, xv *ad.Var) *ad.Var {
		return ad.Mul(scoreAt(m, xv, []int{1, 2}), tp.Const(wt))
	})
}

// TestNCSNSecondOrder: SSM-VR differentiates u·∇x(v·s(x)) with respect to
// the parameters; check the gradient of sum(u ⊙ ∇x sum(v ⊙ s(x))) with
// respect to x (every element) and every parameter (directional).
func TestNCSNSecondOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("second-order check through the network takes a few seconds")
	}
	m := ncsnTinyAct(t, 2, 8, 3, ActSoftplus)
	x := ncsnRand(12, 0.5, 0.3, 1, 3, 8, 8)
	u, v := ncsnRand(13, 0, 1, 1, 3, 8, 8), ncsnRand(14, 0, 1, 1, 3, 8, 8)
	full := ncsnPick(m, "res4.1.normalize2.embed.weight", "refine4.msf.convs.0.bias")
	ncsnCheckGrad(t, x, full, m.Params(), func(tp *ad.Tape, xv *ad.Var) *ad.Var {
		s := scoreAt(m, xv, []int{1})
		g := ad.Grad([]*ad.Var{ad.Sum(ad.Mul(s, tp.Const(v)))}, []*ad.Var{xv}, ad.GradOptions{CreateGraph: true})[0]
		return ad.Mul(g, tp.Const(u))
	})
}

func ncsnPick(m *NCSN, names ...string) []*ad.Param {
	var ps []*ad.Param
	for _, n := range names {
		for _, p := range m.Params() {
			if p.Name == n {
				ps = append(ps, p)
			}
		}
	}
	if len(ps) != len(names) {
		panic("ncsnPick: a name is missing")
	}
	return ps
}

// TestNCSNParamCount builds the CIFAR-10 network at the defaults (float32,
// no forward pass) and checks its size: 30,117,635 parameters, the
// "about 30M" of the NCSN paper's setting, and a few reference names.
func TestNCSNParamCount(t *testing.T) {
	m, err := Build(Spec{Kind: "ncsn", Options: map[string]any{}}, ncsnBE, tensor.Float32, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := NumParams(m); got != 30117635 {
		t.Errorf("%d parameters, want 30117635", got)
	}
	want := map[string]tensor.Shape{
		"begin_conv.weight":                          {128, 3, 3, 3},
		"res1.0.normalize1.embed.weight":             {10, 384},
		"res2.0.conv2.conv.weight":                   {256, 128, 3, 3},
		"res2.0.shortcut.conv.weight":                {256, 128, 1, 1},
		"res3.0.shortcut.weight":                     {256, 256, 3, 3},
		"refine2.adapt_convs.1.2_2_conv.weight":      {256, 256, 3, 3},
		"refine3.msf.convs.0.weight":                 {128, 256, 3, 3},
		"refine4.output_convs.3_2_norm.embed.weight": {10, 384},
		"refine1.crp.norms.1.embed.weight":           {10, 768},
		"end_conv.bias":                              {3},
	}
	for _, p := range m.Params() {
		if s, ok := want[p.Name]; ok {
			if !p.Value.Shape().Equal(s) {
				t.Errorf("%s: shape %v, want %v", p.Name, p.Value.Shape(), s)
			}
			delete(want, p.Name)
		}
	}
	for n := range want {
		t.Errorf("missing parameter %s", n)
	}
}

func TestNCSNLevelsOutOfRangePanic(t *testing.T) {
	m := ncsnTiny(t, 2, 4, 3)
	for _, lv := range [][]int{{0, 3}, {-1, 0}, {0}} {
		func() {
			tp := ad.NewTape(ncsnBE)
			defer tp.Reset()
			defer func() {
				if recover() == nil {
					t.Errorf("levels %v: no panic", lv)
				}
			}()
			scoreAt(m, tp.Const(ncsnRand(1, 0, 1, 2, 3, 4, 4)), lv)
		}()
	}
}

func TestNCSNBadOptions(t *testing.T) {
	for _, o := range []map[string]any{
		{"ngf": 1}, {"image_size": 7}, {"num_levels": 0}, {"sigma_end": 0}, {"activation": "relu6"}, {"channels": 0},
	} {
		_, err := Build(Spec{Kind: "ncsn", Options: o}, ncsnBE, tensor.Float64, 1)
		if err == nil {
			t.Errorf("options %v accepted", o)
		} else if !strings.Contains(err.Error(), "ncsn") {
			t.Errorf("options %v: error %q does not name the kind", o, err)
		}
	}
}

// TestNCSNSpecRoundTrip: the spec spells out every option (non-defaults
// survive JSON) and rebuilds bitwise the same parameters from the same seed.
func TestNCSNSpecRoundTrip(t *testing.T) {
	s := Spec{Kind: "ncsn", Options: map[string]any{"ngf": 3, "image_size": 4, "channels": 1,
		"num_levels": 2, "activation": "softplus", "rescale_input": false}}
	a, b, s2 := roundTrip(t, s, 9)
	if o := b.(*NCSN).opts; o.RescaleInput || o.Activation != ActSoftplus || o.SigmaEnd != 0.01 || len(s2.Options) != 8 {
		t.Fatalf("round trip of %v gives %+v", s2, o)
	}
	sameParams(t, a, b)
}

// scoreAt is Score at level indices given on the host.
func scoreAt(m *NCSN, x *ad.Var, levels []int) *ad.Var {
	return m.Score(x, OneHot(x.Tape(), x.DType(), levels, m.Levels()))
}
