package objective

import (
	"fmt"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/models"
	"github.com/fdsm-go/fdsm/tensor"
)

// noiseLevels returns the noise levels of a score network's batch as the
// one-hot y [n, L] the network takes, and σ_y [n]. Given levels
// (Batch.Levels) are copied in; otherwise they are drawn on the device, so
// a training step copies nothing but its batch: with u ~ U[0, 1) and
// k = L·u, level l is the one with l <= k < l+1, i.e.
// y_l = [l+1 > k] - [l > k], and σ_y = y·σ.
func noiseLevels(tp *ad.Tape, name string, sc models.Score, b Batch, rng *tensor.RNG) (y, sigma *ad.Var, err error) {
	sigmas, err := sigmasOf(name, sc)
	if err != nil {
		return nil, nil, err
	}
	n, L, dt := b.X.Dim(0), len(sigmas), b.X.DType()
	if b.Levels != nil {
		levels, err := levelsFor(b, L, rng)
		if err != nil {
			return nil, nil, err
		}
		y = models.OneHot(tp, dt, levels, L)
	} else {
		k := ad.Scale(tp.Random(dt, tensor.Uniform(0, 1), rng, n, 1), float64(L))
		grid := func(from float64) *ad.Var {
			return tp.Const(models.Constant(tp.Backend(), dt, fmt.Sprintf("level grid %g+%d", from, L), tensor.Shape{1, L},
				func() []float64 {
					g := make([]float64, L)
					for l := range g {
						g[l] = from + float64(l)
					}
					return g
				}))
		}
		lo, hi := grid(0), grid(1)
		y = ad.Sub(ad.Greater(hi, k), ad.Greater(lo, k))
	}
	col := tp.Const(models.Constant(tp.Backend(), dt, fmt.Sprint("sigmas ", sigmas), tensor.Shape{L, 1},
		func() []float64 { return sigmas }))
	return y, ad.Reshape(ad.MatMul(y, col, false, false), n), nil
}
