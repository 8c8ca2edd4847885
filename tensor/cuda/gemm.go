package cuda

import "github.com/fdsm-go/fdsm/tensor"

// Gemm maps the engine's row-major GEMM onto the device's column-major one:
// a row-major matrix read column-major is its transpose, so C = op(A)·op(B)
// is issued as Cᵀ = op(B)ᵀ·op(A)ᵀ, B first. Rank-3 operands become one
// strided batched GEMM; a rank-2 operand next to a rank-3 result is shared
// by every entry (stride 0), as on the CPU.
func (b *Backend) Gemm(tA, tB bool, alpha float64, a, bm *tensor.Tensor, beta float64, c *tensor.Tensor) {
	tensor.CheckGemm(tA, tB, a, bm, c)
	m, k := a.Dim(-2), a.Dim(-1)
	if tA {
		m, k = k, m
	}
	n := bm.Dim(-1)
	if tB {
		n = bm.Dim(-2)
	}
	batch, sa, sb, sc := 1, 0, 0, 0
	if c.Rank() == 3 {
		batch, sc = c.Dim(0), m*n
	}
	if a.Rank() == 3 {
		sa = m * k
	}
	if bm.Rank() == 3 {
		sb = k * n
	}
	b.rowGemm(rowGemm{dt: c.DType(), tA: tA, tB: tB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: b.ptr(a), lda: a.Dim(-1), sa: sa, b: b.ptr(bm), ldb: bm.Dim(-1), sb: sb,
		c: b.ptr(c), ldc: n, sc: sc, batch: batch})
}

// rowGemm is a row-major (batched) GEMM: c = alpha·op(a)·op(b) + beta·c,
// op(a) m×k, leading dimensions and batch strides in elements.
type rowGemm struct {
	dt             tensor.DType
	tA, tB         bool
	m, n, k        int
	alpha, beta    float64
	a              Ptr
	lda, sa        int
	b              Ptr
	ldb, sb        int
	c              Ptr
	ldc, sc, batch int
}

// rowGemm enqueues g. An empty product (k = 0) scales c by beta as BLAS
// does, beta = 0 overwriting it (also its NaNs); the device never sees a
// zero dimension.
func (b *Backend) rowGemm(g rowGemm) {
	if g.m == 0 || g.n == 0 || g.batch == 0 {
		return
	}
	if g.k == 0 {
		b.scaleRows(g)
		return
	}
	b.check(b.dev.Gemm(GemmOp{
		DType: g.dt, TransA: g.tB, TransB: g.tA, M: g.n, N: g.m, K: g.k, Alpha: g.alpha, Beta: g.beta,
		A: g.b, LDA: g.ldb, StrideA: int64(g.sb),
		B: g.a, LDB: g.lda, StrideB: int64(g.sa),
		C: g.c, LDC: g.ldc, StrideC: int64(g.sc), Batch: g.batch,
	}, b.s))
}

// scaleRows sets c = beta·c, in the element type as the CPU does. The
// batch entries of c are contiguous (ldc = n in every GEMM the backend
// issues), or all the same c when sc = 0.
func (b *Backend) scaleRows(g rowGemm) {
	n := int64(g.m * g.n)
	if g.sc != 0 {
		n *= int64(g.batch)
	}
	if g.beta == 0 {
		b.zero(g.c, n*int64(g.dt.Size()))
		return
	}
	b.launch("scalar"+suffix(g.dt), n, uint64(g.c), uint64(g.c), uint64(n), binaryCode(tensor.OpMul), f64(g.beta), 0)
}
