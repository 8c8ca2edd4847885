package data

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

func toyPresets(t *testing.T) map[string]Density {
	t.Helper()
	out := map[string]Density{}
	for _, name := range ToyNames() {
		d, err := Toy(name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = d
	}
	// A wide ring whose normaliser depends on Φ(R/S) < 1 (mass near the
	// origin), and an unequal, unnormalised-weight mixture.
	out["wide-ring"] = &Rings2D{Weights: []float64{2, 1}, Radii: []float64{0.5, 2}, Stds: []float64{1, 0.3}}
	out["gmm-3d"] = &GaussianMixture{Weights: []float64{3, 1}, Means: [][]float64{{0, 1, 2}, {-1, 0, 0.5}}, Stds: []float64{0.7, 1.5}}
	return out
}

// Score agrees with central differences of LogProb: step h = 1e-5 has
// truncation error ~h²·|f”'| and rounding ~1e-16·|f|/h, both below the
// tolerance 1e-6·(1 + |score|).
func TestToyScoreMatchesLogProb(t *testing.T) {
	const h = 1e-5
	for name, d := range toyPresets(t) {
		rng := tensor.NewRNG(11)
		x := d.Sample(rng, 50)
		n := d.Dim()
		got, xp := make([]float64, n), make([]float64, n)
		for i := range 50 {
			p := x[i*n : (i+1)*n]
			for j := range p {
				p[j] += 0.3 * rng.NormFloat64() // off the sample path too
			}
			d.Score(p, got)
			for j := range n {
				copy(xp, p)
				xp[j] = p[j] + h
				fp := d.LogProb(xp)
				xp[j] = p[j] - h
				fd := (fp - d.LogProb(xp)) / (2 * h)
				if math.Abs(fd-got[j]) > 1e-6*(1+math.Abs(got[j])) {
					t.Errorf("%s: x=%v: score[%d] = %.9g, central difference %.9g", name, p, j, got[j], fd)
				}
			}
		}
	}
}

// The 2-D densities integrate to 1: midpoint rule on a grid covering all
// but a negligible tail. The integrands are smooth (the wide ring has a
// cusp at the origin), so the rule with h = 0.05 is accurate to ~1e-13
// (~2e-7 for the wide ring); the tolerance is 1e-6.
func TestToyNormalised(t *testing.T) {
	all := toyPresets(t)
	for _, c := range []struct {
		name string
		L, h float64
	}{
		{"gmm2d-8", 8, 0.05},
		{"gmm2d-25", 7.5, 0.05},
		{"rings2d", 6.6, 0.05},
		{"wide-ring", 9, 0.05},
	} {
		d := all[c.name]
		s := 0.0
		x := make([]float64, 2)
		for u := -c.L + c.h/2; u < c.L; u += c.h {
			for v := -c.L + c.h/2; v < c.L; v += c.h {
				x[0], x[1] = u, v
				s += math.Exp(d.LogProb(x))
			}
		}
		s *= c.h * c.h
		if math.Abs(s-1) > 1e-6 {
			t.Errorf("%s: integral %.8f, want 1", c.name, s)
		}
	}
}

// ringSecondMoment returns E|x|² of a Rings2D by 1-D Simpson quadrature of
// the radial density ρ·exp(-(ρ-R)²/(2S²)), independently of the sampler.
func ringSecondMoment(r *Rings2D) float64 {
	m, wsum := 0.0, 0.0
	for k, R := range r.Radii {
		S := r.Stds[k]
		top, steps := R+12*S, 20000
		hh := top / float64(steps)
		var m0, m2 float64
		for i := 0; i <= steps; i++ {
			rho := float64(i) * hh
			c := 2.0
			if i == 0 || i == steps {
				c = 1
			} else if i%2 == 1 {
				c = 4
			}
			f := rho * math.Exp(-(rho-R)*(rho-R)/(2*S*S))
			m0 += c * f
			m2 += c * f * rho * rho
		}
		m += r.Weights[k] * m2 / m0
		wsum += r.Weights[k]
	}
	return m / wsum
}

// Sample means and covariances match the closed forms within 5 standard
// errors, each estimated from the sample itself (the per-entry variance of
// x_a and of (x_a-m_a)(x_b-m_b)), plus 1e-9.
func TestToySampleMoments(t *testing.T) {
	const n = 100000
	for name, d := range toyPresets(t) {
		dim := d.Dim()
		var mean, cov []float64
		switch g := d.(type) {
		case *GaussianMixture:
			mean, cov = g.Moments()
		case *Rings2D:
			e2 := ringSecondMoment(g)
			mean, cov = []float64{0, 0}, []float64{e2 / 2, 0, 0, e2 / 2}
		}
		x := d.Sample(tensor.NewRNG(5), n)
		m, c := uciMoments(x, dim)
		for a := range dim {
			se := math.Sqrt(c[a*dim+a] / n)
			if math.Abs(m[a]-mean[a]) > 5*se+1e-9 {
				t.Errorf("%s: mean[%d] = %.5f, want %.5f (se %.1g)", name, a, m[a], mean[a], se)
			}
			for b := range dim {
				v := 0.0
				for i := range n {
					p := (x[i*dim+a]-m[a])*(x[i*dim+b]-m[b]) - c[a*dim+b]
					v += p * p / n
				}
				se := math.Sqrt(v / n)
				if math.Abs(c[a*dim+b]-cov[a*dim+b]) > 5*se+1e-9 {
					t.Errorf("%s: cov[%d,%d] = %.5f, want %.5f (se %.1g)", name, a, b, c[a*dim+b], cov[a*dim+b], se)
				}
			}
		}
	}
}

// annulusRadius inverts the radial CDF.
func TestToyAnnulusRadius(t *testing.T) {
	for _, R := range []float64{0, 0.5, 5} {
		for _, S := range []float64{0.05, 1} {
			total := radialMass(math.Inf(1), R, S)
			for _, u := range []float64{1e-9, 0.01, 0.3, 0.5, 0.9, 1 - 1e-9} {
				rho := annulusRadius(R, S, u)
				if got := radialMass(rho, R, S) / total; math.Abs(got-u) > 1e-10 {
					t.Errorf("R=%g S=%g u=%g: ρ=%g has CDF %.12g", R, S, u, rho, got)
				}
			}
		}
	}
}

func TestToyDataset(t *testing.T) {
	d, _ := Toy("gmm2d-8")
	a, err := ToyDataset(d, 100, 3)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ToyDataset(d, 100, 3)
	c, _ := ToyDataset(d, 100, 4)
	if a.Len() != 100 || !slices.Equal(a.Shape(), []int{2}) || a.Name() != "gmm2d-8" {
		t.Errorf("dataset %s: %d samples of %v", a.Name(), a.Len(), a.Shape())
	}
	if !slices.Equal(a.Values(), b.Values()) || slices.Equal(a.Values(), c.Values()) {
		t.Error("samples not determined by the seed")
	}
	if _, err := ToyDataset(d, 0, 1); err == nil {
		t.Error("n = 0 accepted")
	}
	bad := &GaussianMixture{Weights: []float64{1}, Means: [][]float64{{0}}, Stds: []float64{-1}}
	if _, err := ToyDataset(bad, 10, 1); err == nil {
		t.Error("negative std accepted")
	}
	badRing := &Rings2D{Weights: []float64{1, 1}, Radii: []float64{1}, Stds: []float64{1}}
	if _, err := ToyDataset(badRing, 10, 1); err == nil {
		t.Error("mismatched ring sizes accepted")
	}
	if _, err := Toy("moons"); err == nil || !strings.Contains(err.Error(), "gmm2d-8") {
		t.Errorf("unknown preset: %v", err)
	}
}
