package autodiff

import (
	"fmt"
)

type solveOp struct{}

func (solveOp) Name() string { return "solve" }

// Solve returns x with a x = b for square a [n,n] and b [n,k] or [n]. It
// returns the backend's error (tensor.ErrSingular) for a singular a.
//
// Gradients: with x = a⁻¹b, gb = a⁻ᵀ g and ga = -gb xᵀ; both are written
// with Solve and MatMul, so they differentiate again.
func Solve(a, b *Var) (*Var, error) {
	tp := tapeOf(a, b)
	as, bs := a.value.Shape(), b.value.Shape()
	if len(as) != 2 || as[0] != as[1] || (len(bs) != 1 && len(bs) != 2) || bs[0] != as[0] {
		panic(fmt.Sprintf("autodiff: solve with a%v and b%v", as, bs))
	}
	be := deviceOf("Solve", a, b)
	out := tp.alloc(be, a.value.DType(), bs...)
	if err := be.Solve(out, a.value, b.value); err != nil {
		return nil, err
	}
	return tp.record(solveOp{}, out, a, b), nil
}

func (solveOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	a := in[0]
	gb, err := Solve(T(a), g)
	if err != nil {
		panic(fmt.Sprintf("autodiff: solve backward: %v", err))
	}
	var ga *Var
	if needs[0] {
		gbm, xm := gb, out
		if len(gb.Shape()) == 1 {
			gbm, xm = Reshape(gb, -1, 1), Reshape(out, -1, 1)
		}
		ga = Neg(MatMul(gbm, xm, false, true))
	}
	return []*Var{ga, gb}
}
