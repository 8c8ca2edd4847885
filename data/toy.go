package data

import (
	"cmp"
	"fmt"
	"math"
	"strings"

	"github.com/fdsm-go/fdsm/tensor"
)

// Density is a synthetic distribution with a known normalised log-density
// and score, for testing score-matching objectives against ground truth.
type Density interface {
	// Dim is the dimension of x.
	Dim() int
	// LogProb returns log p(x) (normalised).
	LogProb(x []float64) float64
	// Score writes ∇_x log p(x) into dst (len Dim).
	Score(x []float64, dst []float64)
	// Sample returns n exact draws, row-major n·Dim.
	Sample(rng *tensor.RNG, n int) []float64
}

const toyLog2Pi = 1.8378770664093453 // log(2π)

// toyLogSumExp returns log Σ exp(l[k]) and writes the normalised weights
// exp(l[k] - result) into l.
func toyLogSumExp(l []float64) float64 {
	m := math.Inf(-1)
	for _, v := range l {
		m = max(m, v)
	}
	s := 0.0
	for k, v := range l {
		l[k] = math.Exp(v - m)
		s += l[k]
	}
	for k := range l {
		l[k] /= s
	}
	return m + math.Log(s)
}

// toyPick draws k with probability w[k]/Σw.
func toyPick(rng *tensor.RNG, w []float64) int {
	total := 0.0
	for _, v := range w {
		total += v
	}
	u := rng.Float64() * total
	for k, v := range w {
		if u < v {
			return k
		}
		u -= v
	}
	return len(w) - 1 // rounding at the top end
}

