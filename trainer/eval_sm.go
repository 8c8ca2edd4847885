package trainer

import (
	"fmt"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/data"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// EvalSMOptions configure EvalSM. Zero values take the defaults noted.
type EvalSMOptions struct {
	Batches   int // default 15
	BatchSize int // default 100
	// ChunkRows bounds memory: each model call evaluates this many
	// (sample, coordinate) rows with their second-order graph; default 64.
	ChunkRows int
	Backend   tensor.Backend // default: the backend of the model's parameters
	// Progress, when set, is called after every chunk with the Hessian
	// diagonal entries done and the total (samples × dimensions).
	Progress func(done, total int)
}

// EvalSM returns the exact score-matching loss ½‖∇ₓlog p‖² + tr ∇ₓ² log p
// averaged over the first Batches·BatchSize samples of d (all of d when it
// is smaller), the trace over every coordinate. m is an Energy, or a Score
// network, whose score at its smallest noise level s(x, σ_L) stands for
// ∇ₓlog p (the loss is then ½‖s‖² + tr ∇ₓs). A diverged model gives a
// non-finite Mean, not an error.
//
// Memory does not grow with the number of samples or coordinates: the d
// diagonal entries of each sample's Hessian are computed in chunks of
// ChunkRows rows, row r holding a copy of sample i_r and giving
// ∂²log p/∂x_{j_r}² by one second backward pass of the one-hot-masked
// gradient; the tape is reset after every chunk. The work is d first- and
// second-order backward passes per sample, so the time grows with
// samples × d (the progress callback's total).
func EvalSM(m models.Model, d data.Dataset, o EvalSMOptions) (EvalResult, error) {
	score, err := scoreFunc(m)
	if err != nil {
		return EvalResult{}, err
	}
	o.Batches, o.BatchSize, o.ChunkRows = evalDefault(o.Batches, 15), evalDefault(o.BatchSize, 100), evalDefault(o.ChunkRows, 64)
	if o.Batches < 0 || o.BatchSize < 0 || o.ChunkRows < 0 {
		return EvalResult{}, fmt.Errorf("eval sm: batches, batch size and chunk rows must be positive (got %d, %d, %d)", o.Batches, o.BatchSize, o.ChunkRows)
	}
	n := min(o.Batches*o.BatchSize, d.Len())
	be := evalBackend(m, o.Backend)
	dim := tensor.Shape(m.InputShape()).Numel()
	var acc evalMoments
	for start := 0; start < n; start += o.BatchSize {
		idx := evalRange(start, min(start+o.BatchSize, n))
		x, err := evalRead(m, be, d, idx)
		if err != nil {
			return EvalResult{}, err
		}
		vals := x.ToFloat64s()
		be.Release(x)
		acc.addAll(smPerSample(m, score, be, vals, len(idx), o.ChunkRows, func(done int) {
			if o.Progress != nil {
				o.Progress(start*dim+done, n*dim)
			}
		}))
	}
	return acc.result(fmt.Sprintf("eval sm on %s", d.Name()))
}

// smPerSample returns ½‖g‖² + tr H for each of the n samples in vals
// (row-major [n, dim]) of m, whose score (from scoreFunc) is g, chunk
// (sample, coordinate) rows per model call.
// progress receives the rows done.
func smPerSample(m models.Model, score func(x *ad.Var) *ad.Var, be tensor.Backend, vals []float64, n, chunk int, progress func(done int)) []float64 {
	dim := len(vals) / max(n, 1)
	g2, tr := make([]float64, n), make([]float64, n)
	tp := ad.NewTape(be)
	defer tp.Reset()
	total := n * dim
	for lo := 0; lo < total; lo += chunk {
		hi := min(lo+chunk, total)
		diag, sq := smChunk(m, score, tp, vals, dim, lo, hi)
		for r, p := 0, lo; p < hi; r, p = r+1, p+1 {
			i := p / dim
			tr[i] += diag[r]
			if p%dim == 0 {
				g2[i] = sq[r]
			}
		}
		tp.Reset()
		progress(hi)
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = 0.5*g2[i] + tr[i]
	}
	return out
}

// smChunk evaluates rows lo..hi-1 of the (sample, coordinate) grid: row r
// is sample p/dim at coordinate p%dim for p = lo + r. It returns each row's
// Hessian diagonal entry and ‖g‖² of its sample, on tp (reset by the caller).
func smChunk(m models.Model, score func(x *ad.Var) *ad.Var, tp *ad.Tape, vals []float64, dim, lo, hi int) (diag, sq []float64) {
	be, rows := tp.Backend(), hi-lo
	xs, mask := make([]float64, rows*dim), make([]float64, rows*dim)
	for r := range rows {
		p := lo + r
		i, j := p/dim, p%dim
		copy(xs[r*dim:(r+1)*dim], vals[i*dim:(i+1)*dim])
		mask[r*dim+j] = 1
	}
	shape := append([]int{rows}, m.InputShape()...)
	x := tensor.FromFloat64s(be, m.DType(), shape, xs)
	mk := tensor.FromFloat64s(be, m.DType(), tensor.Shape{rows, dim}, mask)
	defer be.Release(x)
	defer be.Release(mk)
	xv, mv := tp.Leaf(x), tp.Const(mk)
	gf := ad.Reshape(score(xv), rows, dim)
	h := ad.Grad([]*ad.Var{ad.Sum(ad.Mul(gf, mv))}, []*ad.Var{xv}, ad.GradOptions{})[0]
	var d, s *ad.Var
	tp.NoGrad(func() {
		d = ad.Sum(ad.Mul(ad.Reshape(h, rows, dim), mv), 1)
		s = ad.Sum(ad.Square(gf), 1)
	})
	return d.Value().ToFloat64s(), s.Value().ToFloat64s()
}

// scoreFunc returns x ↦ ∇ₓlog p(x) on x's tape, differentiable once more:
// an Energy's gradient, or a Score network's output at its smallest level.
func scoreFunc(m models.Model) (func(x *ad.Var) *ad.Var, error) {
	switch mm := m.(type) {
	case models.Energy:
		return func(x *ad.Var) *ad.Var {
			return ad.Grad([]*ad.Var{ad.Sum(mm.LogDensity(x))}, []*ad.Var{x}, ad.GradOptions{CreateGraph: true})[0]
		}, nil
	case models.Score:
		return func(x *ad.Var) *ad.Var {
			levels := make([]int, x.Shape()[0])
			for i := range levels {
				levels[i] = mm.Levels() - 1
			}
			return mm.Score(x, models.OneHot(x.Tape(), m.DType(), levels, mm.Levels()))
		}, nil
	}
	return nil, fmt.Errorf("eval sm needs an energy model or a score network, got %s", m.Spec().Kind)
}
