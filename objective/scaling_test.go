package objective

import (
	"math"
	"strings"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// TestReferenceScalings: each reference scaling is the paper-scaled loss
// times the factor that ../shared/reference/paper-code-facts.md §1 implies,
// for the loss and for every parameter gradient, with the same inputs (v,
// noise and levels given, so nothing is drawn). The factors, with d the
// flattened dimension:
//   - ssm (gaussian v): the reference's mean[½(s·u)² + u·∇(s·u)] is the raw
//     mean; the paper divides by C_v = E‖v‖² = d.                      → d
//   - dsm: the reference's σ⁴-scaled ‖σ²∇log p + σn‖²/2 = σ⁴/2·raw; the
//     paper's raw/d.                                                  → σ⁴d/2
//   - mdsm (reference-ebm): c·mean(raw/σ_b²) with c = s0⁴; paper /d.   → s0⁴d
//   - fd-ssm: reference-ebm mean[(E+-E-)²/8 + (2E0-E+-E-)]/ε² is the
//     paper's mean(raw)/ε²; reference-flow multiplies by d.           → 1, d
//   - fd-mdsm (reference-ebm): mean(t²/σ_b²)·c·d/ε²; paper mean(t²/σ_b²)/ε² → s0⁴d
//   - ssmvr and fd-ssmvr on a score network (reference-ncsn): d× paper. → d
//   - annealed dsm on a score network: the same in every scaling.     → 1
//
// The two losses are the same arithmetic up to one constant, so they agree
// to rounding: 1e-14 relative (a few ulps over the sums of a step). The FD
// forms subtract nearly equal model outputs (E(x+v), E(x), E(x-v), or
// v·s(x±v)), so each output's rounding, of relative size u = 2⁻⁵³, is
// magnified by A, the largest ratio over samples of the magnitudes a
// difference combines to the difference itself (fdAmplification, computed
// from the test's own inputs: about 8e4 for the MLP's second differences
// at ε = 0.1, far more than 1/ε²). Their tolerance is 8·u·A: a few
// roundings per term, each magnified by A. A wrong factor is off by O(1).
func TestReferenceScalings(t *testing.T) {
	mlp := smallMLP(t) // d = 3
	const d, sigma, s0 = 3.0, 0.1, 0.1
	eb := Batch{X: randT(41, tensor.Normal(0, 1), 4, 3), V: sphereT(42, 0.1, 4, 3), Noise: randT(43, tensor.Normal(0, 1), 4, 3)}
	gb := Batch{X: eb.X, V: randT(44, tensor.Normal(0, 1), 4, 3), Noise: eb.Noise}
	ncsn, err := models.Build(models.Spec{Kind: "ncsn", Options: map[string]any{"channels": 1, "image_size": 4, "ngf": 6, "num_levels": 3, "activation": "softplus"}}, cpu, tensor.Float64, 2)
	if err != nil {
		t.Fatal(err)
	}
	const dn = 16.0
	sb := Batch{X: randT(45, tensor.Normal(0.5, 0.3), 2, 1, 4, 4), V: sphereT(46, 0.1, 2, 16).Reshape(2, 1, 4, 4),
		Noise: randT(47, tensor.Normal(0, 1), 2, 1, 4, 4), Levels: []int{0, 2}}
	base := Options{Eps: 0.1, Sigma: sigma, S0: s0}
	gauss := base
	gauss.Projection = Gaussian
	cases := []struct {
		method  string
		scaling Scaling
		o       Options
		m       models.Model
		b       Batch
		factor  float64
	}{
		{"ssm", ReferenceFlow, gauss, mlp, gb, d},
		{"ssm", ReferenceEBM, gauss, mlp, gb, d},
		{"dsm", ReferenceFlow, base, mlp, eb, math.Pow(sigma, 4) * d / 2},
		{"mdsm", ReferenceEBM, base, mlp, eb, math.Pow(s0, 4) * d},
		{"fd-ssm", ReferenceEBM, base, mlp, eb, 1},
		{"fd-ssm", ReferenceFlow, base, mlp, eb, d},
		{"fd-mdsm", ReferenceEBM, base, mlp, eb, math.Pow(s0, 4) * d},
		{"ssmvr", ReferenceNCSN, gauss, ncsn, Batch{X: sb.X, V: randT(48, tensor.Normal(0, 1), 2, 1, 4, 4), Noise: sb.Noise, Levels: sb.Levels}, dn},
		{"fd-ssmvr", ReferenceNCSN, base, ncsn, sb, dn},
		{"dsm", ReferenceNCSN, base, ncsn, sb, 1},
	}
	for _, c := range cases {
		paper, _, pg := evalLoss(t, c.method, c.o, c.m, c.b)
		ro := c.o
		ro.Scaling = c.scaling
		ref, _, rg := evalLoss(t, c.method, ro, c.m, c.b)
		tol := 1e-14
		if strings.HasPrefix(c.method, "fd-") {
			tol = 8 * 0x1p-53 * fdAmplification(t, c.method, c.o, c.m, c.b)
		}
		if !closeRel(ref, c.factor*paper, tol) {
			t.Errorf("%s %s: loss %.17g, want %g × paper's %.17g = %.17g", c.method, c.scaling, ref, c.factor, paper, c.factor*paper)
		}
		var diff, norm float64
		for i := range pg {
			for j := range pg[i] {
				diff += math.Pow(rg[i][j]-c.factor*pg[i][j], 2)
				norm += math.Pow(c.factor*pg[i][j], 2)
			}
		}
		if rel := math.Sqrt(diff / norm); !(rel <= tol) {
			t.Errorf("%s %s: gradients differ from %g × paper's by %.3g (relative norm), tolerance %g", c.method, c.scaling, c.factor, rel, tol)
		}
	}
}

// TestReferenceSSMVRIsRawMean: on an energy model the reference SSM-VR loss
// is the plain mean of vᵀHv + ½‖g‖² (the paper weighs the two terms by 1/C_v
// and 1/d instead, so there is no single factor).
func TestReferenceSSMVRIsRawMean(t *testing.T) {
	b := Batch{X: randT(51, tensor.Normal(0, 1), 4, 3), V: randT(52, tensor.Normal(0, 1), 4, 3)}
	o := Options{Projection: Gaussian, Scaling: ReferenceFlow}
	loss, per, _ := evalLoss(t, "ssmvr", o, smallMLP(t), b)
	mean := 0.0
	for _, v := range per {
		mean += v / float64(len(per))
	}
	if !closeRel(loss, mean, 1e-14) {
		t.Errorf("reference ssmvr loss %.17g, mean of raw terms %.17g", loss, mean)
	}
}

func closeRel(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b))
}

