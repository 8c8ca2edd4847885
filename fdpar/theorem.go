package fdpar

import (
	"fmt"
	"math"
	"slices"
)

// Error orders. Write D_t = (vᵀ∇ₓ)^t L(x) = ε^t ∂^t L/∂v^t. Taylor's
// expansion along v gives
//
//	Σᵢ wᵢ L(x + γᵢ v) = Σ_t D_t · m_t/t!,   m_t = Σᵢ wᵢ γᵢ^t,
//
// so a stencil estimates D_T when m_t = T!·δ_{tT} for the low t; the first
// moment left nonzero, t = T+p, leaves an error D_{T+p}·m_{T+p}/(T+p)! =
// O(ε^{T+p}), i.e. O(ε^p) in ∂^T L/∂v^T = D_T/ε^T. For a stencil whose
// offsets are symmetric (γ and -γ both present) the weights satisfy
// w(-γ) = (-1)^T w(γ), so every m_t with t-T odd vanishes for free.
//
// Round-off: the evaluations cancel down to D_T ~ ε^T, so float64 noise of
// about 1e-16·Σᵢ|wᵢ|·|L| becomes a relative error ~1e-16·Σ|w|/ε^T. ε must
// not be so small that this dominates the truncation error: for Default(8)
// on unit-scale L (derivatives ~1 along v/ε) round-off overtakes the O(ε²)
// error near ε ≈ 0.1, for Default(2) near ε ≈ 3e-4.

// Theorem1 returns the stencil of the paper's Theorem 1 (Eq. (7)) for the
// T-th directional derivative, T = order >= 1, from K = ceil(T/2) distinct
// positive alphas. β solves Vᵀβ = e_K with V_ij = α_i^{2j-2}; its exact
// solution is β_k = 1/Π_{j≠k}(α_k² - α_j²) (the divided-difference weights
// of the nodes α_k², since Σ_k β_k p(α_k²) is the leading coefficient of
// any polynomial p of degree K-1), which is what is computed: no
// Vandermonde solve, so no conditioning loss in β itself. The weights are
//
//	T = 2K:   T!/2·β_k·α_k^{-2} at ±α_k, and -T!·Σ_k β_k α_k^{-2} at 0;
//	T = 2K-1: ±T!/2·β_k·α_k^{-1} at ±α_k.
//
// Error: O(ε²) in ∂^T L/∂v^T (the offsets are symmetric and m_{T+1} = 0),
// i.e. the o(ε) of the theorem with the Lagrange remainder of the remark.
// Limits: |β_k| grows like the inverse of the gaps α_k² - α_j², so nearly
// equal alphas give huge weights of alternating sign and the estimate
// drowns in round-off (see the note above); the weights themselves stay
// accurate. K = 1, α = 1 gives Eq. (8).
//
// Offset order (deterministic, independent of the order of alphas): alphas
// ascending, each as +α then -α, then 0 last for even T. For K = 1 that is
// (+1, -1) for T = 1 and (+1, -1, 0) for T = 2.
func Theorem1(order int, alphas []float64) (Stencil, error) {
	if order < 1 {
		return Stencil{}, fmt.Errorf("fdpar: Theorem1 order %d; need order >= 1", order)
	}
	k := (order + 1) / 2
	if len(alphas) != k {
		return Stencil{}, fmt.Errorf("fdpar: Theorem1 order %d needs K = ceil(T/2) = %d alphas, got %d", order, k, len(alphas))
	}
	a := slices.Clone(alphas)
	slices.Sort(a)
	for i, x := range a {
		if !(x > 0) || math.IsInf(x, 0) {
			return Stencil{}, fmt.Errorf("fdpar: Theorem1 alpha %g; alphas must be positive and finite", x)
		}
		if i > 0 && x == a[i-1] {
			return Stencil{}, fmt.Errorf("fdpar: Theorem1 alpha %g repeated; alphas must be distinct", x)
		}
	}
	fact := factorial(order)
	s := Stencil{Order: order}
	center := 0.0
	for i, ai := range a {
		// den = 1/β_i; one division at the end keeps integer cases exact
		// (Default(8) gets -56, 28, -8, 1 and 70, not -55.99999999999999).
		den := 1.0
		for j, aj := range a {
			if j != i {
				den *= ai*ai - aj*aj
			}
		}
		if order%2 == 0 {
			w := fact / (2 * den * ai * ai)
			s.Offsets = append(s.Offsets, ai, -ai)
			s.Weights = append(s.Weights, w, w)
			center -= 2 * w
		} else {
			w := fact / (2 * den * ai)
			s.Offsets = append(s.Offsets, ai, -ai)
			s.Weights = append(s.Weights, w, -w)
		}
	}
	if order%2 == 0 {
		s.Offsets = append(s.Offsets, 0)
		s.Weights = append(s.Weights, center)
	}
	return s, nil
}