func toySum(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

// GaussianMixture is Σ_k w_k N(Means[k], Stds[k]²·I) in any dimension.
// Weights need not sum to 1: they are normalised by their sum.
type GaussianMixture struct {
	Label   string // dataset name for ToyDataset; "gmm" when empty
	Weights []float64
	Means   [][]float64
	Stds    []float64
}

// Validate reports inconsistent sizes or non-positive weights or stds.
func (g *GaussianMixture) Validate() error {
	k := len(g.Weights)
	if k == 0 || len(g.Means) != k || len(g.Stds) != k {
		return fmt.Errorf("gaussian mixture: %d weights, %d means, %d stds: need the same positive count", k, len(g.Means), len(g.Stds))
	}
	for i := range k {
		if len(g.Means[i]) == 0 || len(g.Means[i]) != len(g.Means[0]) {
			return fmt.Errorf("gaussian mixture: mean %d has dimension %d, mean 0 has %d", i, len(g.Means[i]), len(g.Means[0]))
		}
		if !(g.Weights[i] > 0) || math.IsInf(g.Weights[i], 0) || !(g.Stds[i] > 0) || math.IsInf(g.Stds[i], 0) {
			return fmt.Errorf("gaussian mixture: component %d: weight %g and std %g must be positive and finite", i, g.Weights[i], g.Stds[i])
		}
	}
	return nil
}

func (g *GaussianMixture) label() string { return cmp.Or(g.Label, "gmm") }

// Dim is the dimension of the means.
func (g *GaussianMixture) Dim() int { return len(g.Means[0]) }

// logTerms writes log(w_k N(x; μ_k, s_k²I)) into l, up to -log Σw.
func (g *GaussianMixture) logTerms(x, l []float64) {
	d := float64(g.Dim())
	for k, mu := range g.Means {
		s2 := g.Stds[k] * g.Stds[k]
		r2 := 0.0
		for j, m := range mu {
			r2 += (x[j] - m) * (x[j] - m)
		}
		l[k] = math.Log(g.Weights[k]) - 0.5*d*(toyLog2Pi+math.Log(s2)) - r2/(2*s2)
	}
}

// LogProb returns log p(x).
func (g *GaussianMixture) LogProb(x []float64) float64 {
	l := make([]float64, len(g.Means))
	g.logTerms(x, l)
	return toyLogSumExp(l) - math.Log(toySum(g.Weights))
}

// Score writes Σ_k r_k(x)(μ_k - x)/s_k², r_k the responsibilities.
func (g *GaussianMixture) Score(x, dst []float64) {
	r := make([]float64, len(g.Means))
	g.logTerms(x, r)
	toyLogSumExp(r)
	clear(dst[:g.Dim()])
	for k, mu := range g.Means {
		c := r[k] / (g.Stds[k] * g.Stds[k])
		for j, m := range mu {
			dst[j] += c * (m - x[j])
		}
	}
}

// Sample draws n points.
func (g *GaussianMixture) Sample(rng *tensor.RNG, n int) []float64 {
	d := g.Dim()
	out := make([]float64, n*d)
	for i := range n {
		k := toyPick(rng, g.Weights)
		for j := range d {
			out[i*d+j] = g.Means[k][j] + g.Stds[k]*rng.NormFloat64()
		}
	}
	return out
}

// Moments returns the mixture's mean and covariance (Dim×Dim, row-major):
// Σ w_k μ_k and Σ w_k (s_k² I + μ_k μ_kᵀ) - mean meanᵀ.
func (g *GaussianMixture) Moments() (mean, cov []float64) {
	d, total := g.Dim(), toySum(g.Weights)
	mean, cov = make([]float64, d), make([]float64, d*d)
	for k, mu := range g.Means {
		w := g.Weights[k] / total
		for a := range d {
			mean[a] += w * mu[a]
			cov[a*d+a] += w * g.Stds[k] * g.Stds[k]
			for b := range d {
				cov[a*d+b] += w * mu[a] * mu[b]
			}
		}
	}
	for a := range d {
		for b := range d {
			cov[a*d+b] -= mean[a] * mean[b]
		}
	}
	return mean, cov
}

// ToyNames lists the presets Toy accepts.
func ToyNames() []string { return []string{"gmm-10d", "gmm2d-25", "gmm2d-8", "rings2d"} }

// Toy returns a named preset:
//
//	gmm2d-8   8 equal Gaussians, std 0.5, on the circle of radius 4
//	gmm2d-25  25 equal Gaussians, std 0.3, on the grid {-4,-2,0,2,4}²
//	rings2d   3 equal rings of radius 1, 3, 5, radial std 0.2
//	gmm-10d   5 Gaussians in 10-D, std 1, means 4·e_0, 4·e_2, …, 4·e_8,
//	          weights 0.3, 0.25, 0.2, 0.15, 0.1
func Toy(name string) (Density, error) {
	switch name {
	case "gmm2d-8":
		g := &GaussianMixture{Label: name}
		for k := range 8 {
			a := 2 * math.Pi * float64(k) / 8
			g.Weights, g.Stds = append(g.Weights, 1), append(g.Stds, 0.5)
			g.Means = append(g.Means, []float64{4 * math.Cos(a), 4 * math.Sin(a)})
		}
		return g, nil
	case "gmm2d-25":
		g := &GaussianMixture{Label: name}
		for i := range 5 {
			for j := range 5 {
				g.Weights, g.Stds = append(g.Weights, 1), append(g.Stds, 0.3)
				g.Means = append(g.Means, []float64{float64(2*i - 4), float64(2*j - 4)})
			}
		}
		return g, nil
	case "rings2d":
		return &Rings2D{Label: name, Weights: []float64{1, 1, 1}, Radii: []float64{1, 3, 5}, Stds: []float64{0.2, 0.2, 0.2}}, nil
	case "gmm-10d":
		g := &GaussianMixture{Label: name, Weights: []float64{0.3, 0.25, 0.2, 0.15, 0.1}, Stds: []float64{1, 1, 1, 1, 1}}
		for k := range 5 {
			mu := make([]float64, 10)
			mu[2*k] = 4
			g.Means = append(g.Means, mu)
		}
		return g, nil
	}
	return nil, fmt.Errorf("unknown toy density %q (valid: %s)", name, strings.Join(ToyNames(), ", "))
}

// ToyDataset draws n samples of d with a generator seeded by seed and
// returns them as an unlabelled float32 dataset of shape [Dim].
func ToyDataset(d Density, n int, seed uint64) (*InMemory, error) {
	if n <= 0 {
		return nil, fmt.Errorf("toy dataset: %d samples requested", n)
	}
	if v, ok := d.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, err
		}
	}
	name := "toy"
	if l, ok := d.(interface{ label() string }); ok {
		name = l.label()
	}
	x := d.Sample(tensor.NewRNG(seed), n)
	if len(x) != n*d.Dim() {
		return nil, fmt.Errorf("%s: sampler returned %d values for %d samples of %d", name, len(x), n, d.Dim())
	}
	v := make([]float32, len(x))
	for i, f := range x {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s: sample %d is not finite", name, i/d.Dim())
		}
		v[i] = float32(f)
	}
	return NewInMemory(name, []int{d.Dim()}, v, nil)
}
