// float64 elementary functions for the kernels, with the algorithms of the
// engine's CPU backend (Go's math package: FreeBSD msun and Cephes) and the
// same operation order, so the two agree to about 1 ulp, and bit for bit
// where Go runs its portable code. No libm: builtins only for sqrt and
// fabs, which are exact.
//
// Log follows the amd64 assembly Go uses there (f1 <= √2/2 halves the
// mantissa); Sincos and Log are the transforms of the Box-Muller draws,
// which must match the CPU bit for bit (kernels/random.cu). Exp follows
// Go's portable code: on amd64 Go's own Exp is an assembly variant whose
// result depends on FMA support, so no bitwise agreement is possible there.
#pragma once

#include "cuda.h"

#define D_INF __builtin_inf()
#define D_NAN __builtin_nan("")
#define D_SHIFT 52
#define D_MASK 0x7ffull
#define D_BIAS 1023

// Go semantics for shifts of 64 or more (the result is 0, not undefined).
DEVICE uint64_t shl64(uint64_t x, unsigned n) { return n >= 64 ? 0 : x << n; }
DEVICE uint64_t shr64(uint64_t x, unsigned n) { return n >= 64 ? 0 : x >> n; }

DEVICE double d_copysign(double x, double s) {
	return f64_from_bits((f64_bits(x) & ~(1ull << 63)) | (f64_bits(s) & (1ull << 63)));
}

// d_normalize scales a subnormal x into the normal range, returning the
// power of two taken out.
DEVICE double d_normalize(double x, int *exp) {
	*exp = 0;
	if (__builtin_fabs(x) < 2.2250738585072014e-308) {
		*exp = -52;
		return x * 4503599627370496.0; // 2^52
	}
	return x;
}

// d_frexp splits f into a fraction in [½, 1) and a power of two.
DEVICE double d_frexp(double f, int *exp) {
	*exp = 0;
	if (f == 0 || f != f || __builtin_fabs(f) == D_INF) {
		return f;
	}
	f = d_normalize(f, exp);
	uint64_t x = f64_bits(f);
	*exp += (int)((x >> D_SHIFT) & D_MASK) - D_BIAS + 1;
	x &= ~(D_MASK << D_SHIFT);
	x |= (uint64_t)(D_BIAS - 1) << D_SHIFT;
	return f64_from_bits(x);
}

// d_ldexp returns frac·2^exp, rounding subnormal results once.
DEVICE double d_ldexp(double frac, int exp) {
	if (frac == 0 || frac != frac || __builtin_fabs(frac) == D_INF) {
		return frac;
	}
	int e;
	frac = d_normalize(frac, &e);
	exp += e;
	uint64_t x = f64_bits(frac);
	exp += (int)((x >> D_SHIFT) & D_MASK) - D_BIAS;
	if (exp < -1075) {
		return d_copysign(0, frac);
	}
	if (exp > 1023) {
		return frac < 0 ? -D_INF : D_INF;
	}
	double m = 1;
	if (exp < -1022) {
		exp += 53;
		m = 1.0 / 9007199254740992.0; // 2^-53
	}
	x &= ~(D_MASK << D_SHIFT);
	x |= (uint64_t)(exp + D_BIAS) << D_SHIFT;
	return m * f64_from_bits(x);
}

// d_modf splits f >= 0 into its integer and fractional parts.
DEVICE double d_modf_pos(double f, double *ipart) {
	if (f < 1) {
		*ipart = 0;
		return f;
	}
	uint64_t x = f64_bits(f);
	unsigned e = (unsigned)((x >> D_SHIFT) & D_MASK) - D_BIAS;
	if (e < 64 - 12) {
		x &= ~((1ull << (64 - 12 - e)) - 1);
	}
	*ipart = f64_from_bits(x);
	return f - *ipart;
}

// exp ------------------------------------------------------------------------

// d_expmulti returns e^r·2^k for r = hi - lo, |r| <= ln2/2 (a rational
// approximation of e^r with a degree-5 polynomial in r²).
DEVICE double d_expmulti(double hi, double lo, int k) {
	const double P1 = 1.66666666666666657415e-01, P2 = -2.77777777770155933842e-03,
		     P3 = 6.61375632143793436117e-05, P4 = -1.65339022054652515390e-06,
		     P5 = 4.13813679705723846039e-08;
	double r = hi - lo;
	double t = r * r;
	double c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
	double y = 1 - ((lo - (r * c) / (2 - c)) - hi);
	return d_ldexp(y, k);
}

