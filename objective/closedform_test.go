package objective

import (
	"math"
	"testing"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// Gaussian data x ~ N(m*, diag(S*²)) and a Gaussian model N(μ, diag(s²)):
// g = -(x-μ)/s², H = -diag(1/s²), so every objective has a closed-form
// expectation. The FD forms are exact for a quadratic log p (the stencils
// have no error on polynomials of degree 2), so they share the exact forms'
// expectations.
var (
	trueMean  = []float64{0.5, -1, 2}
	trueScale = []float64{1, 0.5, 2}
)

func gaussianData(n int, seed uint64) *tensor.Tensor {
	x := randT(seed, tensor.Normal(0, 1), n, 3)
	v := x.Float64s()
	for i := 0; i < n; i++ {
		for j := 0; j < 3; j++ {
			v[i*3+j] = trueMean[j] + trueScale[j]*v[i*3+j]
		}
	}
	return x
}

// expectedSM is E[½‖g‖² + tr H] under the data for model (mu, s).
func expectedSM(mu, s []float64) float64 {
	e := 0.0
	for j := range mu {
		dm := trueMean[j] - mu[j]
		e += 0.5*(trueScale[j]*trueScale[j]+dm*dm)/math.Pow(s[j], 4) - 1/(s[j]*s[j])
	}
	return e
}

// expectedDSM is E‖g(x~) + (x~-x)/σ²‖²/d: per coordinate
// E(x-μ)²/s⁴ + (1/σ - σ/s²)².
func expectedDSM(mu, s []float64, sigma float64) float64 {
	e := 0.0
	for j := range mu {
		dm := trueMean[j] - mu[j]
		e += (trueScale[j]*trueScale[j]+dm*dm)/math.Pow(s[j], 4) + math.Pow(1/sigma-sigma/(s[j]*s[j]), 2)
	}
	return e / float64(len(mu))
}

// TestClosedFormExpectations: each objective's loss on 20,000 samples
// matches its closed-form expectation within 5 standard errors (estimated
// from the per-sample terms; a correct estimator fails with probability
// ~6e-7).
func TestClosedFormExpectations(t *testing.T) {
	const n = 20000
	mu, s := []float64{0.2, -0.5, 1}, []float64{1.5, 0.7, 1.2}
	m := newGauss(3, mu, s, 0)
	x := gaussianData(n, 31)
	const sigma = 0.3
	cases := []struct {
		name  string
		o     Options
		want  float64
		scale float64 // loss = scale · mean(per-sample)
	}{
		{"sm", Options{}, expectedSM(mu, s), 1},
		{"ssm", Options{Projection: Gaussian}, expectedSM(mu, s) / 3, 1.0 / 3},
		{"ssm", Options{Projection: Rademacher}, expectedSM(mu, s) / 3, 1.0 / 3},
		{"ssmvr", Options{Projection: Gaussian}, expectedSM(mu, s) / 3, 1.0 / 3},
		{"fd-ssm", Options{Eps: 0.1}, expectedSM(mu, s) / 3, 1 / 0.01},
		{"dsm", Options{Sigma: sigma}, expectedDSM(mu, s, sigma), 1.0 / 3},
		{"fd-dsm", Options{Sigma: sigma, Eps: 0.1}, expectedDSM(mu, s, sigma), 1 / 0.01},
	}
	for _, c := range cases {
		loss, per, _ := evalLoss(t, c.name, c.o, m, Batch{X: x})
		mean, sq := 0.0, 0.0
		for _, p := range per {
			mean += p
		}
		mean /= n
		for _, p := range per {
			sq += (p - mean) * (p - mean)
		}
		se := c.scale * math.Sqrt(sq/(n-1)/n)
		if !close(loss, c.scale*mean, 1e-12) {
			t.Errorf("%s %s: loss %v is not %v·mean(per-sample) = %v", c.name, c.o.Projection, loss, c.scale, c.scale*mean)
		}
		if math.Abs(loss-c.want) > 5*se {
			t.Errorf("%s %s: loss %v, closed form %v (5 s.e. = %v)", c.name, c.o.Projection, loss, c.want, 5*se)
		}
	}
}

// TestMinimisingRecoversTheGaussian: Adam on SM, SSM and FD-SSM
// (fixed 4,000 samples, fresh directions each step) recovers the data's mean
// and scale; DSM recovers the scale of the noised data, √(S*² + σ²).
// Tolerances: 0.1 absolute, about 4 standard errors of the sample moments at
// n = 4000 for the largest scale (2/√4000 ≈ 0.03), plus the directions' noise.
func TestMinimisingRecoversTheGaussian(t *testing.T) {
	if testing.Short() {
		t.Skip("a few hundred optimisation steps")
	}
	x := gaussianData(4000, 41)
	const sigma = 0.3
	for _, c := range []struct {
		name string
		o    Options
	}{{"sm", Options{}}, {"ssm", Options{}}, {"fd-ssm", Options{Eps: 0.1}}, {"dsm", Options{Sigma: sigma}}} {
		m := newGauss(3, []float64{0, 0, 0}, []float64{1, 1, 1}, 0)
		obj, err := New(c.name, c.o)
		if err != nil {
			t.Fatal(err)
		}
		rng := tensor.NewRNG(5)
		// Adam (β = 0.9, 0.999): the objectives' curvature in μ and log s
		// differs by orders of magnitude across coordinates, which plain
		// gradient steps handle poorly.
		ps := []*ad.Param{m.mu, m.rho}
		m1, m2 := make([][]float64, 2), make([][]float64, 2)
		for i := range ps {
			m1[i], m2[i] = make([]float64, 3), make([]float64, 3)
		}
		for step := 1; step <= 600; step++ {
			tp := ad.NewTape(cpu)
			r, err := obj.Eval(tp, m, Batch{X: x}, rng)
			if err != nil {
				t.Fatal(err)
			}
			gs := ad.Grad([]*ad.Var{r.Loss}, []*ad.Var{tp.Param(m.mu), tp.Param(m.rho)}, ad.GradOptions{})
			lr := 0.05
			if step > 400 {
				lr = 0.005
			}
			for i, p := range ps {
				v, g := p.Value.Float64s(), gs[i].Value().Float64s()
				for j := range v {
					m1[i][j] = 0.9*m1[i][j] + 0.1*g[j]
					m2[i][j] = 0.999*m2[i][j] + 0.001*g[j]*g[j]
					mh := m1[i][j] / (1 - math.Pow(0.9, float64(step)))
					vh := m2[i][j] / (1 - math.Pow(0.999, float64(step)))
					v[j] -= lr * mh / (math.Sqrt(vh) + 1e-8)
				}
			}
			tp.Reset()
		}
		for j := 0; j < 3; j++ {
			wantS := trueScale[j]
			if c.name == "dsm" {
				wantS = math.Sqrt(trueScale[j]*trueScale[j] + sigma*sigma)
			}
			gotMu, gotS := m.mu.Value.At(j), math.Exp(m.rho.Value.At(j))
			if math.Abs(gotMu-trueMean[j]) > 0.1 || math.Abs(gotS-wantS) > 0.1 {
				t.Errorf("%s: coordinate %d: μ %.3f s %.3f, want %.3f and %.3f", c.name, j, gotMu, gotS, trueMean[j], wantS)
			}
		}
	}
}
