package tensor

import (
	"fmt"
	"runtime"
)

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
	one := func(i, r0, r1, c0, c1 int) {
		// Rows [r0,r1) and columns [c0,c1) of batch entry i: op(A)'s rows
		// start at row r0 of A (column r0 when transposed), op(B)'s columns
		// at column c0 of B (row c0 when transposed).
		ao, bo := r0*lda, c0
		if tA {
			ao = r0
		}
		if tB {
			bo = c0 * ldb
		}
		co := i*sc + r0*n + c0
		if dt == Float32 {
			sgemm(tA, tB, r1-r0, c1-c0, k, float32(alpha), a.f32[i*sa+ao:], lda, b.f32[i*sb+bo:], ldb, float32(beta), out.f32[co:], n)
		} else {
			dgemm(tA, tB, r1-r0, c1-c0, k, alpha, a.f64[i*sa+ao:], lda, b.f64[i*sb+bo:], ldb, beta, out.f64[co:], n)
		}
	}
	gemmParallel(batch, m, n, k, one)
}

// gemmGrain is the flop count below which a GEMM runs on one goroutine.
const gemmGrain = 1 << 21

// gemmParallel spreads a (batched) GEMM over GOMAXPROCS goroutines when the
// BLAS is single-threaded: across batch entries when there are enough, else
// across blocks of rows or columns of the larger output dimension.
func gemmParallel(batch, m, n, k int, one func(i, r0, r1, c0, c1 int)) {
	workers := runtime.GOMAXPROCS(0)
	flops := 2 * batch * m * n * k
	if blasThreaded || workers == 1 || flops < gemmGrain || m == 0 || n == 0 {
		for i := 0; i < batch; i++ {
			one(i, 0, m, 0, n)
		}
		return
	}
	if batch >= workers {
		parallelFor(batch, flops/batch/32+1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				one(i, 0, m, 0, n)
			}
		})
		return
	}
	for i := 0; i < batch; i++ {
		if m >= n {
			splitRange(m, workers, func(lo, hi int) { one(i, lo, hi, 0, n) })
		} else {
			splitRange(n, workers, func(lo, hi int) { one(i, 0, m, lo, hi) })
		}
	}
}

// splitRange runs body on about w contiguous parts of [0, n) concurrently,
// parts aligned to 16 so BLAS kernels see whole register blocks.
func splitRange(n, w int, body func(lo, hi int)) {
	runChunks(n, ((n+w-1)/w+15)&^15, body)
}
