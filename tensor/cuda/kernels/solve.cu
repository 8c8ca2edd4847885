// Dense solve a·x = b by LU with partial pivoting in float64, the CPU
// backend's algorithm (tensor/cpu_solve.go), on one thread: the systems the
// engine solves are small (DKEF's, n in the hundreds), where one thread
// takes milliseconds, and a parallel LU would need grid-wide barriers
// between columns, which this kernel ABI does not have.
#include "cuda.h"

// SolveArgs: a [n,n], b and x [n,k] of the element type; lu [n*n] and rhs
// [n*k] float64 scratch; info [4] float64 receives (status, pivot column,
// pivot, tolerance): status 0 solved, 1 non-finite entries in a, 2
// singular. x is written only when solved.
struct SolveArgs {
	void *x;
	const void *a;
	const void *b;
	int64_t n, k;
	void *lu;
	void *rhs;
	void *info;
};

// solve_load widens a and b into the scratch and returns max|a| (or -1
// for a non-finite entry).
template <typename T> DEVICE double solve_load(const SolveArgs &a, double *lu, double *rhs) {
	const T *am = (const T *)a.a, *bm = (const T *)a.b;
	double amax = 0;
	for (int64_t i = 0; i < a.n * a.n; i++) {
		double v = (double)am[i];
		if (v != v || __builtin_fabs(v) == __builtin_inf()) {
			return -1;
		}
		lu[i] = v;
		amax = __builtin_fabs(v) > amax ? __builtin_fabs(v) : amax;
	}
	for (int64_t i = 0; i < a.n * a.k; i++) {
		rhs[i] = (double)bm[i];
	}
	return amax;
}

// solve_eliminate reduces lu to upper triangular form, applying the same
// row operations to rhs; it returns the failing column or -1.
DEVICE int64_t solve_eliminate(double *lu, double *rhs, int64_t n, int64_t k, double tol, double *best) {
	for (int64_t col = 0; col < n; col++) {
		int64_t p = col;
		*best = __builtin_fabs(lu[col * n + col]);
		for (int64_t i = col + 1; i < n; i++) {
			double v = __builtin_fabs(lu[i * n + col]);
			if (v > *best) {
				p = i;
				*best = v;
			}
		}
		if (!(*best > tol)) {
			return col;
		}
		for (int64_t t = 0; p != col && t < n; t++) {
			double s = lu[p * n + t];
			lu[p * n + t] = lu[col * n + t];
			lu[col * n + t] = s;
		}
		for (int64_t t = 0; p != col && t < k; t++) {
			double s = rhs[p * k + t];
			rhs[p * k + t] = rhs[col * k + t];
			rhs[col * k + t] = s;
		}
		double piv = lu[col * n + col];
		for (int64_t i = col + 1; i < n; i++) {
			double m = lu[i * n + col] / piv;
			lu[i * n + col] = 0;
			if (m == 0) {
				continue;
			}
			for (int64_t t = col + 1; t < n; t++) {
				lu[i * n + t] -= m * lu[col * n + t];
			}
			for (int64_t t = 0; t < k; t++) {
				rhs[i * k + t] -= m * rhs[col * k + t];
			}
		}
	}
	return -1;
}

// solve_back back-substitutes through the upper triangle, all k columns of
// a row together.
DEVICE void solve_back(const double *lu, double *rhs, int64_t n, int64_t k) {
	for (int64_t i = n - 1; i >= 0; i--) {
		for (int64_t j = i + 1; j < n; j++) {
			for (int64_t t = 0; t < k; t++) {
				rhs[i * k + t] -= lu[i * n + j] * rhs[j * k + t];
			}
		}
		for (int64_t t = 0; t < k; t++) {
			rhs[i * k + t] /= lu[i * n + i];
		}
	}
}

template <typename T> DEVICE void solve(const SolveArgs &a) {
	double *lu = (double *)a.lu, *rhs = (double *)a.rhs, *info = (double *)a.info;
	FOR_EACH(unused, 1) {
		info[0] = info[1] = info[2] = info[3] = 0;
		double amax = solve_load<T>(a, lu, rhs);
		if (amax < 0) {
			info[0] = 1;
			return;
		}
		// A pivot within the backward error of elimination, n·eps·max|a|,
		// could be rounding noise: a is then singular to working precision.
		double tol = (double)a.n * 2.220446049250313e-16 * amax, best = 0;
		int64_t col = solve_eliminate(lu, rhs, a.n, a.k, tol, &best);
		if (col >= 0) {
			info[0] = 2;
			info[1] = (double)col;
			info[2] = best;
			info[3] = tol;
			return;
		}
		solve_back(lu, rhs, a.n, a.k);
		T *x = (T *)a.x;
		for (int64_t i = 0; i < a.n * a.k; i++) {
			x[i] = (T)rhs[i];
		}
	}
}

KERNEL(solve_f32, SolveArgs) { solve<float>(a); }
KERNEL(solve_f64, SolveArgs) { solve<double>(a); }
