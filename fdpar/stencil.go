// Package fdpar holds the finite-difference machinery of the paper
// (Pang et al., Sec. 3): stencils that approximate any-order directional
// derivatives by plain function evaluations (Theorem 1, Lemma 1), and
// evaluation plans that stack the shifted inputs of a batch so the
// evaluations run as one batched call, one call each, or (later) spread
// over the devices of a node.
package fdpar

// Stencil approximates the T-th directional derivative along v by
// evaluations at shifted points:
//
//	(vᵀ∇ₓ)ᵀ L(x) = ε^T ∂^T L/∂v^T(x) ≈ Σᵢ Weights[i] · L(x + Offsets[i]·v),
//
// with ε = ‖v‖. Offsets are distinct; Order is T.
type Stencil struct {
	Order   int
	Offsets []float64
	Weights []float64
}

// Apply evaluates the stencil on a scalar function of the offset
// (L(x + γ v) as a function of γ).
func (s Stencil) Apply(f func(gamma float64) float64) float64 {
	sum := 0.0
	for i, g := range s.Offsets {
		sum += s.Weights[i] * f(g)
	}
	return sum
}
