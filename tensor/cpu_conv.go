package tensor

import "fmt"

// Convolution on the CPU is im2col + GEMM. Samples are taken in chunks whose
// receptive fields go side by side into one column matrix
// col [C*KH*KW, m*OH*OW] (m = 1 for large images, more for small ones), so
// each chunk is one GEMM that is large enough for BLAS to run near peak.
// GEMMs are issued from the calling goroutine and BLAS threads them itself
// (OpenBLAS and gonum both split big GEMMs across cores); running several
// multithreaded GEMMs at once from our goroutines would only oversubscribe
// the cores. The memory-bound steps around the GEMM (im2col, col2im and the
// [m,O,P] <-> [O,m*P] layout shuffles) run across goroutines, one input or
// output plane per work item. Scratch is one pooled buffer per call (c.Empty),
// so concurrent calls do not share it and steady state allocates none.

// convElem is the element types the conv and pooling kernels are written for.
type convElem interface{ float32 | float64 }

// gemmFunc is the signature shared by sgemm and dgemm, so the generic kernels
// take the right one as a value instead of switching on the type per call.
type gemmFunc[T convElem] func(tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// convColBudget caps the elements of the column matrix for one chunk (2 MiB
// in float32). im2col writes it and the GEMM reads it straight back, so it
// should stay in cache; small images still pool several samples per GEMM so
// the GEMM stays large. A sample bigger than the budget runs alone.
const convColBudget = 1 << 19

// convGeom is the checked geometry of one convolution call.
type convGeom struct {
	n, c, h, w int // input [N,C,H,W]
	o, kh, kw  int // weight [O,C,KH,KW]
	oh, ow     int // output [N,O,OH,OW]
	p          ConvParams
}

func (g convGeom) k() int   { return g.c * g.kh * g.kw } // rows of col
func (g convGeom) pix() int { return g.oh * g.ow }       // output pixels per sample

// chunk returns how many samples share one column matrix: as many as the
// budget allows, then evened out so the last chunk is not a sliver.
func (g convGeom) chunk() int {
	nb := max(1, min(g.n, convColBudget/max(1, g.k()*g.pix())))
	chunks := max(1, (g.n+nb-1)/nb)
	return max(1, (g.n+chunks-1)/chunks)
}

// scratchLen is the scratch one call needs: the column matrix plus, when a
// chunk holds several samples, the output/gradient in [O, m*P] layout. Every
// pass of one geometry asks for the same length, so the pool reuses it.
func (g convGeom) scratchLen() int {
	nb := g.chunk()
	if nb == 1 {
		return g.k() * g.pix()
	}
	return (g.k() + g.o) * nb * g.pix()
}

// convCheck validates the shapes of a convolution call. xs, ws and ys are
// the shapes in the input, weight and output roles, named as the caller
// knows them (for example "dx", "w", "gy").
func convCheck(op string, names [3]string, xs, ws, ys Shape, p ConvParams) convGeom {
	p = p.Normalized()
	bad := func(why string) {
		panic(fmt.Sprintf("tensor: %s shapes %s%v %s%v %s%v do not match (%s; stride %dx%d pad %dx%d dilation %dx%d)",
			op, names[0], xs, names[1], ws, names[2], ys, why,
			p.StrideH, p.StrideW, p.PadH, p.PadW, p.DilationH, p.DilationW))
	}
	if len(xs) != 4 || len(ws) != 4 || len(ys) != 4 {
		bad("want rank 4 [N,C,H,W], [O,C,KH,KW], [N,O,OH,OW]")
	}
	if p.StrideH < 1 || p.StrideW < 1 || p.DilationH < 1 || p.DilationW < 1 || p.PadH < 0 || p.PadW < 0 {
		bad("strides and dilations must be positive, padding non-negative")
	}
	g := convGeom{n: xs[0], c: xs[1], h: xs[2], w: xs[3], o: ws[0], kh: ws[2], kw: ws[3], p: p}
	if ws[1] != g.c {
		bad(fmt.Sprintf("%s has %d channels, %s expects %d", names[0], g.c, names[1], ws[1]))
	}
	g.oh, g.ow = p.OutSize(g.h, g.w, g.kh, g.kw)
	if !ys.Equal(Shape{g.n, g.o, g.oh, g.ow}) {
		bad(fmt.Sprintf("want %s%v", names[2], Shape{g.n, g.o, g.oh, g.ow}))
	}
	return g
}

// convRange returns the output positions [lo, hi) whose input coordinate
// o*stride + off falls inside [0, in), so the inner loops need no bounds tests.
// Both ends lie in [0, out]: a kernel tap that sits in the padding for every
// output position (a large kernel on a small map) gives an empty range.
func convRange(off, stride, in, out int) (lo, hi int) {
	if off < 0 {
		lo = min(out, (-off+stride-1)/stride)
	}
	if t := in - 1 - off; t >= 0 {
		hi = min(out, t/stride+1)
	}
	return lo, max(lo, hi)
}

func (c *CPU) Conv2D(y, x, w *Tensor, p ConvParams) {
	c.own(y, x, w)
	dt := sameDType("conv2d", y, x, w)
	g := convCheck("conv2d", [3]string{"x", "w", "y"}, x.shape, w.shape, y.shape, p)
	s := c.Empty(dt, g.scratchLen())
	defer c.Release(s)
	if dt == Float32 {
		convForward(g, sgemm, y.f32, x.f32, w.f32, s.f32)
	} else {
		convForward(g, dgemm, y.f64, x.f64, w.f64, s.f64)
	}
}

func (c *CPU) Conv2DInputGrad(dx, gy, w *Tensor, p ConvParams) {
	c.own(dx, gy, w)
	dt := sameDType("conv2d input grad", dx, gy, w)
	g := convCheck("conv2d input grad", [3]string{"dx", "w", "gy"}, dx.shape, w.shape, gy.shape, p)
	s := c.Empty(dt, g.scratchLen())
	defer c.Release(s)
	if dt == Float32 {
		convInputGrad(g, sgemm, dx.f32, gy.f32, w.f32, s.f32)
	} else {
		convInputGrad(g, dgemm, dx.f64, gy.f64, w.f64, s.f64)
	}
}

func (c *CPU) Conv2DWeightGrad(dw, x, gy *Tensor, p ConvParams) {
	c.own(dw, x, gy)
	dt := sameDType("conv2d weight grad", dw, x, gy)
	g := convCheck("conv2d weight grad", [3]string{"x", "dw", "gy"}, x.shape, dw.shape, gy.shape, p)
	s := c.Empty(dt, g.scratchLen())
	defer c.Release(s)
	if dt == Float32 {
		convWeightGrad(g, sgemm, dw.f32, x.f32, gy.f32, s.f32)
	} else {
		convWeightGrad(g, dgemm, dw.f64, x.f64, gy.f64, s.f64)
	}
}

// convForward: per chunk, y[O, m*P] = w[O, K] · col[K, m*P].
func convForward[T convElem](g convGeom, gemm gemmFunc[T], y, x, w, s []T) {
	K, P, nb := g.k(), g.pix(), g.chunk()
	col, buf := s[:K*nb*P], s[K*nb*P:]
	for n0 := 0; n0 < g.n; n0 += nb {
		m := min(nb, g.n-n0)
		ld := m * P
		im2col(g, col, x[n0*g.c*g.h*g.w:], m)
		ys := y[n0*g.o*P : (n0+m)*g.o*P]
		if m == 1 { // [O, P] is already y's layout
			gemm(false, false, g.o, ld, K, 1, w, K, col, ld, 0, ys, ld)
			continue
		}
		gemm(false, false, g.o, ld, K, 1, w, K, col, ld, 0, buf, ld)
		convShuffle(ys, buf, m, g.o, P, false)
	}
}

// convInputGrad: per chunk, dcol[K, m*P] = wᵀ · gy[O, m*P], then col2im.
func convInputGrad[T convElem](g convGeom, gemm gemmFunc[T], dx, gy, w, s []T) {
	K, P, nb := g.k(), g.pix(), g.chunk()
	col, buf := s[:K*nb*P], s[K*nb*P:]
	for n0 := 0; n0 < g.n; n0 += nb {
		m := min(nb, g.n-n0)
		ld := m * P
		gs := gy[n0*g.o*P : (n0+m)*g.o*P]
		if m > 1 {
			convShuffle(gs, buf, m, g.o, P, true)
			gs = buf
		}
		gemm(true, false, K, ld, g.o, 1, w, K, gs, ld, 0, col, ld)
		col2im(g, dx[n0*g.c*g.h*g.w:], col, m)
	}
}

// convWeightGrad: dw[O, K] = Σ_chunks gy[O, m*P] · col[K, m*P]ᵀ; the GEMM's
// beta = 1 after the first chunk does the sum across chunks.
func convWeightGrad[T convElem](g convGeom, gemm gemmFunc[T], dw, x, gy, s []T) {
	K, P, nb := g.k(), g.pix(), g.chunk()
	col, buf := s[:K*nb*P], s[K*nb*P:]
	if g.n == 0 {
		clear(dw)
		return
	}
	var beta T
	for n0 := 0; n0 < g.n; n0 += nb {
		m := min(nb, g.n-n0)
		ld := m * P
		im2col(g, col, x[n0*g.c*g.h*g.w:], m)
		gs := gy[n0*g.o*P : (n0+m)*g.o*P]
		if m > 1 {
			convShuffle(gs, buf, m, g.o, P, true)
			gs = buf
		}
		gemm(false, true, g.o, K, ld, 1, gs, ld, col, ld, beta, dw, K)
		beta = 1
	}
}

// im2col writes the receptive fields of m samples x [m,C,H,W] into
// col [C*KH*KW, m*P]: row (c,i,j), column s*P + oh*OW + ow holds
// x[s, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw], or 0 in the padding.
func im2col[T convElem](g convGeom, col, x []T, m int) {
	P, hw, ld := g.pix(), g.h*g.w, m*g.pix()
	p := g.p
	// With stride 1 and an output as wide as the input (a "same" convolution),
	// a kernel tap reads the input plane at one constant offset: its rows
	// are one block copy, then the columns that fell into the padding are
	// zeroed. Small images have short rows, and a copy per row would cost
	// more than the data it moves.
	same := p.StrideH == 1 && p.StrideW == 1 && g.ow == g.w
	parallelFor(m*g.c, g.kh*g.kw*P, func(lo, hi int) {
		for u := lo; u < hi; u++ { // u = s*C + c indexes one input plane
			s, ch := u/g.c, u%g.c
			src := x[u*hw : (u+1)*hw]
			for i := 0; i < g.kh; i++ {
				offH := i*p.DilationH - p.PadH
				hlo, hhi := convRange(offH, p.StrideH, g.h, g.oh)
				for j := 0; j < g.kw; j++ {
					offW := j*p.DilationW - p.PadW
					wlo, whi := convRange(offW, p.StrideW, g.w, g.ow)
					row := col[((ch*g.kh+i)*g.kw+j)*ld+s*P:][:P]
					clear(row[:hlo*g.ow])
					clear(row[hhi*g.ow:])
					if same && hlo < hhi {
						im2colShifted(row[hlo*g.ow:hhi*g.ow], src, (hlo+offH)*g.w+offW, g.ow, wlo, whi)
						continue
					}
					for oh := hlo; oh < hhi; oh++ {
						dst := row[oh*g.ow : (oh+1)*g.ow]
						clear(dst[:wlo])
						clear(dst[whi:])
						sr := src[(oh*p.StrideH+offH)*g.w:]
						if wlo == whi {
							continue
						}
						if p.StrideW == 1 {
							copy(dst[wlo:whi], sr[wlo+offW:])
							continue
						}
						for ow := wlo; ow < whi; ow++ {
							dst[ow] = sr[ow*p.StrideW+offW]
						}
					}
				}
			}
		}
	})
}

// im2colShifted fills dst, whole output rows of width ow, with
// src[k+shift] for each flat index k, then zeroes the columns outside
// [wlo, whi) of each row, where the shifted read wrapped into a
// neighbouring input row or past the plane's ends.
func im2colShifted[T convElem](dst, src []T, shift, ow, wlo, whi int) {
	lo, hi := max(0, -shift), min(len(dst), len(src)-shift)
	if lo < hi {
		copy(dst[lo:hi], src[lo+shift:hi+shift])
	}
	clear(dst[:min(lo, len(dst))])
	clear(dst[max(hi, 0):])
	for r := 0; r < len(dst); r += ow {
		clear(dst[r : r+wlo])
		clear(dst[r+whi : r+ow])
	}
}

// col2im is the adjoint of im2col: it overwrites dx [m,C,H,W] with the sum of
// every column entry that im2col would have read from each input position.
// Each goroutine owns whole input planes, so the accumulation needs no locks.
func col2im[T convElem](g convGeom, dx, col []T, m int) {
	P, hw, ld := g.pix(), g.h*g.w, m*g.pix()
	p := g.p
	parallelFor(m*g.c, g.kh*g.kw*P, func(lo, hi int) {
		for u := lo; u < hi; u++ {
			s, ch := u/g.c, u%g.c
			dst := dx[u*hw : (u+1)*hw]
			clear(dst)
			for i := 0; i < g.kh; i++ {
				offH := i*p.DilationH - p.PadH
				hlo, hhi := convRange(offH, p.StrideH, g.h, g.oh)
				for j := 0; j < g.kw; j++ {
					offW := j*p.DilationW - p.PadW
					wlo, whi := convRange(offW, p.StrideW, g.w, g.ow)
					row := col[((ch*g.kh+i)*g.kw+j)*ld+s*P:][:P]
					for oh := hlo; oh < hhi; oh++ {
						src := row[oh*g.ow : (oh+1)*g.ow]
						out := dst[(oh*p.StrideH+offH)*g.w:]
						if p.StrideW == 1 && wlo < whi {
							addTo(out[wlo+offW:whi+offW], src[wlo:whi])
							continue
						}
						for ow := wlo; ow < whi; ow++ {
							out[ow*p.StrideW+offW] += src[ow]
						}
					}
				}
			}
		}
	})
}

// addTo adds src into dst elementwise (equal lengths). binaryFlat would do
// the same, but its switch on the operation, once per row of 7-14 values,
// made the 14x14 input gradient about 10% slower.
func addTo[T convElem](dst, src []T) {
	dst = dst[:len(src)]
	for k, v := range src {
		dst[k] += v
	}
}

// convShuffle moves m samples between the tensor layout a [m, O, P] and the
// chunk layout b [O, m*P]: toChunk copies a into b, otherwise b into a.
func convShuffle[T convElem](a, b []T, m, o, P int, toChunk bool) {
	ld := m * P
	parallelFor(m*o, P, func(lo, hi int) {
		for u := lo; u < hi; u++ { // u = s*O + oc
			s, oc := u/o, u%o
			ar, br := a[u*P:(u+1)*P], b[oc*ld+s*P:][:P]
			if toChunk {
				copy(br, ar)
			} else {
				copy(ar, br)
			}
		}
	})
}
