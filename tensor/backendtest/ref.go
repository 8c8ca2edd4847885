package backendtest

// Naive float64 reference implementations. They favour being obviously right
// over speed: plain loops over multi-indices, one element at a time.

import (
	"fmt"
	"math"

	"github.com/fdsm-go/fdsm/tensor"
)

// unravel writes the row-major multi-index of flat index k in shape into idx.
func unravel(k int, shape tensor.Shape, idx []int) {
	for a := len(shape) - 1; a >= 0; a-- {
		idx[a] = k % shape[a]
		k /= shape[a]
	}
}

// ravel returns the flat row-major index of idx in shape.
func ravel(idx []int, shape tensor.Shape) int {
	k := 0
	for a, i := range idx {
		k = k*shape[a] + i
	}
	return k
}

// broadcastIndex returns the flat index in a tensor of shape from of the
// element that broadcasts to multi-index idx of a larger shape (from is
// left-padded with ones; axes of extent 1 are read at index 0).
func broadcastIndex(idx []int, from tensor.Shape) int {
	off := len(idx) - len(from)
	k := 0
	for a, d := range from {
		i := idx[off+a]
		if d == 1 {
			i = 0
		}
		k = k*d + i
	}
	return k
}

// ---- Gemm ----

// matAt returns op(x)[i][j] of batch entry e, for x of the given rank-2 or
// rank-3 shape (a rank-2 x is shared by every entry).
func matAt(x []float64, shape tensor.Shape, e, i, j int, trans bool) float64 {
	rows, cols := shape[len(shape)-2], shape[len(shape)-1]
	if trans {
		i, j = j, i
	}
	base := 0
	if len(shape) == 3 {
		base = e * rows * cols
	}
	return x[base+i*cols+j]
}

// refGemm returns alpha·op(a)·op(b) + beta·c for c of shape cs (rank 2 or 3)
// and, per element, the sum of absolute values of its terms. beta == 0
// ignores c entirely (so NaNs in c do not propagate), as BLAS does.
func refGemm(tA, tB bool, alpha float64, a []float64, as tensor.Shape, b []float64, bs tensor.Shape,
	beta float64, c []float64, cs tensor.Shape) (out, mag []float64) {
	batch := 1
	if len(cs) == 3 {
		batch = cs[0]
	}
	m, n := cs[len(cs)-2], cs[len(cs)-1]
	k := as[len(as)-1]
	if tA {
		k = as[len(as)-2]
	}
	out, mag = make([]float64, len(c)), make([]float64, len(c))
	for e := 0; e < batch; e++ {
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				s, sm := 0.0, 0.0
				for l := 0; l < k; l++ {
					p := matAt(a, as, e, i, l, tA) * matAt(b, bs, e, l, j, tB)
					s += p
					sm += math.Abs(p)
				}
				o := (e*m+i)*n + j
				out[o] = alpha * s
				mag[o] = math.Abs(alpha) * sm
				if beta != 0 {
					out[o] += beta * c[o]
					mag[o] += math.Abs(beta * c[o])
				}
			}
		}
	}
	return out, mag
}

// ---- elementwise ----

// refUnary is the float64 reference of each UnaryOp, written from its
// definition in backend.go.
func refUnary(op tensor.UnaryOp, x float64) float64 {
	switch op {
	case tensor.OpNeg:
		return -x
	case tensor.OpExp:
		return math.Exp(x)
	case tensor.OpLog:
		return math.Log(x)
	case tensor.OpSqrt:
		return math.Sqrt(x)
	case tensor.OpSquare:
		return x * x
	case tensor.OpReciprocal:
		return 1 / x
	case tensor.OpTanh:
		return math.Tanh(x)
	case tensor.OpSigmoid:
		return 1 / (1 + math.Exp(-x))
	case tensor.OpSoftplus:
		// ln(1+e^x); for x > 30, e^x would overflow for large x, and
		// ln(1+e^x) = x + ln(1+e^-x) exactly.
		if x > 30 {
			return x + math.Log1p(math.Exp(-x))
		}
		return math.Log1p(math.Exp(x))
	case tensor.OpELU:
		if x > 0 {
			return x
		}
		return math.Expm1(x)
	case tensor.OpSin:
		return math.Sin(x)
	case tensor.OpCos:
		return math.Cos(x)
	case tensor.OpAbs:
		return math.Abs(x)
	case tensor.OpSign:
		switch {
		case x > 0:
			return 1
		case x < 0:
			return -1
		}
		return 0
	case tensor.OpStep:
		if x > 0 {
			return 1
		}
		return 0
	case tensor.OpLog1p:
		return math.Log1p(x)
	case tensor.OpExpm1:
		return math.Expm1(x)
	}
	panic(fmt.Sprintf("backendtest: no reference for unary op %d (%v)", op, op))
}