DEVICE double d_exp(double x) {
	const double Ln2Hi = 6.93147180369123816490e-01, Ln2Lo = 1.90821492927058770002e-10,
		     Log2e = 1.44269504088896338700e+00;
	if (x != x) {
		return x;
	}
	if (x > 7.09782712893383973096e+02) {
		return D_INF;
	}
	if (x < -7.45133219101941108420e+02) {
		return 0;
	}
	if (-3.725290298461914e-09 < x && x < 3.725290298461914e-09) { // |x| < 2^-28
		return 1 + x;
	}
	int k = 0;
	if (x < 0) {
		k = (int)(Log2e * x - 0.5);
	} else if (x > 0) {
		k = (int)(Log2e * x + 0.5);
	}
	double hi = x - (double)k * Ln2Hi;
	double lo = (double)k * Ln2Lo;
	return d_expmulti(hi, lo, k);
}

// log ------------------------------------------------------------------------

DEVICE double d_log(double x) {
	const double Ln2Hi = 6.93147180369123816490e-01, Ln2Lo = 1.90821492927058770002e-10,
		     L1 = 6.666666666666735130e-01, L2 = 3.999999999940941908e-01,
		     L3 = 2.857142874366239149e-01, L4 = 2.222219843214978396e-01,
		     L5 = 1.818357216161805012e-01, L6 = 1.531383769920937332e-01,
		     L7 = 1.479819860511658591e-01, HSqrt2 = 7.07106781186547524401e-01;
	if (x != x || x == D_INF) {
		return x;
	}
	if (x == 0) {
		return -D_INF;
	}
	if (x < 0) {
		return D_NAN;
	}
	int ki;
	double f1 = d_frexp(x, &ki);
	double k = (double)ki;
	if (f1 <= HSqrt2) {
		k -= 1;
		f1 *= 2;
	}
	double f = f1 - 1;
	double s = f / (2 + f);
	double s2 = s * s;
	double s4 = s2 * s2;
	double t1 = s2 * (L1 + s4 * (L3 + s4 * (L5 + s4 * L7)));
	double t2 = s4 * (L2 + s4 * (L4 + s4 * L6));
	double R = t1 + t2;
	double hfsq = 0.5 * f * f;
	return k * Ln2Hi - ((hfsq - (s * (hfsq + R) + k * Ln2Lo)) - f);
}

// d_log1p_reduce splits 1+x = 2^k·u with √2/2 < u < √2 and returns f = u-1,
// with c the rounding error of 1+x divided by u and iu the mantissa bits
// of u (0 when |f| < 2^-20 makes the short series enough).
DEVICE double d_log1p_reduce(double x, int *k, double *c, uint64_t *iu) {
	double u;
	*c = 0;
	if (__builtin_fabs(x) < 9007199254740992.0) { // 2^53
		u = 1.0 + x;
		*iu = f64_bits(u);
		*k = (int)((int64_t)(*iu >> 52) - 1023);
		*c = *k > 0 ? 1.0 - (u - x) : x - (u - 1.0);
		*c /= u;
	} else {
		u = x;
		*iu = f64_bits(u);
		*k = (int)((int64_t)(*iu >> 52) - 1023);
	}
	*iu &= 0x000fffffffffffffull;
	if (*iu < 0x0006a09e667f3bcdull) { // mantissa of √2
		u = f64_from_bits(*iu | 0x3ff0000000000000ull);
	} else {
		*k += 1;
		u = f64_from_bits(*iu | 0x3fe0000000000000ull);
		*iu = (0x0010000000000000ull - *iu) >> 2;
	}
	return u - 1.0;
}

