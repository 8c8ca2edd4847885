package tensor

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// Tolerances. Every checked value is a sum of products, so errors are
// measured against mag, the sum of the absolute values of its terms: the
// rounding error of any summation order is at most about L·u·mag for L terms
// (u = 1.1e-16 in float64, 6e-8 in float32), and typically √L·u·mag.
//   - float64: 1e-10 relative to mag. Our sums have L < 1e5 terms, so even the
//     worst case L·u < 1e-11 sits well inside it, while one missing or wrong
//     term (about mag/L, i.e. > 1e-5 relative) fails it by orders of magnitude.
//   - float32: 1e-5·√L relative to mag, with L the reduction length of the
//     checked value; typical rounding is √L·6e-8, so this leaves ~100x room.
const convTol64 = 1e-10

func convTol32(l int) float64 { return 1e-5 * math.Sqrt(float64(l)) }

type convCase struct {
	n, c, o, h, w, kh, kw int
	p                     ConvParams
}

func (cs convCase) String() string {
	return fmt.Sprintf("N%d_C%d_O%d_%dx%d_k%dx%d_%+v", cs.n, cs.c, cs.o, cs.h, cs.w, cs.kh, cs.kw, cs.p)
}

func (cs convCase) outSize() (int, int) { return cs.p.OutSize(cs.h, cs.w, cs.kh, cs.kw) }

// hasOutput reports whether the geometry yields a non-empty output.
func (cs convCase) hasOutput() bool {
	p := cs.p.Normalized()
	return cs.h+2*p.PadH-p.DilationH*(cs.kh-1) > 0 && cs.w+2*p.PadW-p.DilationW*(cs.kw-1) > 0
}

// convMultiChunk is big enough that the batch splits into several chunks of
// several samples each (the layout shuffle and the beta = 1 accumulation of
// the weight gradient); TestConv2DAgainstReference asserts that it does.
var convMultiChunk = convCase{n: 9, c: 8, o: 3, h: 32, w: 32, kh: 3, kw: 3, p: Conv(1, 1, 1)}

// convCases crosses kernels, strides, paddings and dilations, cycling through
// non-square inputs with N = 1 and N > 1 and C ≠ O; short mode keeps a subset.
func convCases(short bool) []convCase {
	inputs := []convCase{{n: 1, c: 3, o: 4, h: 7, w: 9}, {n: 3, c: 2, o: 5, h: 6, w: 5}, {n: 2, c: 4, o: 3, h: 8, w: 11}}
	kernels := [][2]int{{1, 1}, {3, 3}, {2, 3}}
	var out []convCase
	i := 0
	for _, k := range kernels {
		for _, s := range []int{1, 2, 3} {
			for _, pad := range []int{0, 1, 2} {
				for _, d := range []int{1, 2} {
					cs := inputs[i%len(inputs)]
					i++
					cs.kh, cs.kw, cs.p = k[0], k[1], Conv(s, pad, d)
					if cs.hasOutput() && (!short || i%4 == 0) {
						out = append(out, cs)
					}
				}
			}
		}
	}
	out = append(out,
		convCase{n: 2, c: 3, o: 2, h: 9, w: 6, kh: 3, kw: 2, p: ConvParams{StrideH: 1, StrideW: 2, PadH: 2, PadW: 0, DilationH: 2, DilationW: 1}},
		convCase{n: 1, c: 1, o: 1, h: 4, w: 4, kh: 3, kw: 3}, // zero ConvParams: stride and dilation 1
		convCase{n: 2, c: 2, o: 3, h: 3, w: 3, kh: 3, kw: 3}, // 1x1 output
		convCase{n: 5, c: 1, o: 2, h: 5, w: 7, kh: 5, kw: 1, p: Conv(1, 2, 1)},
		convMultiChunk)
	return out
}

// convTerms is the naive 7-loop convolution: it calls visit with the flat
// indices (into y, x and w) of every product y[n,o,a,b] += x[n,c,ih,iw]·w[o,c,i,j].
func convTerms(cs convCase, visit func(yi, xi, wi int)) {
	p := cs.p.Normalized()
	oh, ow := cs.outSize()
	for n := 0; n < cs.n; n++ {
		for o := 0; o < cs.o; o++ {
			for a := 0; a < oh; a++ {
				for b := 0; b < ow; b++ {
					for c := 0; c < cs.c; c++ {
						for i := 0; i < cs.kh; i++ {
							for j := 0; j < cs.kw; j++ {
								ih := a*p.StrideH - p.PadH + i*p.DilationH
								iw := b*p.StrideW - p.PadW + j*p.DilationW
								if ih < 0 || ih >= cs.h || iw < 0 || iw >= cs.w {
									continue
								}
								visit(((n*cs.o+o)*oh+a)*ow+b, ((n*cs.c+c)*cs.h+ih)*cs.w+iw, ((o*cs.c+c)*cs.kh+i)*cs.kw+j)
							}
						}
					}
				}
			}
		}
	}
}

