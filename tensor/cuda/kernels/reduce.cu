// Reductions in a fixed order, whatever the launch shape: each output's
// input range is cut into chunks of a fixed size; one thread reduces one
// chunk of one output into a float64 partial, and further passes (the same
// kernel over the partials) combine them until one value per output is
// left. No atomics, so results are deterministic.
#include "cuda.h"
#include "ops.h"

DEVICE double reduce_identity(int64_t op) {
	return op == R_MAX ? -__builtin_inf() : (op == R_MIN ? __builtin_inf() : 0.0);
}

// reduce_combine is the CPU's combine: a NaN wins max and min.
DEVICE double reduce_combine(int64_t op, double acc, double v) {
	switch (op) {
	case R_MAX: return (v > acc || v != v) ? v : acc;
	case R_MIN: return (v < acc || v != v) ? v : acc;
	}
	return acc + v;
}

// ReduceArgs: x is viewed as kept axes (kdim, kstride: nk of them, their
// product nout) and reduced axes (rdim, rstride: nr of them, product nred),
// strides in elements of x. out[o*nchunk + c] receives the reduction of
// chunk c (chunk elements of the reduced range) of output o, as float64,
// or as float32 when out_f32 is set (the last pass into a float32 tensor).
struct ReduceArgs {
	void *out;
	const void *x;
	int64_t out_f32;
	int64_t nout;
	int64_t nred;
	int64_t chunk;
	int64_t nchunk;
	int64_t op; // ReduceCode
	int64_t nk;
	int64_t nr;
	int64_t kdim[4];
	int64_t kstride[4];
	int64_t rdim[4];
	int64_t rstride[4];
};

// reduce_offset returns the element offset of flat index k over dims/strides
// and leaves its multi-index in idx.
DEVICE int64_t reduce_offset(int64_t k, int64_t n, const int64_t *dim, const int64_t *stride, int64_t *idx) {
	int64_t off = 0;
	for (int64_t d = n - 1; d >= 0; d--) {
		int64_t q = k / dim[d];
		idx[d] = k - q * dim[d];
		off += idx[d] * stride[d];
		k = q;
	}
	return off;
}

template <typename T> DEVICE void reduce(const ReduceArgs &a) {
	const T *x = (const T *)a.x;
	// Neighbouring threads take neighbouring outputs of one chunk, so that
	// a reduction over outer axes (a bias gradient) reads coalesced rows.
	FOR_EACH(w, a.nout * a.nchunk) {
		int64_t c = w / a.nout, o = w - c * a.nout;
		int64_t kidx[4], ridx[4];
		int64_t base = reduce_offset(o, a.nk, a.kdim, a.kstride, kidx);
		int64_t lo = c * a.chunk, hi = lo + a.chunk < a.nred ? lo + a.chunk : a.nred;
		int64_t off = base + reduce_offset(lo, a.nr, a.rdim, a.rstride, ridx);
		double acc = reduce_identity(a.op);
		for (int64_t r = lo; r < hi; r++) {
			acc = reduce_combine(a.op, acc, (double)x[off]);
			// Step the reduced odometer, innermost axis first.
			for (int64_t d = a.nr - 1; d >= 0; d--) {
				off += a.rstride[d];
				if (++ridx[d] < a.rdim[d]) {
					break;
				}
				off -= a.rdim[d] * a.rstride[d];
				ridx[d] = 0;
			}
		}
		if (a.out_f32) {
			((float *)a.out)[o * a.nchunk + c] = (float)acc;
		} else {
			((double *)a.out)[o * a.nchunk + c] = acc;
		}
	}
}

KERNEL(reduce_f32, ReduceArgs) { reduce<float>(a); }
KERNEL(reduce_f64, ReduceArgs) { reduce<double>(a); }

// SumSqArgs: the tensors are described by desc, ndesc triples (pointer,
// element count, index of its first chunk), in order; part[c] receives the
// float64 sum of squares of chunk c (chunk elements of one tensor).
struct SumSqArgs {
	void *part;
	const void *desc;
	int64_t ndesc;
	int64_t nchunk;
	int64_t chunk;
};

template <typename T> DEVICE void sumsq(const SumSqArgs &a) {
	const int64_t *desc = (const int64_t *)a.desc;
	FOR_EACH(c, a.nchunk) {
		// The last tensor whose first chunk is at or before c owns it
		// (empty tensors own none).
		int64_t lo = 0, hi = a.ndesc - 1;
		while (lo < hi) {
			int64_t mid = (lo + hi + 1) / 2;
			if (desc[3 * mid + 2] <= c) {
				lo = mid;
			} else {
				hi = mid - 1;
			}
		}
		const T *x = (const T *)(uintptr_t)desc[3 * lo];
		int64_t n = desc[3 * lo + 1];
		int64_t i0 = (c - desc[3 * lo + 2]) * a.chunk, i1 = i0 + a.chunk < n ? i0 + a.chunk : n;
		double s = 0;
		for (int64_t i = i0; i < i1; i++) {
			s += (double)x[i] * (double)x[i];
		}
		((double *)a.part)[c] = s;
	}
}

KERNEL(sumsq_f32, SumSqArgs) { sumsq<float>(a); }
KERNEL(sumsq_f64, SumSqArgs) { sumsq<double>(a); }