// Lemma1 returns the stencil of the paper's Lemma 1 (Eq. (6)) for T =
// order >= 1 from T+1 distinct real gammas, kept in the given order: the
// weights solve Σᵢ wᵢ γᵢ^t / t! = δ_{tT}, t = 0..T, i.e. wᵢ = T!·βᵢ of the
// paper. Exactly wᵢ = T!/Π_{j≠i}(γᵢ - γⱼ) (T! times the divided-difference
// weights), computed in that closed form. The estimate is exact for L
// polynomial of degree <= T along v; in general the error is O(ε) in
// ∂^T L/∂v^T (o(1) in the lemma), O(ε²) when the gammas are symmetric.
// Limits: close gammas give large cancelling weights (see the round-off
// note above).
func Lemma1(order int, gammas []float64) (Stencil, error) {
	if order < 1 {
		return Stencil{}, fmt.Errorf("fdpar: Lemma1 order %d; need order >= 1", order)
	}
	if len(gammas) != order+1 {
		return Stencil{}, fmt.Errorf("fdpar: Lemma1 order %d needs T+1 = %d gammas, got %d", order, order+1, len(gammas))
	}
	if err := checkNodes("Lemma1", gammas); err != nil {
		return Stencil{}, err
	}
	return interpStencil(order, gammas), nil
}

// HigherAccuracy returns a stencil for T = order >= 1 with T+N evaluations
// (n = N >= 1), the generalization after Theorem 1. Offsets: the symmetric
// integer set of size T+N, {0, ±1, ..., ±m} when T+N = 2m+1 and {±1, ...,
// ±m} when T+N = 2m, listed as in Theorem1 (+1, -1, +2, -2, ..., then 0).
// Weights solve the moment conditions Σᵢ wᵢ γᵢ^t / t! = δ_{tT} for t = 0..
// T+N-1, so every Taylor term up to order T+N-1 except t = T cancels.
//
// Error in ∂^T L/∂v^T: O(ε^N) from the first uncancelled moment t = T+N;
// by the symmetry of the offsets that moment vanishes when N is odd, so the
// error is O(ε^{N+1}) for odd N and O(ε^N) for even N (= 2·ceil(N/2)). The
// estimate is exact on polynomials of degree <= T+N-1 (T+N for odd N).
// HigherAccuracy(T, 1) equals Default(T). The weights are exact up to
// rounding (integer nodes, closed-form Lagrange coefficients); the round-off
// note above bounds the usable ε, and Σ|w| grows quickly with T+N.
func HigherAccuracy(order, n int) (Stencil, error) {
	if order < 1 {
		return Stencil{}, fmt.Errorf("fdpar: HigherAccuracy order %d; need order >= 1", order)
	}
	if n < 1 {
		return Stencil{}, fmt.Errorf("fdpar: HigherAccuracy N = %d; need N >= 1", n)
	}
	size := order + n
	var nodes []float64
	for k := 1; k <= size/2; k++ {
		nodes = append(nodes, float64(k), -float64(k))
	}
	if size%2 == 1 {
		nodes = append(nodes, 0)
	}
	return interpStencil(order, nodes), nil
}

// Default returns the standard stencil for order T: Theorem1 with α_k = k,
// k = 1..ceil(T/2). These are the classic central differences on x ± k v
// (O(ε²) error, the fewest evaluations, T+1, for that rate; weights exact,
// e.g. 1, -8, 28, -56, 70, ... for T = 8), and the K = 1 cases are Eq. (8).
// It panics for order < 1.
func Default(order int) Stencil {
	alphas := make([]float64, (order+1)/2)
	for k := range alphas {
		alphas[k] = float64(k + 1)
	}
	s, err := Theorem1(order, alphas)
	if err != nil {
		panic(err)
	}
	return s
}

// interpStencil returns the weights wᵢ = ℓᵢ^{(T)}(0) of the Lagrange basis
// polynomials ℓᵢ of the nodes: differentiating the interpolant of
// γ ↦ L(x + γ v) T times at 0. These satisfy the moment conditions for
// t = 0..len(nodes)-1. ℓᵢ^{(T)}(0) = T!·[γ^T]Π_{j≠i}(γ - γⱼ) / Π_{j≠i}(γᵢ - γⱼ).
func interpStencil(order int, nodes []float64) Stencil {
	fact := factorial(order)
	s := Stencil{Order: order, Offsets: slices.Clone(nodes), Weights: make([]float64, len(nodes))}
	coef := make([]float64, len(nodes)) // coefficients of Π_{j≠i}(γ - γⱼ), low first
	for i, gi := range nodes {
		clear(coef)
		coef[0] = 1
		deg, den := 0, 1.0
		for j, gj := range nodes {
			if j == i {
				continue
			}
			// multiply by (γ - γⱼ)
			deg++
			for d := deg; d >= 1; d-- {
				coef[d] = coef[d-1] - gj*coef[d]
			}
			coef[0] *= -gj
			den *= gi - gj
		}
		if order <= deg {
			s.Weights[i] = fact * coef[order] / den
		}
	}
	return s
}

// checkNodes rejects non-finite or repeated offsets.
func checkNodes(who string, g []float64) error {
	for i, x := range g {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("fdpar: %s offset %g; offsets must be finite", who, x)
		}
		for _, y := range g[:i] {
			if x == y {
				return fmt.Errorf("fdpar: %s offset %g repeated; offsets must be distinct", who, x)
			}
		}
	}
	return nil
}

func factorial(n int) float64 {
	f := 1.0
	for i := 2; i <= n; i++ {
		f *= float64(i)
	}
	return f
}