DEVICE double d_log1p(double x) {
	const double Ln2Hi = 6.93147180369123816490e-01, Ln2Lo = 1.90821492927058770002e-10,
		     Lp1 = 6.666666666666735130e-01, Lp2 = 3.999999999940941908e-01,
		     Lp3 = 2.857142874366239149e-01, Lp4 = 2.222219843214978396e-01,
		     Lp5 = 1.818357216161805012e-01, Lp6 = 1.531383769920937332e-01,
		     Lp7 = 1.479819860511658591e-01;
	if (x < -1 || x != x) {
		return D_NAN;
	}
	if (x == -1) {
		return -D_INF;
	}
	if (x == D_INF) {
		return D_INF;
	}
	double absx = __builtin_fabs(x), f = 0, c = 0;
	uint64_t iu = 0;
	int k = 1;
	if (absx < 4.142135623730950488017e-01) { // √2 - 1
		if (absx < 1.862645149230957e-09) { // 2^-29
			if (absx < 5.551115123125783e-17) { // 2^-54
				return x;
			}
			return x - x * x * 0.5;
		}
		if (x > -2.928932188134524755992e-01) { // √2/2 - 1
			k = 0;
			f = x;
			iu = 1;
		}
	}
	if (k != 0) {
		f = d_log1p_reduce(x, &k, &c, &iu);
	}
	double hfsq = 0.5 * f * f;
	double dk = (double)k;
	if (iu == 0) { // |f| < 2^-20
		if (f == 0) {
			if (k == 0) {
				return 0;
			}
			c += dk * Ln2Lo;
			return dk * Ln2Hi + c;
		}
		double R = hfsq * (1.0 - 0.66666666666666666 * f);
		if (k == 0) {
			return f - R;
		}
		return dk * Ln2Hi - ((R - (dk * Ln2Lo + c)) - f);
	}
	double s = f / (2.0 + f);
	double z = s * s;
	double R = z * (Lp1 + z * (Lp2 + z * (Lp3 + z * (Lp4 + z * (Lp5 + z * (Lp6 + z * Lp7))))));
	if (k == 0) {
		return f - (hfsq - s * (hfsq + R));
	}
	return dk * Ln2Hi - ((hfsq - (s * (hfsq + R) + (dk * Ln2Lo + c))) - f);
}

// expm1 ----------------------------------------------------------------------

// d_expm1_reduce reduces |x| > ln2/2 to x = k·ln2 + r, returning r with its
// rounding correction c.
DEVICE double d_expm1_reduce(double x, int *k, double *c) {
	const double Ln2Hi = 6.93147180369123816490e-01, Ln2Lo = 1.90821492927058770002e-10,
		     InvLn2 = 1.44269504088896338700e+00;
	double hi, lo;
	if (__builtin_fabs(x) < 1.03972077083991796413e+00) { // 1.5·ln2
		if (x >= 0) {
			hi = x - Ln2Hi;
			lo = Ln2Lo;
			*k = 1;
		} else {
			hi = x + Ln2Hi;
			lo = -Ln2Lo;
			*k = -1;
		}
	} else {
		*k = x >= 0 ? (int)(InvLn2 * x + 0.5) : (int)(InvLn2 * x - 0.5);
		double t = (double)*k;
		hi = x - t * Ln2Hi;
		lo = t * Ln2Lo;
	}
	double r = hi - lo;
	*c = (hi - r) - lo;
	return r;
}

// d_expm1_scale rebuilds e^x - 1 from the reduced r, its correction term e
// and k (FreeBSD s_expm1.c's final cases).
DEVICE double d_expm1_scale(double x, double e, int k) {
	if (k == -1) {
		return 0.5 * (x - e) - 0.5;
	}
	if (k == 1) {
		if (x < -0.25) {
			return -2 * (e - (x + 0.5));
		}
		return 1 + 2 * (x - e);
	}
	if (k <= -2 || k > 56) {
		double y = 1 - (e - x);
		y = f64_from_bits(f64_bits(y) + ((uint64_t)(int64_t)k << 52));
		return y - 1;
	}
	if (k < 20) {
		double t = f64_from_bits(0x3ff0000000000000ull - (0x20000000000000ull >> k)); // 1 - 2^-k
		double y = t - (e - x);
		return f64_from_bits(f64_bits(y) + ((uint64_t)k << 52));
	}
	double t = f64_from_bits((uint64_t)(0x3ff - k) << 52); // 2^-k
	double y = x - (e + t);
	y += 1;
	return f64_from_bits(f64_bits(y) + ((uint64_t)k << 52));
}

