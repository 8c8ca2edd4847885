package cuda

import "github.com/fdsm-go/fdsm/tensor"

// Convolution is im2col + GEMM, as on the CPU: samples go in chunks whose
// receptive fields sit side by side in one column matrix col [K, m·P]
// (K = C·KH·KW rows, P = OH·OW pixels per sample), bounded by convBudget,
// so each chunk is one large GEMM. The GEMM side of a chunk is [O, m·P];
// for m > 1 a transpose moves it to and from the tensors' [m, O, P].

// convBudget bounds the scratch of one chunk, in elements.
const convBudget = 1 << 24

type convGeom struct {
	n, c, h, w, o, kh, kw, oh, ow int
	p                             tensor.ConvParams
	dt                            tensor.DType
}

func newConvGeom(x, w tensor.Shape, dt tensor.DType, p tensor.ConvParams) convGeom {
	p = p.Normalized()
	g := convGeom{n: x[0], c: x[1], h: x[2], w: x[3], o: w[0], kh: w[2], kw: w[3], p: p, dt: dt}
	g.oh, g.ow = p.OutSize(g.h, g.w, g.kh, g.kw)
	return g
}

func (g convGeom) k() int   { return g.c * g.kh * g.kw }
func (g convGeom) pix() int { return g.oh * g.ow }

// chunk is how many samples share one column matrix.
func (g convGeom) chunk() int {
	return max(1, min(g.n, convBudget/max(1, (g.k()+g.o)*g.pix())))
}

// words packs the kernels' ConvGeom for m samples.
func (g convGeom) words(m int) []uint64 {
	p := g.p
	return []uint64{i64(m), i64(g.c), i64(g.h), i64(g.w), i64(g.kh), i64(g.kw), i64(g.oh), i64(g.ow),
		i64(p.StrideH), i64(p.StrideW), i64(p.PadH), i64(p.PadW), i64(p.DilationH), i64(p.DilationW)}
}

// convScratch is one call's column matrix and GEMM-side buffer.
type convScratch struct{ col, buf scratch }

func (b *Backend) convScratch(g convGeom) convScratch {
	es, nb := int64(g.dt.Size()), int64(g.chunk()*g.pix())
	s := convScratch{col: b.scratch(int64(g.k()) * nb * es)}
	if g.chunk() > 1 {
		s.buf = b.scratch(int64(g.o) * nb * es)
	}
	return s
}

func (b *Backend) freeConv(s convScratch) {
	b.free(s.col)
	if s.buf.class > 0 {
		b.free(s.buf)
	}
}

// sample returns the address of sample i of a [N, ch, P] tensor.
func (g convGeom) sample(p Ptr, i, perSample int) Ptr {
	return p.Add(int64(i*perSample) * int64(g.dt.Size()))
}

func (b *Backend) Conv2D(y, x, w *tensor.Tensor, p tensor.ConvParams) {
	tensor.CheckConv2D(y, x, w, p)
	py, px, pw := b.ptr(y), b.ptr(x), b.ptr(w)
	g := newConvGeom(x.Shape(), w.Shape(), x.DType(), p)
	if g.n == 0 {
		return
	}
	s := b.convScratch(g)
	K, P := g.k(), g.pix()
	for n0 := 0; n0 < g.n; n0 += g.chunk() {
		m := min(g.chunk(), g.n-n0)
		b.im2col(g, s.col.p, g.sample(px, n0, g.c*g.h*g.w), m)
		out := g.sample(py, n0, g.o*P)
		if m > 1 {
			out = s.buf.p
		}
		b.rowGemm(rowGemm{dt: g.dt, m: g.o, n: m * P, k: K, alpha: 1, a: pw, lda: K, b: s.col.p, ldb: m * P,
			c: out, ldc: m * P, batch: 1})
		if m > 1 { // [O, m, P] -> [m, O, P]
			b.shuffle(g, g.sample(py, n0, g.o*P), s.buf.p, m, false)
		}
	}
	b.freeConv(s)
}

func (b *Backend) Conv2DInputGrad(dx, gy, w *tensor.Tensor, p tensor.ConvParams) {
	tensor.CheckConv2DInputGrad(dx, gy, w, p)
	pdx, pgy, pw := b.ptr(dx), b.ptr(gy), b.ptr(w)
	g := newConvGeom(dx.Shape(), w.Shape(), dx.DType(), p)
	if g.n == 0 {
		return
	}
	s := b.convScratch(g)
	K, P := g.k(), g.pix()
	for n0 := 0; n0 < g.n; n0 += g.chunk() {
		m := min(g.chunk(), g.n-n0)
		src := g.sample(pgy, n0, g.o*P)
		if m > 1 {
			b.shuffle(g, src, s.buf.p, m, true)
			src = s.buf.p
		}
		b.rowGemm(rowGemm{dt: g.dt, tA: true, m: K, n: m * P, k: g.o, alpha: 1, a: pw, lda: K, b: src, ldb: m * P,
			c: s.col.p, ldc: m * P, batch: 1})
		b.col2im(g, g.sample(pdx, n0, g.c*g.h*g.w), s.col.p, m)
	}
	b.freeConv(s)
}