// convRef returns the reference y, dx, dw and the mag of each entry.
func convRef(cs convCase, x, w, gy []float64) (y, ymag, dx, dxmag, dw, dwmag []float64) {
	y, ymag = make([]float64, len(gy)), make([]float64, len(gy))
	dx, dxmag = make([]float64, len(x)), make([]float64, len(x))
	dw, dwmag = make([]float64, len(w)), make([]float64, len(w))
	convTerms(cs, func(yi, xi, wi int) {
		y[yi] += x[xi] * w[wi]
		ymag[yi] += math.Abs(x[xi] * w[wi])
		dx[xi] += gy[yi] * w[wi]
		dxmag[xi] += math.Abs(gy[yi] * w[wi])
		dw[wi] += gy[yi] * x[xi]
		dwmag[wi] += math.Abs(gy[yi] * x[xi])
	})
	return
}

// randData returns n uniform values in [-1, 1) already rounded to dt, so the
// float64 reference sees exactly the operands the backend does.
func convRandData(rng *RNG, dt DType, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = 2*rng.Float64() - 1
		if dt == Float32 {
			v[i] = float64(float32(v[i]))
		}
	}
	return v
}

// nanTensor returns a destination filled with NaN, so a kernel that fails to
// overwrite an element is caught.
func convNaN(c *CPU, dt DType, shape ...int) *Tensor {
	t := c.Empty(dt, shape...)
	c.Fill(t, math.NaN())
	return t
}

func convCheckClose(t *testing.T, what string, got, ref, mag []float64, tol float64) {
	t.Helper()
	for i := range ref {
		if !(math.Abs(got[i]-ref[i]) <= tol*mag[i]) {
			t.Fatalf("%s[%d] = %g, want %g (mag %g, tol %g)", what, i, got[i], ref[i], mag[i], tol)
		}
	}
}

func convDot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func TestConv2DAgainstReference(t *testing.T) {
	c := NewCPU()
	rng := NewRNG(1)
	cs := convMultiChunk
	g := convCheck("test", [3]string{"x", "w", "y"}, Shape{cs.n, cs.c, cs.h, cs.w}, Shape{cs.o, cs.c, cs.kh, cs.kw},
		Shape{cs.n, cs.o, cs.h, cs.w}, cs.p)
	if nb := g.chunk(); nb < 2 || nb >= cs.n {
		t.Fatalf("convMultiChunk runs in chunks of %d of %d samples; adjust it to the budget", nb, cs.n)
	}
	for _, dt := range []DType{Float64, Float32} {
		for _, cs := range convCases(testing.Short()) {
			t.Run(dt.String()+"/"+cs.String(), func(t *testing.T) {
				oh, ow := cs.outSize()
				xs, ws, ys := Shape{cs.n, cs.c, cs.h, cs.w}, Shape{cs.o, cs.c, cs.kh, cs.kw}, Shape{cs.n, cs.o, oh, ow}
				xv, wv, gv := convRandData(rng, dt, xs.Numel()), convRandData(rng, dt, ws.Numel()), convRandData(rng, dt, ys.Numel())
				x, w, gy := FromFloat64s(c, dt, xs, xv), FromFloat64s(c, dt, ws, wv), FromFloat64s(c, dt, ys, gv)
				y, dx, dw := convNaN(c, dt, ys...), convNaN(c, dt, xs...), convNaN(c, dt, ws...)
				c.Conv2D(y, x, w, cs.p)
				c.Conv2DInputGrad(dx, gy, w, cs.p)
				c.Conv2DWeightGrad(dw, x, gy, cs.p)

				ry, ymag, rdx, dxmag, rdw, dwmag := convRef(cs, xv, wv, gv)
				tolY, tolDX, tolDW := convTol64, convTol64, convTol64
				if dt == Float32 {
					tolY, tolDX, tolDW = convTol32(cs.c*cs.kh*cs.kw), convTol32(cs.o*cs.kh*cs.kw), convTol32(cs.n*oh*ow)
				}
				convCheckClose(t, "y", y.ToFloat64s(), ry, ymag, tolY)
				convCheckClose(t, "dx", dx.ToFloat64s(), rdx, dxmag, tolDX)
				convCheckClose(t, "dw", dw.ToFloat64s(), rdw, dwmag, tolDW)
				for _, tt := range []*Tensor{x, w, gy, y, dx, dw} {
					c.Release(tt)
				}
			})
		}
	}
}

