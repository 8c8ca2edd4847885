// float32 transcendentals, evaluated in float64 and rounded once: the
// algorithms of the CPU backend's native kernels (tensor/cpu_native.go),
// in the same operation order, so a float32 result is within 1 ulp of the
// CPU's (bit for bit where its compiler did not contract to FMA). log,
// log1p, sin, cos and sqrt of float32 go through the float64 functions of
// mathd.h, as the CPU's reference does.
#pragma once

#include "mathd.h"

// Arguments of e^x are clamped to ±104: beyond that every float32 result is
// already 0 or +Inf, and float64 stays normal.
#define F_LIM 104.0

// f_exp_core is e^x for |x| <= F_LIM: x = k·ln2 + r, |r| <= ln2/2, e^r by
// its Taylor polynomial to r^10, 2^k added to the exponent bits (k sits in
// the low bits of x/ln2 + 1.5·2^52).
DEVICE double f_exp_core(double x) {
	const double magic = 6755399441055744.0;
	double kd = x * 1.4426950408889634 + magic;
	double k = kd - magic;
	double r = x - k * 0.6931471805599453;
	double p = 1 + r * (1 + r * (1.0 / 2 + r * (1.0 / 6 + r * (1.0 / 24 + r * (1.0 / 120 + r * (1.0 / 720 + r * (1.0 / 5040 + r * (1.0 / 40320 + r * (1.0 / 362880 + r * (1.0 / 3628800))))))))));
	uint64_t ki = f64_bits(kd);
	return f64_from_bits(f64_bits(p) + (ki << 52));
}

// f_expm1_core is e^a - 1 for |a| <= F_LIM without cancellation near 0: a
// Taylor polynomial for |a| < 0.35, e^a - 1 elsewhere.
DEVICE double f_expm1_core(double a) {
	double small = a * (1 + a * (1.0 / 2 + a * (1.0 / 6 + a * (1.0 / 24 + a * (1.0 / 120 + a * (1.0 / 720 + a * (1.0 / 5040 + a * (1.0 / 40320 + a * (1.0 / 362880 + a * (1.0 / 3628800))))))))));
	double big = f_exp_core(a) - 1;
	double m = a < 0 ? -a : a;
	return m < 0.35 ? small : big;
}

DEVICE double f_clamp(double x) { return x < -F_LIM ? -F_LIM : (x > F_LIM ? F_LIM : x); }

DEVICE float f_exp(float xf) {
	double v = xf;
	double r = f_exp_core(f_clamp(v));
	return (float)(v != v ? v : r);
}

DEVICE float f_sigmoid(float xf) {
	double v = xf, a = v < 0 ? -v : v;
	double t = f_exp_core(-(a < F_LIM ? a : F_LIM)), q = 1 / (1 + t);
	double r = v >= 0 ? q : t * q;
	return (float)(v != v ? v : r);
}

// f_softplus is max(x,0) + log1p(t), t = e^-|x|, with log1p(t) = 2·atanh(u),
// u = t/(2+t), by its odd series to u^13.
DEVICE float f_softplus(float xf) {
	double v = xf, a = v < 0 ? -v : v;
	double t = f_exp_core(-(a < F_LIM ? a : F_LIM));
	double u = t / (2 + t), u2 = u * u;
	double q = u2 * (1.0 / 3 + u2 * (1.0 / 5 + u2 * (1.0 / 7 + u2 * (1.0 / 9 + u2 * (1.0 / 11 + u2 * (1.0 / 13))))));
	double r = (v > 0 ? v : 0) + 2 * u * (1 + q);
	return (float)(v != v ? v : r);
}

// f_tanh is sign(x)·u/(u+2) with u = expm1(2|x|).
DEVICE float f_tanh(float xf) {
	double v = xf, a = v < 0 ? -v : v;
	double u = f_expm1_core(2 * (a < F_LIM / 2 ? a : F_LIM / 2));
	double r = u / (u + 2);
	r = v < 0 ? -r : r;
	return (float)(v != v ? v : (v == 0 ? v : r));
}

DEVICE float f_elu(float xf) {
	double v = xf;
	double e = f_expm1_core(v > -F_LIM ? (v < 0 ? v : 0) : -F_LIM);
	return (float)(v > 0 ? v : (v != v ? v : (v == 0 ? v : e)));
}

DEVICE float f_expm1(float xf) {
	double v = xf;
	double r = f_expm1_core(f_clamp(v));
	return (float)(v != v ? v : (v == 0 ? v : r));
}