DEVICE double d_expm1(double x) {
	const double Q1 = -3.33333333333331316428e-02, Q2 = 1.58730158725481460165e-03,
		     Q3 = -7.93650757867487942473e-05, Q4 = 4.00821782732936239552e-06,
		     Q5 = -2.01099218183624371326e-07;
	if (x == D_INF || x != x) {
		return x;
	}
	if (x == -D_INF) {
		return -1;
	}
	double absx = __builtin_fabs(x);
	if (absx >= 3.88162421113569373274e+01) { // 56·ln2
		if (x < 0) {
			return -1;
		}
		if (absx >= 7.09782712893383973096e+02) {
			return D_INF;
		}
	}
	double c = 0;
	int k = 0;
	if (absx > 3.46573590279972654709e-01) { // ln2/2
		x = d_expm1_reduce(x, &k, &c);
	} else if (absx < 5.551115123125783e-17) { // 2^-54
		return x;
	}
	double hfx = 0.5 * x;
	double hxs = x * hfx;
	double r1 = 1 + hxs * (Q1 + hxs * (Q2 + hxs * (Q3 + hxs * (Q4 + hxs * Q5))));
	double t = 3 - r1 * hfx;
	double e = hxs * ((r1 - t) / (6.0 - x * t));
	if (k == 0) {
		return x - (x * e - hxs);
	}
	e = (x * (e - c) - c);
	e -= hxs;
	return d_expm1_scale(x, e, k);
}

// tanh, sigmoid, softplus, elu ---------------------------------------------

DEVICE double d_tanh(double x) {
	const double P0 = -9.64399179425052238628e-1, P1 = -9.92877231001918586564e1,
		     P2 = -1.61468768441708447952e3, Q0 = 1.12811678491632931402e2,
		     Q1 = 2.23548839060100448583e3, Q2 = 4.84406305325125486048e3;
	double z = __builtin_fabs(x);
	if (z > 0.5 * 8.8029691931113054295988e+01) { // ½·ln(2^127)
		return x < 0 ? -1 : 1;
	}
	if (z >= 0.625) {
		double s = d_exp(2 * z);
		z = 1 - 2 / (s + 1);
		return x < 0 ? -z : z;
	}
	if (x == 0) {
		return x;
	}
	double s = x * x;
	return x + x * s * ((P0 * s + P1) * s + P2) / (((s + Q0) * s + Q1) * s + Q2);
}

// The CPU's sigmoid64, softplus64 and elu64 (tensor/cpu_unary.go).
DEVICE double d_sigmoid(double x) {
	if (x >= 0) {
		return 1 / (1 + d_exp(-x));
	}
	double e = d_exp(x);
	return e / (1 + e);
}

DEVICE double d_softplus(double x) {
	if (x == D_INF) {
		return x;
	}
	double pos = x != x ? x : (x > 0 ? x : 0);
	return pos + d_log1p(d_exp(-__builtin_fabs(x)));
}

DEVICE double d_elu(double x) { return x > 0 ? x : d_expm1(x); }

// sin, cos -------------------------------------------------------------------

// The bits of 4/π, for the Payne-Hanek reduction of huge arguments.
CONSTANT static const uint64_t d_mpi4[20] = {
	0x0000000000000001ull, 0x45f306dc9c882a53ull, 0xf84eafa3ea69bb81ull, 0xb6c52b3278872083ull,
	0xfca2c757bd778ac3ull, 0x6e48dc74849ba5c0ull, 0x0c925dd413a32439ull, 0xfc3bd63962534e7dull,
	0xd1046bea5d768909ull, 0xd338e04d68befc82ull, 0x7323ac7306a673e9ull, 0x3908bf177bf25076ull,
	0x3ff12fffbc0b301full, 0xde5e2316b414da3eull, 0xda6cfd9e4f96136eull, 0x9e8c7ecd3cbfd45aull,
	0xea4f758fd7cbe2f6ull, 0x7a0e73ef14a525d4ull, 0xd7f6bf623f1aba10ull, 0xac06608df8f6d757ull,
};

// d_mul64 returns the 128-bit product of a and b as (hi, lo), in 32-bit
// halves so it needs no 128-bit integer type.
DEVICE uint64_t d_mul64(uint64_t a, uint64_t b, uint64_t *lo) {
	uint64_t a0 = a & 0xffffffffull, a1 = a >> 32, b0 = b & 0xffffffffull, b1 = b >> 32;
	uint64_t w0 = a0 * b0;
	uint64_t t = a1 * b0 + (w0 >> 32);
	uint64_t w1 = (t & 0xffffffffull) + a0 * b1;
	*lo = a * b;
	return a1 * b1 + (t >> 32) + (w1 >> 32);
}

DEVICE unsigned d_clz64(uint64_t x) { return x == 0 ? 64 : (unsigned)__builtin_clzll(x); }