// refBinary is the float64 reference of each BinaryOp.
func refBinary(op tensor.BinaryOp, a, b float64) float64 {
	switch op {
	case tensor.OpAdd:
		return a + b
	case tensor.OpSub:
		return a - b
	case tensor.OpMul:
		return a * b
	case tensor.OpDiv:
		return a / b
	case tensor.OpMax:
		return math.Max(a, b)
	case tensor.OpMin:
		return math.Min(a, b)
	case tensor.OpPow:
		return math.Pow(a, b)
	case tensor.OpGreater:
		if a > b {
			return 1
		}
		return 0
	case tensor.OpEqual:
		if a == b {
			return 1
		}
		return 0
	}
	panic(fmt.Sprintf("backendtest: no reference for binary op %d (%v)", op, op))
}

// refBroadcast applies op to a and b broadcast to shape ds.
func refBroadcast(op tensor.BinaryOp, a []float64, as tensor.Shape, b []float64, bs, ds tensor.Shape) []float64 {
	out := make([]float64, ds.Numel())
	idx := make([]int, len(ds))
	for k := range out {
		unravel(k, ds, idx)
		out[k] = refBinary(op, a[broadcastIndex(idx, as)], b[broadcastIndex(idx, bs)])
	}
	return out
}

// refReduce reduces x of shape xs to shape ds (which broadcasts to xs). It
// returns the result, the sum of |x| per output element and the number of x
// elements each output combines. Empty reductions give the identity: 0, -Inf
// or +Inf.
func refReduce(op tensor.ReduceOp, x []float64, xs, ds tensor.Shape) (out, mag []float64, terms int) {
	out, mag = make([]float64, ds.Numel()), make([]float64, ds.Numel())
	for i := range out {
		switch op {
		case tensor.ReduceSum:
			out[i] = 0
		case tensor.ReduceMax:
			out[i] = math.Inf(-1)
		case tensor.ReduceMin:
			out[i] = math.Inf(1)
		default:
			panic(fmt.Sprintf("backendtest: no reference for reduce op %d", op))
		}
	}
	idx := make([]int, len(xs))
	for k, v := range x {
		unravel(k, xs, idx)
		o := broadcastIndex(idx, ds)
		switch op {
		case tensor.ReduceSum:
			out[o] += v
		case tensor.ReduceMax:
			out[o] = math.Max(out[o], v)
		case tensor.ReduceMin:
			out[o] = math.Min(out[o], v)
		}
		mag[o] += math.Abs(v)
	}
	if len(out) > 0 {
		terms = len(x) / len(out)
	}
	return out, mag, terms
}

// ---- layout ----

// refTranspose returns x of shape xs with axes permuted:
// out.shape[i] = xs[perm[i]].
func refTranspose(x []float64, xs tensor.Shape, perm []int) []float64 {
	ds := make(tensor.Shape, len(xs))
	for i, p := range perm {
		ds[i] = xs[p]
	}
	out := make([]float64, len(x))
	di, xi := make([]int, len(ds)), make([]int, len(xs))
	for k := range out {
		unravel(k, ds, di)
		for i, p := range perm {
			xi[p] = di[i]
		}
		out[k] = x[ravel(xi, xs)]
	}
	return out
}

// refConcat joins xs (with shapes shapes) along axis into a tensor of shape ds.
func refConcat(xs [][]float64, shapes []tensor.Shape, axis int, ds tensor.Shape) []float64 {
	out := make([]float64, ds.Numel())
	idx := make([]int, len(ds))
	for k := range out {
		unravel(k, ds, idx)
		pos := idx[axis]
		for p, s := range shapes {
			if pos < s[axis] {
				idx[axis] = pos
				out[k] = xs[p][ravel(idx, s)]
				break
			}
			pos -= s[axis]
		}
	}
	return out
}

// refSlice returns x[..., start:start+ds[axis], ...] (shape ds) of x of shape xs.
func refSlice(x []float64, xs tensor.Shape, axis, start int, ds tensor.Shape) []float64 {
	out := make([]float64, ds.Numel())
	idx := make([]int, len(ds))
	for k := range out {
		unravel(k, ds, idx)
		idx[axis] += start
		out[k] = x[ravel(idx, xs)]
	}
	return out
}

