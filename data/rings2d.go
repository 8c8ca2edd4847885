package data

import (
	"cmp"
	"fmt"
	"math"

	"github.com/fdsm-go/fdsm/tensor"
)

// Rings2D is a 2-D mixture of annuli, Σ_k w_k a_k(x) with
//
//	a_k(x) = exp(-(|x| - R_k)² / (2 S_k²)) / Z_k,
//	Z_k = 2π ∫_0^∞ ρ exp(-(ρ-R)²/(2S²)) dρ = 2π S [S e^{-R²/(2S²)} + R √(2π) Φ(R/S)]
//
// (R = Radii[k], S = Stds[k], Φ the standard normal CDF): the normaliser is
// exact, in closed form. Weights need not sum to 1. The density has a cusp
// at the origin, where Score returns 0.
type Rings2D struct {
	Label   string // dataset name for ToyDataset; "rings2d" when empty
	Weights []float64
	Radii   []float64
	Stds    []float64
}

// Validate reports inconsistent sizes, negative radii or non-positive
// weights or stds.
func (r *Rings2D) Validate() error {
	k := len(r.Weights)
	if k == 0 || len(r.Radii) != k || len(r.Stds) != k {
		return fmt.Errorf("rings2d: %d weights, %d radii, %d stds: need the same positive count", k, len(r.Radii), len(r.Stds))
	}
	for i := range k {
		if !(r.Weights[i] > 0) || !(r.Radii[i] >= 0) || !(r.Stds[i] > 0) ||
			math.IsInf(r.Weights[i]+r.Radii[i]+r.Stds[i], 0) {
			return fmt.Errorf("rings2d: ring %d: weight %g, radius %g, std %g out of range", i, r.Weights[i], r.Radii[i], r.Stds[i])
		}
	}
	return nil
}

func (r *Rings2D) label() string { return cmp.Or(r.Label, "rings2d") }

// Dim is 2.
func (r *Rings2D) Dim() int { return 2 }

// radialMass returns ∫_0^ρ t exp(-(t-R)²/(2S²)) dt in closed form (ρ = +Inf
// for the total, Z_k/(2π)).
func radialMass(rho, R, S float64) float64 {
	phi := func(t float64) float64 { return 0.5 * math.Erfc(-t/math.Sqrt2) }
	e0 := math.Exp(-R * R / (2 * S * S))
	if math.IsInf(rho, 1) {
		return S*S*e0 + R*S*math.Sqrt(2*math.Pi)*phi(R/S)
	}
	u := (rho - R) / S
	return S*S*(e0-math.Exp(-u*u/2)) + R*S*math.Sqrt(2*math.Pi)*(phi(u)-phi(-R/S))
}

func (r *Rings2D) logTerms(rho float64, l []float64) {
	for k, R := range r.Radii {
		S := r.Stds[k]
		logZ := math.Log(2*math.Pi) + math.Log(radialMass(math.Inf(1), R, S))
		l[k] = math.Log(r.Weights[k]) - logZ - (rho-R)*(rho-R)/(2*S*S)
	}
}

// LogProb returns log p(x).
func (r *Rings2D) LogProb(x []float64) float64 {
	l := make([]float64, len(r.Radii))
	r.logTerms(math.Hypot(x[0], x[1]), l)
	return toyLogSumExp(l) - math.Log(toySum(r.Weights))
}

// Score writes ∇ log p(x) = Σ_k r_k(x)·(R_k - |x|)/S_k² · x/|x|.
func (r *Rings2D) Score(x, dst []float64) {
	rho := math.Hypot(x[0], x[1])
	if rho == 0 {
		dst[0], dst[1] = 0, 0
		return
	}
	resp := make([]float64, len(r.Radii))
	r.logTerms(rho, resp)
	toyLogSumExp(resp)
	g := 0.0
	for k, R := range r.Radii {
		g += resp[k] * (R - rho) / (r.Stds[k] * r.Stds[k])
	}
	dst[0], dst[1] = g*x[0]/rho, g*x[1]/rho
}

// Sample draws n points: a ring by weight, a uniform angle, and the radius
// by inverting the closed-form radial CDF (safeguarded Newton).
func (r *Rings2D) Sample(rng *tensor.RNG, n int) []float64 {
	out := make([]float64, 2*n)
	for i := range n {
		k := toyPick(rng, r.Weights)
		rho := annulusRadius(r.Radii[k], r.Stds[k], rng.Float64())
		th := 2 * math.Pi * rng.Float64()
		out[2*i], out[2*i+1] = rho*math.Cos(th), rho*math.Sin(th)
	}
	return out
}

// annulusRadius solves radialMass(ρ) = u·radialMass(∞) for ρ.
func annulusRadius(R, S, u float64) float64 {
	target := u * radialMass(math.Inf(1), R, S)
	lo, hi := 0.0, R+40*S
	rho := max(R, S)
	for range 100 {
		f := radialMass(rho, R, S) - target
		if f > 0 {
			hi = rho
		} else {
			lo = rho
		}
		next := rho - f/(rho*math.Exp(-(rho-R)*(rho-R)/(2*S*S)))
		if !(next > lo && next < hi) { // Newton left the bracket: bisect
			next = (lo + hi) / 2
		}
		if math.Abs(next-rho) <= 1e-13*(1+rho) {
			return next
		}
		rho = next
	}
	return rho
}
