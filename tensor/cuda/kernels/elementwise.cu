// Elementwise kernels: fill, dtype conversion, unary, binary with
// broadcasting, and binary with a scalar operand. One element per loop
// step; y may alias x (each element is read before it is written, by the
// same thread).
#include "cuda.h"
#include "mathd.h"
#include "mathf.h"
#include "ops.h"

struct FillArgs {
	void *y;
	int64_t n;
	double v; // rounded to the element type
};

template <typename T> DEVICE void fill(const FillArgs &a) {
	T *y = (T *)a.y;
	T v = (T)a.v;
	FOR_EACH(i, a.n) { y[i] = v; }
}

KERNEL(fill_f32, FillArgs) { fill<float>(a); }
KERNEL(fill_f64, FillArgs) { fill<double>(a); }

struct ConvertArgs {
	void *y;
	const void *x;
	int64_t n;
};

template <typename To, typename From> DEVICE void convert(const ConvertArgs &a) {
	To *y = (To *)a.y;
	const From *x = (const From *)a.x;
	FOR_EACH(i, a.n) { y[i] = (To)x[i]; }
}

KERNEL(convert_f32_f64, ConvertArgs) { convert<float, double>(a); } // y float32, x float64
KERNEL(convert_f64_f32, ConvertArgs) { convert<double, float>(a); } // y float64, x float32

// Unary ----------------------------------------------------------------------

// The ops whose arithmetic is the element type's own, shared by both dtypes
// (the CPU's generic unaryKernel: note abs(-0) stays -0 there).
template <typename T> DEVICE bool unary_plain(int64_t op, T v, T *r) {
	switch (op) {
	case U_NEG: *r = -v; return true;
	case U_SQUARE: *r = v * v; return true;
	case U_RECIPROCAL: *r = (T)1 / v; return true;
	case U_ABS: *r = v < 0 ? -v : v; return true;
	case U_SIGN: *r = v > 0 ? (T)1 : (v < 0 ? (T)-1 : (v == 0 ? (T)0 : v)); return true;
	case U_STEP: *r = v > 0 ? (T)1 : (T)0; return true;
	case U_SQRT: *r = (T)__builtin_sqrt((double)v); return true;
	case U_LOG: *r = (T)d_log(v); return true;
	case U_LOG1P: *r = (T)d_log1p(v); return true;
	case U_SIN: *r = (T)d_sin(v); return true;
	case U_COS: *r = (T)d_cos(v); return true;
	}
	return false;
}

DEVICE float unary32(int64_t op, float v) {
	float r = 0;
	if (unary_plain(op, v, &r)) {
		return r;
	}
	switch (op) {
	case U_EXP: return f_exp(v);
	case U_TANH: return f_tanh(v);
	case U_SIGMOID: return f_sigmoid(v);
	case U_SOFTPLUS: return f_softplus(v);
	case U_ELU: return f_elu(v);
	case U_EXPM1: return f_expm1(v);
	}
	return __builtin_nanf("");
}

DEVICE double unary64(int64_t op, double v) {
	double r = 0;
	if (unary_plain(op, v, &r)) {
		return r;
	}
	switch (op) {
	case U_EXP: return d_exp(v);
	case U_TANH: return d_tanh(v);
	case U_SIGMOID: return d_sigmoid(v);
	case U_SOFTPLUS: return d_softplus(v);
	case U_ELU: return d_elu(v);
	case U_EXPM1: return d_expm1(v);
	}
	return D_NAN;
}

struct UnaryArgs {
	void *y;
	const void *x;
	int64_t n;
	int64_t op; // UnaryCode
};

KERNEL(unary_f32, UnaryArgs) {
	float *y = (float *)a.y;
	const float *x = (const float *)a.x;
	FOR_EACH(i, a.n) { y[i] = unary32(a.op, x[i]); }
}

KERNEL(unary_f64, UnaryArgs) {
	double *y = (double *)a.y;
	const double *x = (const double *)a.x;
	FOR_EACH(i, a.n) { y[i] = unary64(a.op, x[i]); }
}

// Binary ---------------------------------------------------------------------

// binop is the CPU's binaryScalarOp: max and min propagate a NaN in a, pow
// goes through float64.
template <typename T> DEVICE T binop(int64_t op, T a, T b) {
	switch (op) {
	case B_ADD: return a + b;
	case B_SUB: return a - b;
	case B_MUL: return a * b;
	case B_DIV: return a / b;
	case B_MAX: return (a != a || a > b) ? a : b;
	case B_MIN: return (a != a || a < b) ? a : b;
	case B_POW: return (T)d_pow((double)a, (double)b);
	case B_GREATER: return a > b ? (T)1 : (T)0;
	case B_EQUAL: return a == b ? (T)1 : (T)0;
	}
	return (T)D_NAN;
}

// BinaryArgs: y [n] = op(a, b), both read through strides over y's (merged)
// axes, innermost last; a stride of 0 broadcasts that axis.
struct BinaryArgs {
	void *y;
	const void *a;
	const void *b;
	int64_t n;
	int64_t op; // BinaryCode
	int64_t rank;
	int64_t dim[8];
	int64_t astride[8];
	int64_t bstride[8];
};

template <typename T> DEVICE void binary(const BinaryArgs &a) {
	T *y = (T *)a.y;
	const T *x0 = (const T *)a.a, *x1 = (const T *)a.b;
	FOR_EACH(i, a.n) {
		int64_t rem = i, oa = 0, ob = 0;
		for (int64_t d = a.rank - 1; d >= 0; d--) {
			int64_t q = rem / a.dim[d], k = rem - q * a.dim[d];
			oa += k * a.astride[d];
			ob += k * a.bstride[d];
			rem = q;
		}
		y[i] = binop<T>(a.op, x0[oa], x1[ob]);
	}
}

KERNEL(binary_f32, BinaryArgs) { binary<float>(a); }
KERNEL(binary_f64, BinaryArgs) { binary<double>(a); }

// ScalarArgs: y = op(x, s), or op(s, x) with first != 0; s is rounded to
// the element type first, as a one-element tensor holding it would be.
struct ScalarArgs {
	void *y;
	const void *x;
	int64_t n;
	int64_t op; // BinaryCode
	double s;
	int64_t first;
};

template <typename T> DEVICE void scalar(const ScalarArgs &a) {
	T *y = (T *)a.y;
	const T *x = (const T *)a.x;
	T s = (T)a.s;
	if (a.first) {
		FOR_EACH(i, a.n) { y[i] = binop<T>(a.op, s, x[i]); }
	} else {
		FOR_EACH(i, a.n) { y[i] = binop<T>(a.op, x[i], s); }
	}
}

KERNEL(scalar_f32, ScalarArgs) { scalar<float>(a); }
KERNEL(scalar_f64, ScalarArgs) { scalar<double>(a); }