// d_trig_reduce returns x mod π/4 (as z) and the octant j, for x >= 2^29,
// multiplying x's mantissa by the bits of 4/π that matter at its exponent.
DEVICE double d_trig_reduce(double x, uint64_t *j) {
	const double PI4 = 3.14159265358979323846264338327950288419716939937510582097494459 / 4;
	if (x < PI4) {
		*j = 0;
		return x;
	}
	uint64_t ix = f64_bits(x);
	int exp = (int)((ix >> D_SHIFT) & D_MASK) - D_BIAS - D_SHIFT;
	ix &= ~(D_MASK << D_SHIFT);
	ix |= 1ull << D_SHIFT;
	unsigned digit = (unsigned)(exp + 61) / 64, bitshift = (unsigned)(exp + 61) % 64;
	uint64_t z0 = shl64(d_mpi4[digit], bitshift) | shr64(d_mpi4[digit + 1], 64 - bitshift);
	uint64_t z1 = shl64(d_mpi4[digit + 1], bitshift) | shr64(d_mpi4[digit + 2], 64 - bitshift);
	uint64_t z2 = shl64(d_mpi4[digit + 2], bitshift) | shr64(d_mpi4[digit + 3], 64 - bitshift);
	uint64_t unused, z1lo;
	uint64_t z2hi = d_mul64(z2, ix, &unused);
	uint64_t z1hi = d_mul64(z1, ix, &z1lo);
	uint64_t z0lo = z0 * ix;
	uint64_t lo = z1lo + z2hi;
	uint64_t hi = z0lo + z1hi + (lo < z1lo ? 1 : 0);
	*j = hi >> 61;
	hi = hi << 3 | lo >> 61;
	unsigned lz = d_clz64(hi);
	uint64_t e = (uint64_t)(D_BIAS - (lz + 1));
	hi = shl64(hi, lz + 1) | shr64(lo, 64 - (lz + 1));
	hi >>= 64 - D_SHIFT;
	hi |= e << D_SHIFT;
	double z = f64_from_bits(hi);
	if (*j & 1) {
		*j = (*j + 1) & 7;
		z--;
	}
	return z * PI4;
}

// d_octant reduces x >= 0 to z in [-π/4, π/4] and its octant j (0..7).
DEVICE double d_octant(double x, uint64_t *j) {
	const double PI4A = 7.85398125648498535156e-1, PI4B = 3.77489470793079817668e-8,
		     PI4C = 2.69515142907905952645e-15;
	const double FourOverPi = 4 / 3.14159265358979323846264338327950288419716939937510582097494459;
	if (x >= 536870912.0) { // 2^29
		return d_trig_reduce(x, j);
	}
	*j = (uint64_t)(x * FourOverPi);
	double y = (double)*j;
	if (*j & 1) {
		*j += 1;
		y += 1;
	}
	*j &= 7;
	return ((x - y * PI4A) - y * PI4B) - y * PI4C;
}

DEVICE double d_sin_poly(double z, double zz) {
	const double S0 = 1.58962301576546568060e-10, S1 = -2.50507477628578072866e-8,
		     S2 = 2.75573136213857245213e-6, S3 = -1.98412698295895385996e-4,
		     S4 = 8.33333333332211858878e-3, S5 = -1.66666666666666307295e-1;
	return z + z * zz * ((((((S0 * zz) + S1) * zz + S2) * zz + S3) * zz + S4) * zz + S5);
}

DEVICE double d_cos_poly(double zz) {
	const double C0 = -1.13585365213876817300e-11, C1 = 2.08757008419747316778e-9,
		     C2 = -2.75573141792967388112e-7, C3 = 2.48015872888517045348e-5,
		     C4 = -1.38888888888730564116e-3, C5 = 4.16666666666665929218e-2;
	return 1.0 - 0.5 * zz + zz * zz * ((((((C0 * zz) + C1) * zz + C2) * zz + C3) * zz + C4) * zz + C5);
}

DEVICE void d_sincos(double x, double *s, double *c) {
	if (x == 0) {
		*s = x;
		*c = 1;
		return;
	}
	if (x != x || __builtin_fabs(x) == D_INF) {
		*s = *c = D_NAN;
		return;
	}
	bool sinNeg = false, cosNeg = false;
	if (x < 0) {
		x = -x;
		sinNeg = true;
	}
	uint64_t j;
	double z = d_octant(x, &j);
	if (j > 3) {
		j -= 4;
		sinNeg = !sinNeg;
		cosNeg = !cosNeg;
	}
	if (j > 1) {
		cosNeg = !cosNeg;
	}
	double zz = z * z;
	double cv = d_cos_poly(zz), sv = d_sin_poly(z, zz);
	if (j == 1 || j == 2) {
		double t = sv;
		sv = cv;
		cv = t;
	}
	*s = sinNeg ? -sv : sv;
	*c = cosNeg ? -cv : cv;
}

