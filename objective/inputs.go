package objective

import (
	"fmt"
	"math"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

func energyOf(name string, m models.Model) (models.Energy, error) {
	e, ok := m.(models.Energy)
	if !ok {
		return nil, fmt.Errorf("objective %s needs an energy model (log p~), got %s", name, m.Spec().Kind)
	}
	return e, nil
}

func scoreOf(name string, m models.Model) (models.Score, error) {
	s, ok := m.(models.Score)
	if !ok {
		return nil, fmt.Errorf("objective %s needs a score network, got %s", name, m.Spec().Kind)
	}
	return s, nil
}

// checkX validates the data batch against the model's input shape.
func checkX(name string, m models.Model, b Batch) error {
	if b.X == nil {
		return fmt.Errorf("objective %s: no data x", name)
	}
	want := tensor.Shape(m.InputShape()).Numel()
	if b.X.Rank() < 1 || b.X.Dim(0) == 0 || b.X.Numel()/b.X.Dim(0) != want {
		return fmt.Errorf("objective %s: x has shape %v; the model takes [n %v] (%d values per sample)", name, b.X.Shape(), m.InputShape(), want)
	}
	if b.X.DType() != m.DType() {
		return fmt.Errorf("objective %s: x is %s but the model is %s", name, b.X.DType(), m.DType())
	}
	for _, t := range []struct {
		what string
		v    *tensor.Tensor
	}{{"directions v", b.V}, {"noise", b.Noise}} {
		if t.v != nil && (t.v.Numel() != b.X.Numel() || t.v.Dim(0) != b.X.Dim(0) || t.v.DType() != b.X.DType()) {
			return fmt.Errorf("objective %s: %s have shape %v %s; x has %v %s", name, t.what, t.v.Shape(), t.v.DType(), b.X.Shape(), b.X.DType())
		}
	}
	if b.Sigmas != nil && len(b.Sigmas) != b.X.Dim(0) {
		return fmt.Errorf("objective %s: %d sigmas for %d samples", name, len(b.Sigmas), b.X.Dim(0))
	}
	return nil
}

// dim returns the number of values per sample.
func dim(x *tensor.Tensor) int { return x.Numel() / x.Dim(0) }

// rowDot returns Σⱼ a[i,j] b[i,j] per sample: [n].
func rowDot(a, b *ad.Var) *ad.Var {
	n := a.Shape()[0]
	return ad.Sum(ad.Reshape(ad.Mul(a, b), n, -1), 1)
}

// rowSq returns ‖a[i]‖² per sample.
func rowSq(a *ad.Var) *ad.Var { return rowDot(a, a) }

// like returns a constant with t's values reshaped to x's shape.
func like(tp *ad.Tape, t *tensor.Tensor, x *tensor.Tensor) *ad.Var {
	return tp.Const(t.Reshape(x.Shape()...))
}

// directions returns v: the batch's, or drawn from proj (sphere radius eps).
func directions(tp *ad.Tape, b Batch, proj Projection, eps float64, rng *tensor.RNG) *ad.Var {
	if b.V != nil {
		return like(tp, b.V, b.X)
	}
	dt, shape := b.X.DType(), b.X.Shape()
	switch proj {
	case Rademacher:
		return tp.Random(dt, tensor.Rademacher(), rng, shape...)
	case Sphere:
		return sphere(tp, dt, shape, eps, rng)
	}
	return tp.Random(dt, tensor.Normal(0, 1), rng, shape...)
}

// sphere draws one v per sample uniformly on the sphere of radius eps over
// all its values: v = eps·u/‖u‖ with u ~ N(0, I).
func sphere(tp *ad.Tape, dt tensor.DType, shape tensor.Shape, eps float64, rng *tensor.RNG) *ad.Var {
	u := tp.Random(dt, tensor.Normal(0, 1), rng, shape...)
	n := shape[0]
	norm := ad.Sqrt(ad.SumKeep(ad.Reshape(ad.Square(u), n, -1), 1)) // [n,1]
	v := ad.Scale(ad.Div(ad.Reshape(u, n, -1), norm), eps)
	return ad.Detach(ad.Reshape(v, shape...))
}

// noise returns standard normal noise: the batch's, or drawn.
func noise(tp *ad.Tape, b Batch, rng *tensor.RNG) *ad.Var {
	if b.Noise != nil {
		return like(tp, b.Noise, b.X)
	}
	return tp.Random(b.X.DType(), tensor.Normal(0, 1), rng, b.X.Shape()...)
}

// projectionScale is C_v = E‖v‖² of the projection distribution.
func projectionScale(proj Projection, eps float64, d int) float64 {
	if proj == Sphere {
		return eps * eps
	}
	return float64(d)
}

// perSample returns a constant [n] holding the given per-sample values,
// released with the tape.
func perSample(tp *ad.Tape, dt tensor.DType, vals []float64) *ad.Var {
	t := tp.Backend().Empty(dt, len(vals))
	tensor.WriteAs(t, vals)
	return tp.Owned(t)
}

// expandRows reshapes per-sample values [n] to broadcast over x's shape.
func expandRows(v *ad.Var, rank int) *ad.Var {
	shape := make([]int, rank)
	for i := range shape {
		shape[i] = 1
	}
	shape[0] = v.Shape()[0]
	return ad.Reshape(v, shape...)
}

// linspace returns n values evenly spaced over [lo, hi].
func linspace(lo, hi float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		if n == 1 {
			out[i] = lo
			continue
		}
		out[i] = lo + (hi-lo)*float64(i)/float64(n-1)
	}
	return out
}

// geomspace returns n values from lo to hi with a constant ratio
// (np.geomspace); lo and hi must be positive.
func geomspace(lo, hi float64, n int) []float64 {
	out := linspace(math.Log(lo), math.Log(hi), n)
	for i, v := range out {
		out[i] = math.Exp(v)
	}
	return out
}

// levelsFor returns the batch's noise levels or draws them uniformly.
func levelsFor(b Batch, L int, rng *tensor.RNG) ([]int, error) {
	n := b.X.Dim(0)
	if b.Levels != nil {
		if len(b.Levels) != n {
			return nil, fmt.Errorf("%d levels for %d samples", len(b.Levels), n)
		}
		for _, l := range b.Levels {
			if l < 0 || l >= L {
				return nil, fmt.Errorf("level %d out of range [0, %d)", l, L)
			}
		}
		return b.Levels, nil
	}
	out := make([]int, n)
	for i := range out {
		out[i] = rng.IntN(L)
	}
	return out, nil
}

// sigmaLevels is implemented by score networks that know their σ schedule.
type sigmaLevels interface{ Sigmas() []float64 }

func sigmasOf(name string, s models.Score) ([]float64, error) {
	sl, ok := s.(sigmaLevels)
	if !ok || len(sl.Sigmas()) == 0 {
		return nil, fmt.Errorf("objective %s: score network %s has no noise schedule", name, s.Spec().Kind)
	}
	return sl.Sigmas(), nil
}

// mean returns the batch mean of per-sample values times scale.
func mean(per *ad.Var, scale float64) *ad.Var {
	return ad.Scale(ad.Mean(per), scale)
}

func errNeedsFlow(name string, m models.Model) error {
	return fmt.Errorf("objective %s needs a normalised flow (nice), got %s", name, m.Spec().Kind)
}