// TestConv2DAdjoint checks <gy, conv(x,w)> = <InputGrad(gy,w), x> =
// <WeightGrad(x,gy), w> in float64. All three are the same sum of triple
// products gy·x·w in different orders, so they agree to within rounding:
// 1e-10 relative to the sum of |gy·x·w| (see the tolerance note above).
func TestConv2DAdjoint(t *testing.T) {
	c := NewCPU()
	rng := NewRNG(2)
	for _, cs := range convCases(testing.Short()) {
		oh, ow := cs.outSize()
		xs, ws, ys := Shape{cs.n, cs.c, cs.h, cs.w}, Shape{cs.o, cs.c, cs.kh, cs.kw}, Shape{cs.n, cs.o, oh, ow}
		xv, wv, gv := convRandData(rng, Float64, xs.Numel()), convRandData(rng, Float64, ws.Numel()), convRandData(rng, Float64, ys.Numel())
		x, w, gy := FromFloat64s(c, Float64, xs, xv), FromFloat64s(c, Float64, ws, wv), FromFloat64s(c, Float64, ys, gv)
		y, dx, dw := c.Empty(Float64, ys...), c.Empty(Float64, xs...), c.Empty(Float64, ws...)
		c.Conv2D(y, x, w, cs.p)
		c.Conv2DInputGrad(dx, gy, w, cs.p)
		c.Conv2DWeightGrad(dw, x, gy, cs.p)
		mag := 0.0
		convTerms(cs, func(yi, xi, wi int) { mag += math.Abs(gv[yi] * xv[xi] * wv[wi]) })
		a, b, d := convDot(gv, y.f64), convDot(dx.f64, xv), convDot(dw.f64, wv)
		if math.Abs(a-b) > convTol64*mag || math.Abs(a-d) > convTol64*mag {
			t.Errorf("%v: <gy,y> = %.17g, <dx,x> = %.17g, <dw,w> = %.17g (mag %g)", cs, a, b, d, mag)
		}
	}
}

// TestConv2DScratchReuse checks that repeated passes of one geometry take
// their scratch from the pool instead of allocating it, and give it back.
func TestConv2DScratchReuse(t *testing.T) {
	c := NewCPU()
	for _, cs := range []convCase{{n: 4, c: 3, o: 5, h: 8, w: 8, kh: 3, kw: 3, p: Conv(1, 1, 1)}, {n: 1, c: 2, o: 2, h: 5, w: 5, kh: 2, kw: 2}} {
		oh, ow := cs.outSize()
		x, w := c.Zeros(Float32, cs.n, cs.c, cs.h, cs.w), c.Zeros(Float32, cs.o, cs.c, cs.kh, cs.kw)
		y, dx, dw := c.Zeros(Float32, cs.n, cs.o, oh, ow), c.Zeros(Float32, x.shape...), c.Zeros(Float32, w.shape...)
		pass := func() {
			c.Conv2D(y, x, w, cs.p)
			c.Conv2DInputGrad(dx, y, w, cs.p)
			c.Conv2DWeightGrad(dw, x, y, cs.p)
		}
		pass()
		before := c.MemStats()
		for range 3 {
			pass()
		}
		after := c.MemStats()
		if after.Allocs != before.Allocs || after.InUseBytes != before.InUseBytes {
			t.Errorf("%v: steady state allocs %d -> %d, in use %d -> %d", cs, before.Allocs, after.Allocs, before.InUseBytes, after.InUseBytes)
		}
	}
}

type poolCase struct {
	n, c, h, w int
	p          PoolParams
}