DEVICE double d_sin(double x) {
	if (x == 0 || x != x) {
		return x;
	}
	if (__builtin_fabs(x) == D_INF) {
		return D_NAN;
	}
	bool neg = false;
	if (x < 0) {
		x = -x;
		neg = true;
	}
	uint64_t j;
	double z = d_octant(x, &j);
	if (j > 3) {
		neg = !neg;
		j -= 4;
	}
	double zz = z * z;
	double y = (j == 1 || j == 2) ? d_cos_poly(zz) : d_sin_poly(z, zz);
	return neg ? -y : y;
}

DEVICE double d_cos(double x) {
	if (x != x || __builtin_fabs(x) == D_INF) {
		return D_NAN;
	}
	bool neg = false;
	uint64_t j;
	double z = d_octant(__builtin_fabs(x), &j);
	if (j > 3) {
		j -= 4;
		neg = !neg;
	}
	if (j > 1) {
		neg = !neg;
	}
	double zz = z * z;
	double y = (j == 1 || j == 2) ? d_sin_poly(z, zz) : d_cos_poly(zz);
	return neg ? -y : y;
}

// pow ------------------------------------------------------------------------

DEVICE bool d_is_odd_int(double x) {
	if (__builtin_fabs(x) >= 9007199254740992.0) {
		return false;
	}
	double xi, xf = d_modf_pos(__builtin_fabs(x), &xi);
	return xf == 0 && ((int64_t)xi & 1) == 1;
}

// d_pow_special handles the IEEE special cases of x^y; it returns true with
// the result in *r, or false for the general case (finite x > 0 or x < 0
// with any finite y).
DEVICE bool d_pow_special(double x, double y, double *r) {
	bool signx = (f64_bits(x) >> 63) != 0;
	if (y == 0 || x == 1) {
		*r = 1;
	} else if (y == 1) {
		*r = x;
	} else if (x != x || y != y) {
		*r = D_NAN;
	} else if (x == 0) {
		if (y < 0) {
			*r = signx && d_is_odd_int(y) ? -D_INF : D_INF;
		} else {
			*r = signx && d_is_odd_int(y) ? x : 0;
		}
	} else if (__builtin_fabs(y) == D_INF) {
		if (x == -1) {
			*r = 1;
		} else {
			*r = (__builtin_fabs(x) < 1) == (y > 0) ? 0 : D_INF;
		}
	} else if (x == D_INF) {
		*r = y < 0 ? 0 : D_INF;
	} else if (y == 0.5) {
		*r = __builtin_sqrt(x);
	} else if (y == -0.5) {
		*r = 1 / __builtin_sqrt(x);
	} else {
		return false;
	}
	return true;
}

// d_pow: x^y as Go's math.Pow computes it: e^(yf·log x) for the fractional
// part of y (|yf| <= ½) times x^yi by repeated squaring of x's mantissa,
// with the powers of two kept apart until the end.
DEVICE double d_pow(double x, double y) {
	if (x == -D_INF) { // (-∞)^y = (-0)^-y
		x = -0.0;
		y = -y;
	}
	double r;
	if (d_pow_special(x, y, &r)) {
		return r;
	}
	double yi, yf = d_modf_pos(__builtin_fabs(y), &yi);
	if (yf != 0 && x < 0) {
		return D_NAN;
	}
	if (yi >= 9223372036854775808.0) { // 2^63
		if (x == -1) {
			return 1;
		}
		return (__builtin_fabs(x) < 1) == (y > 0) ? 0 : D_INF;
	}
	double a1 = 1.0;
	int ae = 0;
	if (yf != 0) {
		if (yf > 0.5) {
			yf--;
			yi++;
		}
		a1 = d_exp(yf * d_log(x));
	}
	int xe;
	double x1 = d_frexp(x, &xe);
	for (int64_t i = (int64_t)yi; i != 0; i >>= 1) {
		if (xe < -(1 << 12) || (1 << 12) < xe) {
			ae += xe;
			break;
		}
		if ((i & 1) == 1) {
			a1 *= x1;
			ae += xe;
		}
		x1 *= x1;
		xe <<= 1;
		if (x1 < .5) {
			x1 += x1;
			xe--;
		}
	}
	if (y < 0) {
		a1 = 1 / a1;
		ae = -ae;
	}
	return d_ldexp(a1, ae);
}