func (b *Backend) Conv2DWeightGrad(dw, x, gy *tensor.Tensor, p tensor.ConvParams) {
	tensor.CheckConv2DWeightGrad(dw, x, gy, p)
	pdw, px, pgy := b.ptr(dw), b.ptr(x), b.ptr(gy)
	g := newConvGeom(x.Shape(), dw.Shape(), x.DType(), p)
	if g.n == 0 {
		b.zero(pdw, int64(dw.Bytes()))
		return
	}
	s := b.convScratch(g)
	K, P := g.k(), g.pix()
	beta := 0.0
	for n0 := 0; n0 < g.n; n0 += g.chunk() {
		m := min(g.chunk(), g.n-n0)
		b.im2col(g, s.col.p, g.sample(px, n0, g.c*g.h*g.w), m)
		src := g.sample(pgy, n0, g.o*P)
		if m > 1 {
			b.shuffle(g, src, s.buf.p, m, true)
			src = s.buf.p
		}
		// dw [O, K] (+)= gy [O, m·P] · col [K, m·P]ᵀ: beta = 1 sums the chunks.
		b.rowGemm(rowGemm{dt: g.dt, tB: true, m: g.o, n: K, k: m * P, alpha: 1, beta: beta, a: src, lda: m * P,
			b: s.col.p, ldb: m * P, c: pdw, ldc: K, batch: 1})
		beta = 1
	}
	b.freeConv(s)
}

func (b *Backend) im2col(g convGeom, col, x Ptr, m int) {
	args := append([]uint64{uint64(col), uint64(x)}, g.words(m)...)
	b.launch("im2col"+suffix(g.dt), int64(g.k()*m*g.pix()), args...)
}

func (b *Backend) col2im(g convGeom, dx, col Ptr, m int) {
	args := append([]uint64{uint64(dx), uint64(col)}, g.words(m)...)
	b.launch("col2im"+suffix(g.dt), int64(m*g.c*g.h*g.w), args...)
}

// shuffle moves m samples between the tensor layout t [m, O, P] and the
// chunk layout c [O, m·P]: toChunk copies t into c, otherwise c into t.
func (b *Backend) shuffle(g convGeom, t, c Ptr, m int, toChunk bool) {
	P := g.pix()
	dst, src, dims, strides := t, c, []int{m, g.o, P}, []int{P, m * P, 1}
	if toChunk {
		dst, src, dims, strides = c, t, []int{g.o, m, P}, []int{P, g.o * P, 1}
	}
	n := int64(m * g.o * P)
	args := []uint64{uint64(dst), uint64(src), uint64(n), 3}
	args = append(args, padWords(dims)...)
	args = append(args, padWords(strides)...)
	b.launch("transpose"+suffix(g.dt), n, args...)
}

func (b *Backend) AvgPool2D(y, x *tensor.Tensor, p tensor.PoolParams) {
	tensor.CheckAvgPool2D(y, x, p)
	b.pool("avgpool", b.ptr(y), b.ptr(x), x.Shape(), y.DType(), p, int64(y.Numel()))
}

func (b *Backend) AvgPool2DAdjoint(dx, gy *tensor.Tensor, p tensor.PoolParams) {
	tensor.CheckAvgPool2DAdjoint(dx, gy, p)
	b.pool("avgpool_adjoint", b.ptr(dx), b.ptr(gy), dx.Shape(), dx.DType(), p, int64(dx.Numel()))
}

// pool launches a pooling kernel for input-role shape xs [N,C,H,W], one
// thread per element of its destination (items of them).
func (b *Backend) pool(kernel string, dst, src Ptr, xs tensor.Shape, dt tensor.DType, p tensor.PoolParams, items int64) {
	p = p.Normalized()
	oh, ow := p.OutSize(xs[2], xs[3])
	b.launch(kernel+suffix(dt), items, uint64(dst), uint64(src), i64(xs[0]*xs[1]), i64(xs[2]), i64(xs[3]),
		i64(oh), i64(ow), i64(p.Kernel), i64(p.Stride), i64(p.Pad))
}