// fdAmplification evaluates the model at the points an FD method combines
// (the method's own perturbation of x by its noise, then ±v) and returns the
// largest ratio over samples of the summed magnitudes of a difference's
// terms to the difference: (|E₊|+|E₋|+2|E₀|)/|2E₀−E₊−E₋| and
// (|E₊|+|E₋|)/|E₊−E₋| for energies, Σⱼ|vⱼs₊ⱼ|+|vⱼs₋ⱼ| over |v·(s₊−s₋)| for
// score networks.
func fdAmplification(t *testing.T, method string, o Options, m models.Model, b Batch) float64 {
	t.Helper()
	o = o.withDefaults()
	n := b.X.Dim(0)
	x, v, nz := b.X.ToFloat64s(), b.V.ToFloat64s(), b.Noise.ToFloat64s()
	d := len(x) / n
	var sig []float64
	switch method {
	case "fd-mdsm":
		sig = dsm{o, true}.sigmas(b)
	case "fd-ssmvr":
		all := m.(interface{ Sigmas() []float64 }).Sigmas()
		for _, l := range b.Levels {
			sig = append(sig, all[l])
		}
	}
	at := func(sign float64) *tensor.Tensor {
		p := make([]float64, len(x))
		for i := range p {
			p[i] = x[i] + sign*v[i]
			if sig != nil {
				p[i] += sig[i/d] * nz[i]
			}
		}
		return tensor.FromFloat64s(cpu, tensor.Float64, b.X.Shape(), p)
	}
	tp := ad.NewTape(cpu)
	defer tp.Reset()
	amp := 0.0
	if sc, ok := m.(models.Score); ok {
		sp, sm := sc.Score(tp.Const(at(1)), models.OneHot(tp, tensor.Float64, b.Levels, sc.Levels())).Value().ToFloat64s(), sc.Score(tp.Const(at(-1)), models.OneHot(tp, tensor.Float64, b.Levels, sc.Levels())).Value().ToFloat64s()
		for i := 0; i < n; i++ {
			terms, diff := 0.0, 0.0
			for j := i * d; j < (i+1)*d; j++ {
				terms += math.Abs(v[j]*sp[j]) + math.Abs(v[j]*sm[j])
				diff += v[j] * (sp[j] - sm[j])
			}
			amp = math.Max(amp, terms/math.Abs(diff))
		}
		return amp
	}
	e := m.(models.Energy)
	f := func(sign float64) []float64 { return e.LogDensity(tp.Const(at(sign))).Value().ToFloat64s() }
	ep, e0, em := f(1), f(0), f(-1)
	for i := 0; i < n; i++ {
		second := (math.Abs(ep[i]) + math.Abs(em[i]) + 2*math.Abs(e0[i])) / math.Abs(2*e0[i]-ep[i]-em[i])
		first := (math.Abs(ep[i]) + math.Abs(em[i])) / math.Abs(ep[i]-em[i])
		amp = math.Max(amp, math.Max(first, second))
	}
	return amp
}