// refSetSlice returns a copy of dst (shape ds) with src (shape ss) written at
// dst[..., start:start+ss[axis], ...].
func refSetSlice(dst []float64, ds tensor.Shape, src []float64, ss tensor.Shape, axis, start int) []float64 {
	out := append([]float64(nil), dst...)
	idx := make([]int, len(ss))
	for k, v := range src {
		unravel(k, ss, idx)
		idx[axis] += start
		out[ravel(idx, ds)] = v
	}
	return out
}

// ---- convolution and pooling ----

// convGeom is the geometry of a convolution: x [N,C,H,W], w [O,C,KH,KW],
// y [N,O,OH,OW].
type convGeom struct {
	n, c, h, w, o, kh, kw int
	p                     tensor.ConvParams // as passed to the backend
}

// norm returns the stride, padding and dilation with zero strides and
// dilations read as 1 (the ConvParams convention).
func (g convGeom) norm() (sh, sw, ph, pw, dh, dw int) {
	sh, sw, ph, pw, dh, dw = g.p.StrideH, g.p.StrideW, g.p.PadH, g.p.PadW, g.p.DilationH, g.p.DilationW
	sh, sw, dh, dw = max(sh, 1), max(sw, 1), max(dh, 1), max(dw, 1)
	return
}

// out returns OH and OW, as PyTorch computes them.
func (g convGeom) out() (oh, ow int) {
	sh, sw, ph, pw, dh, dw := g.norm()
	oh = (g.h+2*ph-dh*(g.kh-1)-1)/sh + 1
	ow = (g.w+2*pw-dw*(g.kw-1)-1)/sw + 1
	return
}

func (g convGeom) xShape() tensor.Shape { return tensor.Shape{g.n, g.c, g.h, g.w} }
func (g convGeom) wShape() tensor.Shape { return tensor.Shape{g.o, g.c, g.kh, g.kw} }
func (g convGeom) yShape() tensor.Shape {
	oh, ow := g.out()
	return tensor.Shape{g.n, g.o, oh, ow}
}

func (g convGeom) String() string {
	sh, sw, ph, pw, dh, dw := g.norm()
	return fmt.Sprintf("N%dC%dO%d_%dx%d_k%dx%d_s%dx%d_p%dx%d_d%dx%d", g.n, g.c, g.o, g.h, g.w, g.kh, g.kw, sh, sw, ph, pw, dh, dw)
}

// convTerms is the naive 7-loop cross-correlation: it calls visit with the
// flat indices (into y, x and w) of every product
// y[n,o,a,b] += x[n,c,a·sh-ph+i·dh, b·sw-pw+j·dw] · w[o,c,i,j],
// skipping taps that fall in the zero padding.
func convTerms(g convGeom, visit func(yi, xi, wi int)) {
	sh, sw, ph, pw, dh, dw := g.norm()
	oh, ow := g.out()
	for n := 0; n < g.n; n++ {
		for o := 0; o < g.o; o++ {
			for a := 0; a < oh; a++ {
				for b := 0; b < ow; b++ {
					for c := 0; c < g.c; c++ {
						for i := 0; i < g.kh; i++ {
							for j := 0; j < g.kw; j++ {
								ih, iw := a*sh-ph+i*dh, b*sw-pw+j*dw
								if ih < 0 || ih >= g.h || iw < 0 || iw >= g.w {
									continue
								}
								visit(((n*g.o+o)*oh+a)*ow+b, ((n*g.c+c)*g.h+ih)*g.w+iw, ((o*g.c+c)*g.kh+i)*g.kw+j)
							}
						}
					}
				}
			}
		}
	}
}

// refConv2D is y = x ⋆ w with the magnitude of each output.
func refConv2D(g convGeom, x, w []float64) (y, mag []float64) {
	n := g.yShape().Numel()
	y, mag = make([]float64, n), make([]float64, n)
	convTerms(g, func(yi, xi, wi int) {
		y[yi] += x[xi] * w[wi]
		mag[yi] += math.Abs(x[xi] * w[wi])
	})
	return
}

// refConv2DInputGrad is the adjoint of x ↦ x ⋆ w applied to gy: the same
// loops, accumulating into x's position.
func refConv2DInputGrad(g convGeom, gy, w []float64) (dx, mag []float64) {
	n := g.xShape().Numel()
	dx, mag = make([]float64, n), make([]float64, n)
	convTerms(g, func(yi, xi, wi int) {
		dx[xi] += gy[yi] * w[wi]
		mag[xi] += math.Abs(gy[yi] * w[wi])
	})
	return
}

