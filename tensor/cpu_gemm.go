package tensor

import "fmt"

// scaleSlice32 sets c *= beta, treating beta == 0 as an overwrite (BLAS rule:
// NaNs in c must not survive a zero beta).
func scaleSlice32(c []float32, beta float32) {
	if beta == 0 {
		clear(c)
		return
	}
	for i := range c {
		c[i] *= beta
	}
}

func scaleSlice64(c []float64, beta float64) {
	if beta == 0 {
		clear(c)
		return
	}
	for i := range c {
		c[i] *= beta
	}
}

// gemmDims checks the operands of Gemm and returns the batch count and the
// per-entry m, n, k, plus the element strides between batch entries (0 when
// an operand is shared).
func gemmDims(tA, tB bool, a, b, c *Tensor) (batch, m, n, k, sa, sb, sc int) {
	ra, rb, rc := a.Rank(), b.Rank(), c.Rank()
	bad := func() {
		panic(fmt.Sprintf("tensor: gemm shapes a%v (T=%v) b%v (T=%v) c%v do not match", a.shape, tA, b.shape, tB, c.shape))
	}
	if ra < 2 || ra > 3 || rb < 2 || rb > 3 || rc < 2 || rc > 3 {
		bad()
	}
	am, ak := a.Dim(-2), a.Dim(-1)
	if tA {
		am, ak = ak, am
	}
	bk, bn := b.Dim(-2), b.Dim(-1)
	if tB {
		bk, bn = bn, bk
	}
	m, n, k = am, bn, ak
	if ak != bk || c.Dim(-2) != m || c.Dim(-1) != n {
		bad()
	}
	batch = 1
	if rc == 3 {
		batch = c.Dim(0)
		sc = m * n
	}
	if ra == 3 {
		if rc != 3 || a.Dim(0) != batch {
			bad()
		}
		sa = m * k
	}
	if rb == 3 {
		if rc != 3 || b.Dim(0) != batch {
			bad()
		}
		sb = k * n
	}
	return
}

func (c *CPU) Gemm(tA, tB bool, alpha float64, a, b *Tensor, beta float64, out *Tensor) {
	c.own(a, b, out)
	dt := sameDType("gemm", a, b, out)
	batch, m, n, k, sa, sb, sc := gemmDims(tA, tB, a, b, out)
	lda, ldb := a.Dim(-1), b.Dim(-1)
	if sc == 0 && batch == 1 {
		// Shared operands with a rank-2 result: one call.
		sa, sb = 0, 0
	}
	for i := 0; i < batch; i++ {
		if dt == Float32 {
			sgemm(tA, tB, m, n, k, float32(alpha), a.f32[i*sa:], lda, b.f32[i*sb:], ldb, float32(beta), out.f32[i*sc:], n)
		} else {
			dgemm(tA, tB, m, n, k, alpha, a.f64[i*sa:], lda, b.f64[i*sb:], ldb, beta, out.f64[i*sc:], n)
		}
	}
}