func poolCases() []poolCase {
	var out []poolCase
	for k := 1; k <= 4; k++ {
		for _, s := range []int{0, 1, 2, 3} {
			for pad := 0; 2*pad <= k; pad++ {
				cs := poolCase{n: 1 + k%2, c: 2 + s%2, h: 7, w: 10, p: PoolParams{Kernel: k, Stride: s, Pad: pad}}
				out = append(out, cs)
			}
		}
	}
	return out
}

// poolTerms calls visit for each (y, x) index pair of avg pooling; padded
// positions are skipped (they add zero) but still count in the k² divisor.
func poolTerms(cs poolCase, visit func(yi, xi int)) {
	p := cs.p.Normalized()
	oh, ow := p.OutSize(cs.h, cs.w)
	for pl := 0; pl < cs.n*cs.c; pl++ {
		for a := 0; a < oh; a++ {
			for b := 0; b < ow; b++ {
				for i := 0; i < p.Kernel; i++ {
					for j := 0; j < p.Kernel; j++ {
						ih, iw := a*p.Stride-p.Pad+i, b*p.Stride-p.Pad+j
						if ih >= 0 && ih < cs.h && iw >= 0 && iw < cs.w {
							visit((pl*oh+a)*ow+b, (pl*cs.h+ih)*cs.w+iw)
						}
					}
				}
			}
		}
	}
}

func TestAvgPool2D(t *testing.T) {
	c := NewCPU()
	rng := NewRNG(3)
	for _, dt := range []DType{Float64, Float32} {
		for _, cs := range poolCases() {
			oh, ow := cs.p.OutSize(cs.h, cs.w)
			xs, ys := Shape{cs.n, cs.c, cs.h, cs.w}, Shape{cs.n, cs.c, oh, ow}
			xv, gv := convRandData(rng, dt, xs.Numel()), convRandData(rng, dt, ys.Numel())
			x, gy := FromFloat64s(c, dt, xs, xv), FromFloat64s(c, dt, ys, gv)
			y, dx := convNaN(c, dt, ys...), convNaN(c, dt, xs...)
			c.AvgPool2D(y, x, cs.p)
			c.AvgPool2DAdjoint(dx, gy, cs.p)

			inv := 1 / float64(cs.p.Kernel*cs.p.Kernel)
			ry, ymag := make([]float64, len(gv)), make([]float64, len(gv))
			rdx, dxmag := make([]float64, len(xv)), make([]float64, len(xv))
			poolTerms(cs, func(yi, xi int) {
				ry[yi] += xv[xi] * inv
				ymag[yi] += math.Abs(xv[xi] * inv)
				rdx[xi] += gv[yi] * inv
				dxmag[xi] += math.Abs(gv[yi] * inv)
			})
			tol := convTol64
			if dt == Float32 {
				tol = convTol32(cs.p.Kernel * cs.p.Kernel)
			}
			name := fmt.Sprintf("%s %+v %v", dt, cs.p, xs)
			convCheckClose(t, name+" y", y.ToFloat64s(), ry, ymag, tol)
			convCheckClose(t, name+" dx", dx.ToFloat64s(), rdx, dxmag, tol)
			if dt == Float64 { // adjoint identity <gy, pool(x)> = <adj(gy), x>
				mag := 0.0
				poolTerms(cs, func(yi, xi int) { mag += math.Abs(gv[yi] * xv[xi] * inv) })
				if a, b := convDot(gv, y.f64), convDot(dx.f64, xv); math.Abs(a-b) > convTol64*mag {
					t.Errorf("%s: <gy,pool(x)> = %.17g, <adj(gy),x> = %.17g", name, a, b)
				}
			}
		}
	}
}

