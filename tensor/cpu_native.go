//go:build cgo && !noopenblas

package tensor

// The native build evaluates the hot float32 transcendentals with C loops
// that the compiler vectorises (AVX2+FMA when the CPU has them, SSE2
// otherwise), in float64 lanes with the same algorithms as internal/mathf:
// a few times faster than the scalar Go kernels, which the pure-Go build
// keeps. The conformance suite holds both builds to the same tolerances.

/*
#cgo CFLAGS: -O3
// Without trapping math the compiler may if-convert the selects below,
// which vectorisation needs; nothing here relies on floating-point traps.
#pragma GCC optimize ("no-trapping-math", "no-math-errno")
#include <stdint.h>
#include <string.h>
#include <stddef.h>

// Arguments of e^x are clamped to ±104: beyond that every float32 result is
// already 0 or +Inf, and float64 stays normal.
#define LIM 104.0

// e^x for |x| <= LIM: x = k ln2 + r with |r| <= ln2/2, e^r by its Taylor
// polynomial to r^10 (truncation below 1e-12 relative), 2^k added to the
// exponent bits (k sits in the low bits of x/ln2 + 1.5*2^52).
static inline double exp_core(double x) {
	const double magic = 6755399441055744.0;
	double kd = x * 1.4426950408889634 + magic;
	double k = kd - magic;
	double r = x - k * 0.6931471805599453;
	double p = 1 + r * (1 + r * (1.0/2 + r * (1.0/6 + r * (1.0/24 + r * (1.0/120 + r * (1.0/720 + r * (1.0/5040
		+ r * (1.0/40320 + r * (1.0/362880 + r * (1.0/3628800))))))))));
	int64_t ki, bits;
	memcpy(&ki, &kd, 8);
	memcpy(&bits, &p, 8);
	bits += (int64_t)((uint64_t)ki << 52);
	memcpy(&p, &bits, 8);
	return p;
}

// e^a - 1 for |a| <= LIM without cancellation near 0: a Taylor polynomial
// for |a| < 0.35 (truncation < 1e-12 relative), e^a - 1 elsewhere.
static inline double expm1_core(double a) {
	double small = a * (1 + a * (1.0/2 + a * (1.0/6 + a * (1.0/24 + a * (1.0/120 + a * (1.0/720 + a * (1.0/5040
		+ a * (1.0/40320 + a * (1.0/362880 + a * (1.0/3628800))))))))));
	double big = exp_core(a) - 1;
	double m = a < 0 ? -a : a;
	return m < 0.35 ? small : big;
}

static inline double clampd(double x) { return x < -LIM ? -LIM : (x > LIM ? LIM : x); }

#define KERNELS(S, ATTR) \
ATTR static void exp_##S(float *d, const float *x, size_t n) { \
	for (size_t i = 0; i < n; i++) { double v = x[i]; double r = exp_core(clampd(v)); d[i] = (float)(v != v ? v : r); } \
} \
ATTR static void sigmoid_##S(float *d, const float *x, size_t n) { \
	for (size_t i = 0; i < n; i++) { \
		double v = x[i], a = v < 0 ? -v : v; \
		double t = exp_core(-(a < LIM ? a : LIM)), q = 1 / (1 + t); \
		double r = v >= 0 ? q : t * q; \
		d[i] = (float)(v != v ? v : r); \
	} \
} \
ATTR static void softplus_##S(float *d, const float *x, size_t n) { \
	for (size_t i = 0; i < n; i++) { \
		double v = x[i], a = v < 0 ? -v : v; \
		double t = exp_core(-(a < LIM ? a : LIM)); \
		double u = t / (2 + t), u2 = u * u; \
		double q = u2 * (1.0/3 + u2 * (1.0/5 + u2 * (1.0/7 + u2 * (1.0/9 + u2 * (1.0/11 + u2 * (1.0/13)))))); \
		double r = (v > 0 ? v : 0) + 2 * u * (1 + q); \
		d[i] = (float)(v != v ? v : r); \
	} \
} \
ATTR static void tanh_##S(float *d, const float *x, size_t n) { \
	for (size_t i = 0; i < n; i++) { \
		double v = x[i], a = v < 0 ? -v : v; \
		double u = expm1_core(2 * (a < LIM / 2 ? a : LIM / 2)); \
		double r = u / (u + 2); \
		r = v < 0 ? -r : r; \
		d[i] = (float)(v != v ? v : (v == 0 ? v : r)); \
	} \
} \
ATTR static void elu_##S(float *d, const float *x, size_t n) { \
	for (size_t i = 0; i < n; i++) { \
		double v = x[i]; \
		double e = expm1_core(v > -LIM ? (v < 0 ? v : 0) : -LIM); \
		d[i] = (float)(v > 0 ? v : (v != v ? v : (v == 0 ? v : e))); \
	} \
} \
ATTR static void expm1_##S(float *d, const float *x, size_t n) { \
	for (size_t i = 0; i < n; i++) { double v = x[i]; double r = expm1_core(clampd(v)); d[i] = (float)(v != v ? v : (v == 0 ? v : r)); } \
}

KERNELS(generic, )
KERNELS(avx2, __attribute__((target("avx2,fma"))))

typedef void (*kernel)(float *, const float *, size_t);

// Op codes match the Go side's nativeOps.
static kernel table[2][6] = {
	{exp_generic, sigmoid_generic, softplus_generic, tanh_generic, elu_generic, expm1_generic},
	{exp_avx2, sigmoid_avx2, softplus_avx2, tanh_avx2, elu_avx2, expm1_avx2},
};

static int use_avx2 = -1;

static int fdsm_native_avx2(void) {
	if (use_avx2 < 0) {
		__builtin_cpu_init();
		use_avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
	}
	return use_avx2;
}

static void fdsm_unary32(int op, float *d, const float *x, size_t n) {
	table[fdsm_native_avx2()][op](d, x, n);
}

// fdsm_unary32_variant runs one kernel set explicitly (tests cover both).
static void fdsm_unary32_variant(int avx2, int op, float *d, const float *x, size_t n) {
	table[avx2 && fdsm_native_avx2()][op](d, x, n);
}
*/
import "C"

