// Fused optimizer steps (torch.optim's Adam, AdamW and SGD), gated on the
// device: a one-thread prep kernel reads the gate, advances the step count
// and writes the per-step scalars, then the update kernel reads them. Two
// kernels, because threads of one kernel cannot order a read of the count
// after another thread's write of it without a grid-wide barrier.
#include "cuda.h"
#include "mathd.h"

// StepPrepArgs: gate [2] = (gradient multiplier, flag) and t [1] of the
// element type; state [5] float64 receives (open, multiplier, step,
// 1 - b1^step, √(1 - b2^step)). A closed gate leaves t unchanged.
struct StepPrepArgs {
	void *t;
	const void *gate;
	void *state;
	double b1;
	double b2;
};

template <typename T> DEVICE void step_prep(const StepPrepArgs &a) {
	T *t = (T *)a.t;
	const T *gate = (const T *)a.gate;
	double *st = (double *)a.state;
	FOR_EACH(i, 1) {
		st[0] = gate[1] != 0 ? 1 : 0;
		st[1] = (double)gate[0];
		if (gate[1] != 0) {
			t[0] = t[0] + (T)1;
			double step = (double)t[0];
			st[2] = step;
			st[3] = 1 - d_pow(a.b1, step);
			st[4] = __builtin_sqrt(1 - d_pow(a.b2, step));
		}
	}
}

KERNEL(step_prep_f32, StepPrepArgs) { step_prep<float>(a); }
KERNEL(step_prep_f64, StepPrepArgs) { step_prep<double>(a); }

// AdamArgs: one update of p, m, v [n] from grad g, in float64 per element,
// rounded once (the CPU's adamKernel). decoupled != 0 is AdamW.
struct AdamArgs {
	void *p;
	const void *g;
	void *m;
	void *v;
	const void *state;
	int64_t n;
	double lr, b1, b2, eps, wd;
	int64_t decoupled;
};

template <typename T> DEVICE void adam(const AdamArgs &a) {
	T *p = (T *)a.p, *m = (T *)a.m, *v = (T *)a.v;
	const T *g = (const T *)a.g;
	const double *st = (const double *)a.state;
	if (st[0] == 0) {
		return;
	}
	double mult = st[1], step = a.lr / st[3], sbc2 = st[4];
	double l2 = a.wd, shrink = 1.0;
	if (a.decoupled) {
		l2 = 0;
		shrink = 1 - a.lr * a.wd;
	}
	FOR_EACH(i, a.n) {
		double gi = mult * (double)g[i] + l2 * (double)p[i];
		double mi = a.b1 * (double)m[i] + (1 - a.b1) * gi;
		double vi = a.b2 * (double)v[i] + (1 - a.b2) * gi * gi;
		m[i] = (T)mi;
		v[i] = (T)vi;
		p[i] = (T)(shrink * (double)p[i] - step * mi / (__builtin_sqrt(vi) / sbc2 + a.eps));
	}
}

KERNEL(adam_f32, AdamArgs) { adam<float>(a); }
KERNEL(adam_f64, AdamArgs) { adam<double>(a); }

// SGDArgs: p -= lr·d with d = c·grad + wd·p, through the momentum buffer
// buf when momentum != 0 (buf ← d on the first step, μ·buf + d after).
struct SGDArgs {
	void *p;
	const void *g;
	void *buf;
	const void *state;
	int64_t n;
	double lr, momentum, wd;
};

template <typename T> DEVICE void sgd(const SGDArgs &a) {
	T *p = (T *)a.p, *b = (T *)a.buf;
	const T *g = (const T *)a.g;
	const double *st = (const double *)a.state;
	if (st[0] == 0) {
		return;
	}
	double mult = st[1];
	bool first = st[2] == 1;
	FOR_EACH(i, a.n) {
		double d = mult * (double)g[i] + a.wd * (double)p[i];
		if (a.momentum != 0) {
			if (!first) {
				d += a.momentum * (double)b[i];
			}
			b[i] = (T)d;
		}
		p[i] = (T)((double)p[i] - a.lr * d);
	}
}

KERNEL(sgd_f32, SGDArgs) { sgd<float>(a); }
KERNEL(sgd_f64, SGDArgs) { sgd<double>(a); }