func TestConvPoolBadShapesPanic(t *testing.T) {
	c := NewCPU()
	f32 := func(s ...int) *Tensor { return c.Zeros(Float32, s...) }
	f64 := func(s ...int) *Tensor { return c.Zeros(Float64, s...) }
	p := Conv(1, 1, 1)
	cases := []struct {
		name, want string
		call       func()
	}{
		{"channels", "conv2d shapes x[2 3 5 5] w[4 2 3 3] y[2 4 5 5]", func() { c.Conv2D(f32(2, 4, 5, 5), f32(2, 3, 5, 5), f32(4, 2, 3, 3), p) }},
		{"y shape", "want y[2 4 5 5]", func() { c.Conv2D(f32(2, 4, 4, 4), f32(2, 3, 5, 5), f32(4, 3, 3, 3), p) }},
		{"rank", "conv2d shapes x[3 5 5]", func() { c.Conv2D(f32(2, 4, 5, 5), f32(3, 5, 5), f32(4, 3, 3, 3), p) }},
		{"dtype", "conv2d mixes", func() { c.Conv2D(f32(2, 4, 5, 5), f64(2, 3, 5, 5), f32(4, 3, 3, 3), p) }},
		{"stride", "strides and dilations must be positive", func() { c.Conv2D(f32(1, 1, 3, 3), f32(1, 1, 3, 3), f32(1, 1, 1, 1), Conv(-1, 0, 1)) }},
		{"no output", "has no output", func() { c.Conv2D(f32(1, 1, 1, 1), f32(1, 1, 2, 2), f32(1, 1, 3, 3), Conv(1, 0, 1)) }},
		{"dx shape", "conv2d input grad shapes dx[2 3 5 5] w[4 3 3 3] gy[2 4 3 3]", func() { c.Conv2DInputGrad(f32(2, 3, 5, 5), f32(2, 4, 3, 3), f32(4, 3, 3, 3), p) }},
		{"dw shape", "conv2d weight grad shapes x[2 3 5 5] dw[4 2 3 3]", func() { c.Conv2DWeightGrad(f32(4, 2, 3, 3), f32(2, 3, 5, 5), f32(2, 4, 5, 5), p) }},
		{"pool y", "avgpool2d shapes x[1 2 6 6] y[1 2 2 2] do not match (want y[1 2 3 3]", func() { c.AvgPool2D(f32(1, 2, 2, 2), f32(1, 2, 6, 6), PoolParams{Kernel: 2}) }},
		{"pool adjoint", "avgpool2d adjoint shapes dx[1 2 6 6] gy[2 2 3 3]", func() { c.AvgPool2DAdjoint(f64(1, 2, 6, 6), f64(2, 2, 3, 3), PoolParams{Kernel: 2}) }},
		{"pool pad", "invalid pooling", func() { c.AvgPool2D(f32(1, 1, 4, 4), f32(1, 1, 4, 4), PoolParams{Kernel: 2, Pad: 2}) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				msg, _ := r.(string)
				if r == nil || !strings.Contains(msg, tc.want) {
					t.Errorf("panic %v, want a message containing %q", r, tc.want)
				}
			}()
			tc.call()
		})
	}
}

// Benchmarks: 3x3 "same" convolutions in float32: 64 -> 64 channels on 32x32
// images, batch 32 (a CIFAR-sized ResNet layer), and the small maps of
// MNIST-sized networks (14x14 with 32 channels, 7x7 with 64, batch 128),
// where the im2col and col2im passes around the GEMM weigh most.
var benchConvCases = []struct {
	name      string
	n, ch, hw int
}{
	{"32x32c64n32", 32, 64, 32},
	{"14x14c32n128", 128, 32, 14},
	{"7x7c64n128", 128, 64, 7},
}

func benchConv(b *testing.B, pass func(c *CPU, x, w, y *Tensor, p ConvParams)) {
	for _, bc := range benchConvCases {
		b.Run(bc.name, func(b *testing.B) {
			c := NewCPU()
			rng := NewRNG(4)
			n, ch, hw := bc.n, bc.ch, bc.hw
			x, w, y := c.Empty(Float32, n, ch, hw, hw), c.Empty(Float32, ch, ch, 3, 3), c.Empty(Float32, n, ch, hw, hw)
			for _, t := range []*Tensor{x, w, y} {
				c.Random(t, Normal(0, 1), rng)
			}
			p := Conv(1, 1, 1)
			pass(c, x, w, y, p) // warm the scratch pool and BLAS threads
			b.ResetTimer()
			for range b.N {
				pass(c, x, w, y, p)
			}
			flops := 2.0 * float64(n*ch*ch*9*hw*hw) * float64(b.N)
			b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

func BenchmarkConv2DForward(b *testing.B) {
	benchConv(b, func(c *CPU, x, w, y *Tensor, p ConvParams) { c.Conv2D(y, x, w, p) })
}

func BenchmarkConv2DInputGrad(b *testing.B) {
	benchConv(b, func(c *CPU, x, w, y *Tensor, p ConvParams) { c.Conv2DInputGrad(x, y, w, p) })
}

func BenchmarkConv2DWeightGrad(b *testing.B) {
	benchConv(b, func(c *CPU, x, w, y *Tensor, p ConvParams) { c.Conv2DWeightGrad(w, x, y, p) })
}