import "unsafe"

// nativeOps maps the ops with native kernels to their C table index.
var nativeOps = map[UnaryOp]C.int{OpExp: 0, OpSigmoid: 1, OpSoftplus: 2, OpTanh: 3, OpELU: 4, OpExpm1: 5}

// nativeKernels names the native kernel set in use (for benchmarks and logs).
func nativeKernels() string {
	if C.fdsm_native_avx2() != 0 {
		return "c-avx2"
	}
	return "c-sse2"
}

// nativeUnary32Variant runs op with the SSE2 (avx2 false) or, where the CPU
// has it, the AVX2 kernel set. It panics for an op without a native kernel.
func nativeUnary32Variant(avx2 bool, op UnaryOp, dst, x []float32) {
	code, ok := nativeOps[op]
	if !ok {
		panic("tensor: no native kernel for " + op.String())
	}
	v := C.int(0)
	if avx2 {
		v = 1
	}
	if len(x) > 0 {
		C.fdsm_unary32_variant(v, code, (*C.float)(unsafe.Pointer(&dst[0])), (*C.float)(unsafe.Pointer(&x[0])), C.size_t(len(x)))
	}
}

// nativeUnary32 runs op with a native kernel and reports whether it had one.
func nativeUnary32(op UnaryOp, dst, x []float32) bool {
	code, ok := nativeOps[op]
	if !ok {
		return false
	}
	if len(x) == 0 {
		return true
	}
	C.fdsm_unary32(code, (*C.float)(unsafe.Pointer(&dst[0])), (*C.float)(unsafe.Pointer(&x[0])), C.size_t(len(x)))
	return true
}
