// Data movement without arithmetic: transposes and strided row copies
// (Concat, Slice and SetSlice are all one). Elements move as raw 32- or
// 64-bit words, so every bit pattern (NaN payloads included) survives.
#include "cuda.h"

// TransposeArgs: y [n] in y's (merged) axes dim, innermost last; stride[d]
// is the stride in x of y's axis d.
struct TransposeArgs {
	void *y;
	const void *x;
	int64_t n;
	int64_t rank;
	int64_t dim[8];
	int64_t stride[8];
};

template <typename W> DEVICE void transpose(const TransposeArgs &a) {
	W *y = (W *)a.y;
	const W *x = (const W *)a.x;
	FOR_EACH(i, a.n) {
		int64_t rem = i, off = 0;
		for (int64_t d = a.rank - 1; d >= 0; d--) {
			int64_t q = rem / a.dim[d];
			off += (rem - q * a.dim[d]) * a.stride[d];
			rem = q;
		}
		y[i] = x[off];
	}
}

KERNEL(transpose_f32, TransposeArgs) { transpose<uint32_t>(a); }
KERNEL(transpose_f64, TransposeArgs) { transpose<uint64_t>(a); }

// CopyRowsArgs: rows blocks of cols contiguous elements, block r from
// x + r*xstride to y + r*ystride (pointers already at the first block).
struct CopyRowsArgs {
	void *y;
	const void *x;
	int64_t rows;
	int64_t cols;
	int64_t ystride;
	int64_t xstride;
};

template <typename W> DEVICE void copy_rows(const CopyRowsArgs &a) {
	W *y = (W *)a.y;
	const W *x = (const W *)a.x;
	FOR_EACH(i, a.rows * a.cols) {
		int64_t r = i / a.cols, c = i - r * a.cols;
		y[r * a.ystride + c] = x[r * a.xstride + c];
	}
}

KERNEL(copyrows_f32, CopyRowsArgs) { copy_rows<uint32_t>(a); }
KERNEL(copyrows_f64, CopyRowsArgs) { copy_rows<uint64_t>(a); }
