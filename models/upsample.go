package models

import (
	"fmt"
	"math"

	ad "github.com/fdsm-go/fdsm/autodiff"
	"github.com/fdsm-go/fdsm/tensor"
)

// UpsampleBilinear resizes x [n, C, H, W] to [n, C, outH, outW] by bilinear
// interpolation with align_corners=True (PyTorch's
// F.interpolate(x, (outH, outW), mode="bilinear", align_corners=True)): the
// corner pixels of input and output coincide, output row i samples input
// row i·(H-1)/(outH-1).
//
// Bilinear interpolation is separable and linear, so it is two MatMuls with
// constant interpolation matrices, out = A_h · x · A_wᵀ per (n, c) image;
// its derivatives of every order then come from MatMul's. A resize to the
// same size is the identity and returns x.
func UpsampleBilinear(x *ad.Var, outH, outW int) *ad.Var {
	s := x.Shape()
	if len(s) != 4 || outH < 1 || outW < 1 {
		panic(fmt.Sprintf("models: bilinear resize of %v to %dx%d", s, outH, outW))
	}
	n, c, h, w := s[0], s[1], s[2], s[3]
	if h == outH && w == outW {
		return x
	}
	tp, dt := x.Tape(), x.DType()
	be := x.Value().Backend() // x's device: a tape may span several
	interp := func(in, out int) *ad.Var {
		return tp.Const(Constant(be, dt, fmt.Sprintf("bilinear %d->%d", in, out), tensor.Shape{out, in},
			func() []float64 { return interpMatrix(in, out) }))
	}
	aw, ah := interp(w, outW), interp(h, outH)

	y := ad.MatMul(ad.Reshape(x, n*c*h, w), aw, false, true)     // rows: [n·C·H, outW]
	y = ad.MatMul(ah, ad.Reshape(y, n*c, h, outW), false, false) // columns: [n·C, outH, outW]
	return ad.Reshape(y, n, c, outH, outW)
}

// interpMatrix returns the row-major [out, in] matrix of 1-D linear
// interpolation with aligned corners: row i has weights 1-f and f at input
// positions ⌊p⌋ and ⌊p⌋+1, p = i·(in-1)/(out-1) (p = 0 when out = 1, as
// PyTorch does).
func interpMatrix(in, out int) []float64 {
	a := make([]float64, out*in)
	for i := 0; i < out; i++ {
		p := 0.0
		if out > 1 {
			p = float64(i) * float64(in-1) / float64(out-1)
		}
		i0 := min(int(math.Floor(p)), in-1)
		i1 := min(i0+1, in-1)
		f := p - float64(i0)
		a[i*in+i0] += 1 - f
		a[i*in+i1] += f
	}
	return a
}
