package fdpar

import (
	"fmt"

	ad "github.com/fdsm-go/fdsm/autodiff"
)

// Plan lays out the evaluations of one batch at shifted points x + γ v for
// a list of distinct offsets γ: block i of the stacked input (rows
// [i·n, (i+1)·n)) is x + Offsets[i]·v. An objective asks for a plan,
// evaluates the model on its stacked input through an Executor, and
// combines the blocks of the result into its loss with autodiff ops, so
// d loss / d values, and the backward pass through the model, come from
// Grad as usual.
type Plan struct {
	Offsets []float64
}

// NewPlan returns a plan for the given offsets. It panics on an empty list
// or a repeated offset (a caller bug).
func NewPlan(offsets ...float64) Plan {
	if len(offsets) == 0 {
		panic("fdpar: plan with no offsets")
	}
	for i, a := range offsets {
		for _, b := range offsets[:i] {
			if a == b {
				panic(fmt.Sprintf("fdpar: offset %g repeated", a))
			}
		}
	}
	return Plan{Offsets: append([]float64(nil), offsets...)}
}

// PlanFor returns the plan of a stencil's offsets.
func PlanFor(s Stencil) Plan { return NewPlan(s.Offsets...) }

// Blocks returns the number of evaluation blocks.
func (p Plan) Blocks() int { return len(p.Offsets) }

// Shifted returns block i's input x + Offsets[i]·v (x itself for offset 0).
func (p Plan) Shifted(x, v *ad.Var, i int) *ad.Var {
	switch g := p.Offsets[i]; g {
	case 0:
		return x
	case 1:
		return ad.Add(x, v)
	case -1:
		return ad.Sub(x, v)
	default:
		return ad.Add(x, ad.Scale(v, g))
	}
}

// Inputs returns the stacked input [Blocks()·n, ...].
func (p Plan) Inputs(x, v *ad.Var) *ad.Var {
	parts := make([]*ad.Var, p.Blocks())
	for i := range parts {
		parts[i] = p.Shifted(x, v, i)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return ad.Concat(0, parts...)
}

// Block returns block i of stacked values [Blocks()·n, ...].
func (p Plan) Block(values *ad.Var, i int) *ad.Var {
	n := values.Shape()[0] / p.Blocks()
	return ad.Slice(values, 0, i*n, (i+1)*n)
}

// Combine returns Σᵢ w[i] · block i, e.g. a stencil's derivative estimate
// per sample (w must have one weight per block).
func (p Plan) Combine(values *ad.Var, w []float64) *ad.Var {
	if len(w) != p.Blocks() {
		panic(fmt.Sprintf("fdpar: %d weights for %d blocks", len(w), p.Blocks()))
	}
	var acc *ad.Var
	for i, wi := range w {
		if wi == 0 {
			continue
		}
		t := ad.Scale(p.Block(values, i), wi)
		if acc == nil {
			acc = t
		} else {
			acc = ad.Add(acc, t)
		}
	}
	if acc == nil {
		return ad.Scale(p.Block(values, 0), 0)
	}
	return acc
}
