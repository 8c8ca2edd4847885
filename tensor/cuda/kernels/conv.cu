// Convolution helpers (im2col and its adjoint col2im, around cuBLAS GEMMs)
// and average pooling. Every kernel writes each output element from one
// thread, gathering its inputs: adjoints sum over the outputs that read an
// input instead of scattering with atomics, in the CPU backend's order.
#include "cuda.h"

// ConvGeom: m samples of x [m,c,h,w], kernel kh×kw, output oh×ow, stride
// (sh, sw), padding (ph, pw), dilation (dh, dw). The column matrix is
// col [c*kh*kw, m*oh*ow]: row (ch,i,j), column s*oh*ow + p.
struct ConvGeom {
	int64_t m, c, h, w, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw;
};

struct Im2colArgs {
	void *col;
	const void *x;
	ConvGeom g;
};

template <typename T> DEVICE void im2col(const Im2colArgs &a) {
	const ConvGeom &g = a.g;
	T *col = (T *)a.col;
	const T *x = (const T *)a.x;
	int64_t P = g.oh * g.ow, ld = g.m * P, taps = g.kh * g.kw;
	FOR_EACH(e, g.c * taps * ld) {
		int64_t row = e / ld, cidx = e - row * ld;
		int64_t s = cidx / P, p = cidx - s * P;
		int64_t ch = row / taps, t = row - ch * taps, i = t / g.kw, j = t - i * g.kw;
		int64_t ih = (p / g.ow) * g.sh - g.ph + i * g.dh, iw = (p % g.ow) * g.sw - g.pw + j * g.dw;
		bool in = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
		col[e] = in ? x[((s * g.c + ch) * g.h + ih) * g.w + iw] : (T)0;
	}
}

KERNEL(im2col_f32, Im2colArgs) { im2col<float>(a); }
KERNEL(im2col_f64, Im2colArgs) { im2col<double>(a); }

// conv_out returns the output index o with o*stride - pad + tap*dil == in,
// or -1 when there is none inside [0, out).
DEVICE int64_t conv_out(int64_t in, int64_t tap, int64_t stride, int64_t pad, int64_t dil, int64_t out) {
	int64_t t = in + pad - tap * dil;
	if (t < 0 || t % stride != 0 || t / stride >= out) {
		return -1;
	}
	return t / stride;
}

struct Col2imArgs {
	void *dx;
	const void *col;
	ConvGeom g;
};

// col2im overwrites dx [m,c,h,w] with the sum of the column entries that
// im2col reads from each position, taps in (i, j) order as the CPU adds them.
template <typename T> DEVICE void col2im(const Col2imArgs &a) {
	const ConvGeom &g = a.g;
	T *dx = (T *)a.dx;
	const T *col = (const T *)a.col;
	int64_t P = g.oh * g.ow, ld = g.m * P;
	FOR_EACH(e, g.m * g.c * g.h * g.w) {
		int64_t iw = e % g.w, ih = (e / g.w) % g.h, u = e / (g.w * g.h);
		int64_t s = u / g.c, ch = u - s * g.c;
		T sum = 0;
		for (int64_t i = 0; i < g.kh; i++) {
			int64_t oh = conv_out(ih, i, g.sh, g.ph, g.dh, g.oh);
			if (oh < 0) {
				continue;
			}
			for (int64_t j = 0; j < g.kw; j++) {
				int64_t ow = conv_out(iw, j, g.sw, g.pw, g.dw, g.ow);
				if (ow >= 0) {
					sum += col[((ch * g.kh + i) * g.kw + j) * ld + s * P + oh * g.ow + ow];
				}
			}
		}
		dx[e] = sum;
	}
}

KERNEL(col2im_f32, Col2imArgs) { col2im<float>(a); }
KERNEL(col2im_f64, Col2imArgs) { col2im<double>(a); }

// PoolArgs: planes planes of h×w in x, oh×ow in y, square window k,
// stride s, padding pad (padded positions count as zeros: the divisor is
// always k²).
struct PoolArgs {
	void *y;
	const void *x;
	int64_t planes, h, w, oh, ow, k, s, pad;
};

template <typename T> DEVICE void avgpool(const PoolArgs &a) {
	T *y = (T *)a.y;
	const T *x = (const T *)a.x;
	T inv = (T)1 / (T)(a.k * a.k);
	FOR_EACH(e, a.planes * a.oh * a.ow) {
		int64_t ow = e % a.ow, oh = (e / a.ow) % a.oh, u = e / (a.ow * a.oh);
		int64_t h0 = oh * a.s - a.pad, w0 = ow * a.s - a.pad;
		int64_t h1 = h0 + a.k < a.h ? h0 + a.k : a.h, w1 = w0 + a.k < a.w ? w0 + a.k : a.w;
		const T *plane = x + u * a.h * a.w;
		T sum = 0;
		for (int64_t ih = h0 < 0 ? 0 : h0; ih < h1; ih++) {
			for (int64_t iw = w0 < 0 ? 0 : w0; iw < w1; iw++) {
				sum += plane[ih * a.w + iw];
			}
		}
		y[e] = sum * inv;
	}
}

KERNEL(avgpool_f32, PoolArgs) { avgpool<float>(a); }
KERNEL(avgpool_f64, PoolArgs) { avgpool<double>(a); }

// pool_first returns the first output index whose window [o*s - pad,
// o*s - pad + k) reaches position i, and pool_last the last one (clipped
// to [0, out)).
DEVICE int64_t pool_first(int64_t i, int64_t k, int64_t s, int64_t pad) {
	int64_t t = i + pad - k + 1;
	return t <= 0 ? 0 : (t + s - 1) / s;
}

DEVICE int64_t pool_last(int64_t i, int64_t s, int64_t pad, int64_t out) {
	int64_t t = (i + pad) / s;
	return t < out - 1 ? t : out - 1;
}

// avgpool_adjoint: x is gy [planes, oh, ow], y is dx [planes, h, w].
template <typename T> DEVICE void avgpool_adjoint(const PoolArgs &a) {
	T *dx = (T *)a.y;
	const T *gy = (const T *)a.x;
	T inv = (T)1 / (T)(a.k * a.k);
	FOR_EACH(e, a.planes * a.h * a.w) {
		int64_t iw = e % a.w, ih = (e / a.w) % a.h, u = e / (a.w * a.h);
		const T *plane = gy + u * a.oh * a.ow;
		int64_t oh1 = pool_last(ih, a.s, a.pad, a.oh), ow0 = pool_first(iw, a.k, a.s, a.pad);
		int64_t ow1 = pool_last(iw, a.s, a.pad, a.ow);
		T sum = 0;
		for (int64_t oh = pool_first(ih, a.k, a.s, a.pad); oh <= oh1; oh++) {
			for (int64_t ow = ow0; ow <= ow1; ow++) {
				sum += plane[oh * a.ow + ow] * inv;
			}
		}
		dx[e] = sum;
	}
}

KERNEL(avgpool_adjoint_f32, PoolArgs) { avgpool_adjoint<float>(a); }
KERNEL(avgpool_adjoint_f64, PoolArgs) { avgpool_adjoint<double>(a); }
