//go:build cgo

// GEMM of the emulated device: cuBLAS's column-major contract by plain
// loops, accumulating in the element type (cuBLAS's float32 GEMM does not
// widen either). With tf32 set, float32 operands are first rounded to
// TF32's 10-bit mantissa, as tensor cores do.
#include <stdint.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

static float round_tf32(float v) {
	uint32_t b;
	memcpy(&b, &v, 4);
	if ((b & 0x7f800000u) != 0x7f800000u) { // finite: round to nearest even at bit 13
		b += 0xfffu + ((b >> 13) & 1);
		b &= ~0x1fffu;
	}
	memcpy(&v, &b, 4);
	return v;
}

template <typename T> static T operand(T v, int tf32) { return v; }
template <> float operand<float>(float v, int tf32) { return tf32 ? round_tf32(v) : v; }

// gemm computes C = alpha·op(A)·op(B) + beta·C for batch entries i, A, B and
// C advancing by sa, sb and sc elements; beta == 0 does not read C.
template <typename T>
static void gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, T alpha, const T *A, int64_t lda, int64_t sa,
		 const T *B, int64_t ldb, int64_t sb, T beta, T *C, int64_t ldc, int64_t sc, int64_t batch, int tf32) {
	for (int64_t e = 0; e < batch; e++, A += sa, B += sb, C += sc) {
		for (int64_t j = 0; j < n; j++) {
			for (int64_t i = 0; i < m; i++) {
				T s = 0;
				for (int64_t l = 0; l < k; l++) {
					T a = ta ? A[l + i * lda] : A[i + l * lda];
					T b = tb ? B[j + l * ldb] : B[l + j * ldb];
					s += operand(a, tf32) * operand(b, tf32);
				}
				T *c = &C[i + j * ldc];
				*c = beta == 0 ? alpha * s : alpha * s + beta * *c;
			}
		}
	}
}

extern "C" void emu_gemm(int f64, int ta, int tb, int64_t m, int64_t n, int64_t k, double alpha, uint64_t a,
			 int64_t lda, int64_t sa, uint64_t b, int64_t ldb, int64_t sb, double beta, uint64_t c,
			 int64_t ldc, int64_t sc, int64_t batch, int tf32) {
	if (f64) {
		gemm<double>(ta, tb, m, n, k, alpha, (const double *)a, lda, sa, (const double *)b, ldb, sb, beta,
			     (double *)c, ldc, sc, batch, 0);
		return;
	}
	gemm<float>(ta, tb, m, n, k, (float)alpha, (const float *)a, lda, sa, (const float *)b, ldb, sb, (float)beta,
		    (float *)c, ldc, sc, batch, tf32);
}
