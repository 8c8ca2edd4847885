package models

import (
	"fmt"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// DKEF trains in two halves per batch, as the reference does: α is fitted
// in closed form (the exact score-matching system, differentiably) on the
// first half, and the objective is taken on the second half with that α, so
// its gradient flows through the solve into every kernel parameter. The
// fitted α is kept in the model for evaluation.

var (
	_ BatchFitter     = (*DKEF)(nil)
	_ DataInitializer = (*DKEF)(nil)
)

// dkefFitted is a DKEF whose log density uses an α from this step's fit.
type dkefFitted struct {
	*DKEF
	alpha *ad.Var
}

func (d dkefFitted) LogDensity(x *ad.Var) *ad.Var { return d.DKEF.LogDensityAlpha(x, d.alpha) }

// FitBatch fits α on the first half of x and returns the model to
// evaluate the objective with and the half to evaluate it on.
func (m *DKEF) FitBatch(tp *ad.Tape, x *tensor.Tensor) (Model, *tensor.Tensor, error) {
	n := x.Dim(0)
	if n < 4 {
		return nil, nil, fmt.Errorf("dkef: a batch of %d is too small to split into a fitting half and a loss half", n)
	}
	xv := tp.Const(x)
	alpha, err := m.FitAlphaSM(ad.Slice(xv, 0, 0, n/2))
	if err != nil {
		return nil, nil, fmt.Errorf("dkef: fitting alpha: %w", err)
	}
	return dkefFitted{DKEF: m, alpha: alpha}, ad.Slice(xv, 0, n/2, n).Value(), nil
}

// KeepFit stores the α of fitted (from FitBatch).
func (m *DKEF) KeepFit(fitted Model) {
	if f, ok := fitted.(dkefFitted); ok {
		m.SetAlpha(f.alpha.Value())
	}
}

// InitFromData copies the first M training samples into the inducing
// points ("trainable inducing points from the data").
func (m *DKEF) InitFromData(n int, get func(i int, dst []float32) error) error {
	var pts *ad.Param
	for _, p := range m.Params() {
		if p.Name == "inducing_points" {
			pts = p
		}
	}
	if pts == nil {
		return fmt.Errorf("dkef: no inducing_points parameter")
	}
	M, per := pts.Value.Dim(0), pts.Value.Numel()/pts.Value.Dim(0)
	if n < M {
		return fmt.Errorf("dkef: %d inducing points but only %d training samples", M, n)
	}
	vals := make([]float64, 0, M*per)
	buf := make([]float32, per)
	for i := 0; i < M; i++ {
		if err := get(i, buf); err != nil {
			return err
		}
		for _, v := range buf {
			vals = append(vals, float64(v))
		}
	}
	t := pts.Value.Backend().Empty(pts.Value.DType(), pts.Value.Shape()...)
	tensor.WriteAs(t, vals)
	return m.SetInducingPoints(t)
}
