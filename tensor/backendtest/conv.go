package backendtest

import (
	"fmt"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// convCases cover stride, padding and dilation, square and not, odd sizes,
// batches, a kernel as large as the input, and "same" padding on inputs
// smaller than the kernel.
var convCases = []struct {
	g     convGeom
	large bool // skipped in -short mode
}{
	{g: convGeom{n: 1, c: 1, o: 1, h: 4, w: 4, kh: 3, kw: 3}}, // zero ConvParams: stride and dilation 1
	{g: convGeom{n: 2, c: 3, o: 4, h: 5, w: 6, kh: 1, kw: 1, p: tensor.Conv(1, 0, 1)}},
	{g: convGeom{n: 2, c: 3, o: 2, h: 7, w: 9, kh: 3, kw: 3, p: tensor.Conv(1, 1, 1)}},
	{g: convGeom{n: 3, c: 2, o: 5, h: 8, w: 7, kh: 3, kw: 3, p: tensor.Conv(2, 1, 1)}},
	{g: convGeom{n: 1, c: 4, o: 3, h: 11, w: 10, kh: 3, kw: 3, p: tensor.Conv(1, 2, 2)}},
	{g: convGeom{n: 2, c: 2, o: 3, h: 9, w: 8, kh: 2, kw: 3, p: tensor.Conv(3, 2, 1)}},
	{g: convGeom{n: 2, c: 3, o: 2, h: 9, w: 6, kh: 3, kw: 2, p: tensor.ConvParams{StrideH: 1, StrideW: 2, PadH: 2, PadW: 0, DilationH: 2, DilationW: 1}}},
	{g: convGeom{n: 1, c: 2, o: 2, h: 10, w: 13, kh: 4, kw: 2, p: tensor.ConvParams{StrideH: 3, StrideW: 1, PadH: 0, PadW: 1, DilationH: 1, DilationW: 3}}},
	{g: convGeom{n: 2, c: 2, o: 3, h: 3, w: 3, kh: 3, kw: 3}}, // kernel covers the input: 1x1 output
	{g: convGeom{n: 5, c: 1, o: 2, h: 5, w: 7, kh: 5, kw: 1, p: tensor.Conv(1, 2, 1)}},
	{g: convGeom{n: 1, c: 1, o: 1, h: 1, w: 1, kh: 1, kw: 1}},
	{g: convGeom{n: 2, c: 2, o: 2, h: 3, w: 3, kh: 3, kw: 3, p: tensor.Conv(2, 2, 2)}},
	// "Same" padding with kernels larger than the input (small feature maps
	// deep in a network): taps fall entirely into the padding.
	{g: convGeom{n: 2, c: 3, o: 2, h: 1, w: 1, kh: 5, kw: 5, p: tensor.Conv(1, 2, 1)}},
	{g: convGeom{n: 1, c: 2, o: 2, h: 6, w: 1, kh: 3, kw: 5, p: tensor.ConvParams{PadH: 1, PadW: 2}}},
	{g: convGeom{n: 1, c: 1, o: 1, h: 2, w: 2, kh: 7, kw: 7, p: tensor.Conv(1, 3, 1)}},
	// Many samples of a large geometry, so that implementations that batch
	// samples into bounded scratch buffers (the CPU's im2col chunks) run
	// several uneven chunks.
	{g: convGeom{n: 29, c: 16, o: 2, h: 32, w: 32, kh: 3, kw: 3, p: tensor.Conv(1, 1, 1)}, large: true},
}

// Conv2D, Conv2DInputGrad and Conv2DWeightGrad against the 7-loop reference
// and its two adjoints, with sumTol for the reduction length of each output:
// C·KH·KW for y, O·KH·KW for dx, N·OH·OW for dw. Destinations start as NaN,
// so the gradients must overwrite, not accumulate.
func testConv2D(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rng := newRand(10)
	for _, c := range convCases {
		if c.large && testing.Short() {
			continue
		}
		g := c.g
		t.Run(g.String(), func(t *testing.T) {
			xs, ws, ys := g.xShape(), g.wShape(), g.yShape()
			oh, ow := g.out()
			x, xv := randTensor(t, b, dt, rng, xs...)
			w, wv := randTensor(t, b, dt, rng, ws...)
			gy, gyv := randTensor(t, b, dt, rng, ys...)

			y := nanTensor(t, b, dt, ys...)
			what := fmt.Sprintf("Conv2D(y%v, x%v, w%v, %+v)", ys, xs, ws, g.p)
			if call(t, what, func() { b.Conv2D(y, x, w, g.p) }) {
				want, mag := refConv2D(g, xv, wv)
				checkSum(t, what, dt, ys, y.ToFloat64s(), want, mag, g.c*g.kh*g.kw)
			}

			dx := nanTensor(t, b, dt, xs...)
			what = fmt.Sprintf("Conv2DInputGrad(dx%v, gy%v, w%v, %+v)", xs, ys, ws, g.p)
			if call(t, what, func() { b.Conv2DInputGrad(dx, gy, w, g.p) }) {
				want, mag := refConv2DInputGrad(g, gyv, wv)
				checkSum(t, what, dt, xs, dx.ToFloat64s(), want, mag, g.o*g.kh*g.kw)
			}

			dw := nanTensor(t, b, dt, ws...)
			what = fmt.Sprintf("Conv2DWeightGrad(dw%v, x%v, gy%v, %+v)", ws, xs, ys, g.p)
			if call(t, what, func() { b.Conv2DWeightGrad(dw, x, gy, g.p) }) {
				want, mag := refConv2DWeightGrad(g, xv, gyv)
				checkSum(t, what, dt, ws, dw.ToFloat64s(), want, mag, g.n*oh*ow)
			}

			checkExact(t, "conv: x afterwards", xs, x.ToFloat64s(), xv)
			checkExact(t, "conv: w afterwards", ws, w.ToFloat64s(), wv)
			checkExact(t, "conv: gy afterwards", ys, gy.ToFloat64s(), gyv)
		})
	}
}

// poolCases cover non-overlapping, overlapping and padded windows (pad up to
// half the kernel), odd sizes and stride 0 (= kernel).
var poolCases = []poolGeom{
	{n: 2, c: 3, h: 4, w: 6, p: tensor.PoolParams{Kernel: 2}},
	{n: 1, c: 2, h: 7, w: 5, p: tensor.PoolParams{Kernel: 2, Stride: 2}},
	{n: 2, c: 2, h: 5, w: 5, p: tensor.PoolParams{Kernel: 3, Stride: 1, Pad: 1}},
	{n: 1, c: 3, h: 8, w: 7, p: tensor.PoolParams{Kernel: 3, Stride: 2, Pad: 1}},
	{n: 2, c: 1, h: 5, w: 6, p: tensor.PoolParams{Kernel: 2, Stride: 1, Pad: 1}},
	{n: 1, c: 2, h: 9, w: 10, p: tensor.PoolParams{Kernel: 4, Stride: 3, Pad: 2}},
	{n: 1, c: 1, h: 3, w: 3, p: tensor.PoolParams{Kernel: 3}},
	{n: 1, c: 1, h: 1, w: 1, p: tensor.PoolParams{Kernel: 1}},
}

// AvgPool2D and AvgPool2DAdjoint against the window-sum reference (padded
// positions count as zeros, the divisor is always K²), with sumTol for K²
// terms (the division by K² adds one rounding, covered by the +2).
func testAvgPool2D(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rng := newRand(11)
	for _, g := range poolCases {
		t.Run(g.String(), func(t *testing.T) {
			xs, ys := g.xShape(), g.yShape()
			k := g.p.Kernel
			x, xv := randTensor(t, b, dt, rng, xs...)
			gy, gyv := randTensor(t, b, dt, rng, ys...)

			y := nanTensor(t, b, dt, ys...)
			what := fmt.Sprintf("AvgPool2D(y%v, x%v, %+v)", ys, xs, g.p)
			if call(t, what, func() { b.AvgPool2D(y, x, g.p) }) {
				want, mag := refAvgPool2D(g, xv)
				checkSum(t, what, dt, ys, y.ToFloat64s(), want, mag, k*k)
			}

			dx := nanTensor(t, b, dt, xs...)
			what = fmt.Sprintf("AvgPool2DAdjoint(dx%v, gy%v, %+v)", xs, ys, g.p)
			if call(t, what, func() { b.AvgPool2DAdjoint(dx, gy, g.p) }) {
				want, mag := refAvgPool2DAdjoint(g, gyv)
				checkSum(t, what, dt, xs, dx.ToFloat64s(), want, mag, k*k)
			}
			checkExact(t, "pool: x afterwards", xs, x.ToFloat64s(), xv)
			checkExact(t, "pool: gy afterwards", ys, gy.ToFloat64s(), gyv)
		})
	}
}
