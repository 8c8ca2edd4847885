package objective

import (
	"math"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/fdpar"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// slope fits log(err) = a + slope·log(eps) by least squares.
func slope(eps, errs []float64) float64 {
	var sx, sy, sxx, sxy float64
	n := float64(len(eps))
	for i := range eps {
		x, y := math.Log(eps[i]), math.Log(errs[i])
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

func flatten(gs [][]float64) []float64 {
	var out []float64
	for _, g := range gs {
		out = append(out, g...)
	}
	return out
}

// relDiffAndCos returns ‖a-b‖/‖b‖ and the cosine of the angle between a and b.
func relDiffAndCos(a, b []float64) (float64, float64) {
	var d, nb, na, dot float64
	for i := range a {
		d += (a[i] - b[i]) * (a[i] - b[i])
		na += a[i] * a[i]
		nb += b[i] * b[i]
		dot += a[i] * b[i]
	}
	return math.Sqrt(d / nb), dot / math.Sqrt(na*nb)
}

// consistency checks that an FD objective approaches its exact counterpart
// with the same directions as ε → 0 (paper Sec. 5): the relative error of
// the loss and of the weight-gradient falls like ε² (Theorem 1's symmetric
// stencils err by O(ε²)), fitted slope at least 1.7, and the angle between
// the gradients goes to 0.
func consistency(t *testing.T, fd, exact func(eps float64) (float64, []float64)) {
	t.Helper()
	epss := []float64{0.2, 0.1, 0.05, 0.025}
	var lossErr, gradErr []float64
	lastCos := 0.0
	for _, eps := range epss {
		lf, gf := fd(eps)
		le, ge := exact(eps)
		lossErr = append(lossErr, math.Abs(lf-le)/math.Abs(le))
		d, c := relDiffAndCos(gf, ge)
		gradErr = append(gradErr, d)
		lastCos = c
	}
	if s := slope(epss, lossErr); s < 1.7 {
		t.Errorf("loss error %v falls with slope %.2f, want about 2", lossErr, s)
	}
	if s := slope(epss, gradErr); s < 1.7 {
		t.Errorf("gradient error %v falls with slope %.2f, want about 2", gradErr, s)
	}
	if lastCos < 1-1e-4 {
		t.Errorf("angle between gradients at the smallest ε: cos %v", lastCos)
	}
}

func TestFDSSMConsistentWithSSM(t *testing.T) {
	m := smallMLP(t)
	x, u := randT(11, tensor.Normal(0, 1), 4, 3), sphereT(12, 1, 4, 3)
	run := func(name string, eps float64) (float64, []float64) {
		v := cpu.Empty(tensor.Float64, 4, 3)
		cpu.Binary(tensor.OpMul, v, u, tensor.Scalar(cpu, tensor.Float64, eps))
		l, _, g := evalLoss(t, name, Options{Eps: eps, Projection: Sphere}, m, Batch{X: x, V: v})
		return l, flatten(g)
	}
	consistency(t, func(e float64) (float64, []float64) { return run("fd-ssm", e) },
		func(e float64) (float64, []float64) { return run("ssm", e) })
}

// TestFDDSMConsistentWithSlicedDSM compares FD-DSM with the exact sliced DSM
// for the same v, (uᵀ(g(x~) + (x~-x)/σ²))² with u = v/ε, whose mean over
// directions is DSM.
func TestFDDSMConsistentWithSlicedDSM(t *testing.T) {
	m := smallMLP(t)
	x, u, nz := randT(13, tensor.Normal(0, 1), 4, 3), sphereT(14, 1, 4, 3), randT(15, tensor.Normal(0, 1), 4, 3)
	const sigma = 0.3
	params := func(tp *ad.Tape) []*ad.Var {
		var ps []*ad.Var
		for _, p := range m.Params() {
			ps = append(ps, tp.Param(p))
		}
		return ps
	}
	fd := func(eps float64) (float64, []float64) {
		v := cpu.Empty(tensor.Float64, 4, 3)
		cpu.Binary(tensor.OpMul, v, u, tensor.Scalar(cpu, tensor.Float64, eps))
		l, _, g := evalLoss(t, "fd-dsm", Options{Eps: eps, Sigma: sigma}, m, Batch{X: x, V: v, Noise: nz})
		return l, flatten(g)
	}
	exact := func(float64) (float64, []float64) {
		tp := ad.NewTape(cpu)
		defer tp.Reset()
		xv := tp.Const(x)
		xt := ad.Add(xv, ad.Scale(tp.Const(nz), sigma))
		leaf := tp.Leaf(xt.Value())
		g := ad.Grad([]*ad.Var{ad.Sum(m.LogDensity(leaf))}, []*ad.Var{leaf}, create)[0]
		a := ad.Add(g, ad.Scale(ad.Sub(leaf, xv), 1/(sigma*sigma)))
		loss := ad.Mean(ad.Square(rowDot(tp.Const(u), a)))
		var gs [][]float64
		for _, gv := range ad.Grad([]*ad.Var{loss}, params(tp), ad.GradOptions{}) {
			gs = append(gs, gv.Value().ToFloat64s())
		}
		return loss.Item(), flatten(gs)
	}
	consistency(t, fd, exact)
}

// TestFDSSMVRConsistentWithSSMVR on a small noise-conditional score network
// (softplus, so it is smooth for the FD expansion). ngf 6: with 2 channels
// the instance norm's across-channel variance is nearly 0, 1/√(v+1e-5) then
// curves so sharply that no ε here is in the asymptotic regime.
func TestFDSSMVRConsistentWithSSMVR(t *testing.T) {
	mm, err := models.Build(models.Spec{Kind: "ncsn", Options: map[string]any{"channels": 1, "image_size": 4, "ngf": 6, "num_levels": 3, "activation": "softplus"}}, cpu, tensor.Float64, 2)
	if err != nil {
		t.Fatal(err)
	}
	x, u, nz := randT(16, tensor.Normal(0.5, 0.3), 2, 1, 4, 4), sphereT(17, 1, 2, 16), randT(18, tensor.Normal(0, 1), 2, 1, 4, 4)
	run := func(name string, eps float64) (float64, []float64) {
		v := cpu.Empty(tensor.Float64, 2, 16)
		cpu.Binary(tensor.OpMul, v, u, tensor.Scalar(cpu, tensor.Float64, eps))
		l, _, g := evalLoss(t, name, Options{Eps: eps, Projection: Sphere}, mm, Batch{X: x, V: v.Reshape(2, 1, 4, 4), Noise: nz, Levels: []int{0, 2}})
		return l, flatten(g)
	}
	consistency(t, func(e float64) (float64, []float64) { return run("fd-ssmvr", e) },
		func(e float64) (float64, []float64) { return run("ssmvr", e) })
}

// TestParallelAndSequentialAgree: the FD objectives give the same loss and
// gradients whether the shifted evaluations run as one batched call or one
// call per block (the arithmetic is row-independent, so to rounding).
func TestParallelAndSequentialAgree(t *testing.T) {
	m := smallMLP(t)
	b := Batch{X: randT(19, tensor.Normal(0, 1), 4, 3), V: sphereT(20, 0.1, 4, 3), Noise: randT(21, tensor.Normal(0, 1), 4, 3)}
	for _, name := range []string{"fd-ssm", "fd-dsm", "fd-mdsm"} {
		lp, pp, gp := evalLoss(t, name, Options{}, m, b)
		ls, ps, gs := evalLoss(t, name, Options{Sequential: true}, m, b)
		if !close(lp, ls, 1e-12) {
			t.Errorf("%s: batched loss %v, sequential %v", name, lp, ls)
		}
		for i := range pp {
			if !close(pp[i], ps[i], 1e-12) {
				t.Errorf("%s: per-sample %d differs", name, i)
			}
		}
		if d, _ := relDiffAndCos(flatten(gs), flatten(gp)); d > 1e-12 {
			t.Errorf("%s: gradients differ by %g", name, d)
		}
	}
}

// TestFDSSMStencil: with the default stencils fd-ssm-stencil is fd-ssm; with
// higher-accuracy stencils (5 points, O(ε⁴)) it approaches SSM faster.
func TestFDSSMStencil(t *testing.T) {
	m := smallMLP(t)
	x, u := randT(22, tensor.Normal(0, 1), 4, 3), sphereT(23, 1, 4, 3)
	run := func(name string, eps float64, o Options) float64 {
		v := cpu.Empty(tensor.Float64, 4, 3)
		cpu.Binary(tensor.OpMul, v, u, tensor.Scalar(cpu, tensor.Float64, eps))
		o.Eps, o.Projection = eps, Sphere
		l, _, _ := evalLoss(t, name, o, m, Batch{X: x, V: v})
		return l
	}
	if a, b := run("fd-ssm", 0.1, Options{}), run("fd-ssm-stencil", 0.1, Options{}); !close(a, b, 1e-12) {
		t.Errorf("default stencils: %v vs fd-ssm %v", b, a)
	}
	s1, err := fdpar.HigherAccuracy(1, 4)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := fdpar.HigherAccuracy(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	hi := Options{FirstOrder: &s1, SecondOrder: &s2}
	epss := []float64{0.4, 0.2, 0.1}
	var errs []float64
	for _, e := range epss {
		errs = append(errs, math.Abs(run("fd-ssm-stencil", e, hi)-run("ssm", e, Options{}))/math.Abs(run("ssm", e, Options{})))
	}
	if s := slope(epss, errs); s < 3.5 {
		t.Errorf("higher-accuracy FD-SSM error %v falls with slope %.2f, want about 4", errs, s)
	}
}