// refConv2DWeightGrad is the adjoint of w ↦ x ⋆ w applied to gy.
func refConv2DWeightGrad(g convGeom, x, gy []float64) (dw, mag []float64) {
	n := g.wShape().Numel()
	dw, mag = make([]float64, n), make([]float64, n)
	convTerms(g, func(yi, xi, wi int) {
		dw[wi] += gy[yi] * x[xi]
		mag[wi] += math.Abs(gy[yi] * x[xi])
	})
	return
}

// poolGeom is the geometry of an average pooling: x [N,C,H,W] to y [N,C,OH,OW].
type poolGeom struct {
	n, c, h, w int
	p          tensor.PoolParams // as passed to the backend
}

// norm returns kernel, stride (0 reads as the kernel) and padding.
func (g poolGeom) norm() (k, s, pad int) {
	k, s, pad = g.p.Kernel, g.p.Stride, g.p.Pad
	if s == 0 {
		s = k
	}
	return
}

func (g poolGeom) out() (oh, ow int) {
	k, s, pad := g.norm()
	return (g.h+2*pad-k)/s + 1, (g.w+2*pad-k)/s + 1
}

func (g poolGeom) xShape() tensor.Shape { return tensor.Shape{g.n, g.c, g.h, g.w} }
func (g poolGeom) yShape() tensor.Shape {
	oh, ow := g.out()
	return tensor.Shape{g.n, g.c, oh, ow}
}

func (g poolGeom) String() string {
	k, s, pad := g.norm()
	return fmt.Sprintf("N%dC%d_%dx%d_k%d_s%d_p%d", g.n, g.c, g.h, g.w, k, s, pad)
}

// poolTerms calls visit(yi, xi) for every input element inside the window of
// every output element; padded positions are skipped (they are zeros).
func poolTerms(g poolGeom, visit func(yi, xi int)) {
	k, s, pad := g.norm()
	oh, ow := g.out()
	for n := 0; n < g.n; n++ {
		for c := 0; c < g.c; c++ {
			for a := 0; a < oh; a++ {
				for b := 0; b < ow; b++ {
					for i := 0; i < k; i++ {
						for j := 0; j < k; j++ {
							ih, iw := a*s-pad+i, b*s-pad+j
							if ih < 0 || ih >= g.h || iw < 0 || iw >= g.w {
								continue
							}
							visit(((n*g.c+c)*oh+a)*ow+b, ((n*g.c+c)*g.h+ih)*g.w+iw)
						}
					}
				}
			}
		}
	}
}

// refAvgPool2D averages each K×K window, dividing by K² whatever the padding
// (count_include_pad).
func refAvgPool2D(g poolGeom, x []float64) (y, mag []float64) {
	k, _, _ := g.norm()
	inv := 1 / float64(k*k)
	n := g.yShape().Numel()
	y, mag = make([]float64, n), make([]float64, n)
	poolTerms(g, func(yi, xi int) {
		y[yi] += x[xi] * inv
		mag[yi] += math.Abs(x[xi] * inv)
	})
	return
}

// refAvgPool2DAdjoint spreads gy/K² over each window.
func refAvgPool2DAdjoint(g poolGeom, gy []float64) (dx, mag []float64) {
	k, _, _ := g.norm()
	inv := 1 / float64(k*k)
	n := g.xShape().Numel()
	dx, mag = make([]float64, n), make([]float64, n)
	poolTerms(g, func(yi, xi int) {
		dx[xi] += gy[yi] * inv
		mag[xi] += math.Abs(gy[yi] * inv)
	})
	return
}

// ---- linear algebra ----

// matMul returns a·x for a [n,n] and x [n,k], row-major.
func matMul(a, x []float64, n, k int) []float64 {
	out := make([]float64, n*k)
	for i := 0; i < n; i++ {
		for j := 0; j < k; j++ {
			s := 0.0
			for l := 0; l < n; l++ {
				s += a[i*n+l] * x[l*k+j]
			}
			out[i*k+j] = s
		}
	}
	return out
}

// normInf returns the infinity norm (largest row sum of |entries|) of the
// row-major matrix m with the given number of columns.
func normInf(m []float64, cols int) float64 {
	best := 0.0
	for r := 0; r+cols <= len(m) && cols > 0; r += cols {
		s := 0.0
		for _, v := range m[r : r+cols] {
			s += math.Abs(v)
		}
		best = max(best, s)
	}
	return best
}
