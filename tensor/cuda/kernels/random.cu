// Random fills from Philox4x32-10, bit for bit the CPU backend's draws
// (tensor/philox.go, tensor/cpu_random.go): value i of a tensor comes from
// word offset+i of the stream (seed, stream), word w being lane w%4 of the
// block with counter (w/4, stream) under key seed. Normals come in
// Box-Muller pairs (values 2j, 2j+1 from words 2j, 2j+1), uniforms from a
// word's top 24 bits, Rademacher signs from its top bit. The transforms use
// mathd.h's log and sincos, which follow Go's math bit for bit.
#include "cuda.h"
#include "mathd.h"
#include "ops.h"

DEVICE uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t *lo) {
	uint64_t p = (uint64_t)a * b;
	*lo = (uint32_t)p;
	return (uint32_t)(p >> 32);
}

// philox_word returns word w of the stream (seed, stream).
DEVICE uint32_t philox_word(uint64_t seed, uint64_t stream, uint64_t w) {
	uint64_t b = w / 4;
	uint32_t c0 = (uint32_t)b, c1 = (uint32_t)(b >> 32), c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
	uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
	for (int r = 0; r < 10; r++) {
		if (r > 0) {
			k0 += 0x9E3779B9u;
			k1 += 0xBB67AE85u;
		}
		uint32_t lo0, lo1;
		uint32_t hi0 = philox_mulhilo(0xD2511F53u, c0, &lo0);
		uint32_t hi1 = philox_mulhilo(0xCD9E8D57u, c2, &lo1);
		uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
		c0 = n0;
		c1 = lo1;
		c2 = n2;
		c3 = lo0;
	}
	switch (w % 4) {
	case 0: return c0;
	case 1: return c1;
	case 2: return c2;
	}
	return c3;
}

// uniform01 maps a word to (0, 1] with 24 bits.
DEVICE double uniform01(uint32_t w) { return ((double)(w >> 8) + 1) / 16777216.0; }

// RandomArgs: y [n] from words offset.. of (seed, stream); kind DistCode;
// a, b the distribution's parameters; below the largest element value
// under b (a uniform that rounds up to b is replaced by it).
struct RandomArgs {
	void *y;
	int64_t n;
	uint64_t seed, stream, offset;
	int64_t kind;
	double a, b, below;
};

template <typename T> DEVICE void random_normal(const RandomArgs &a) {
	T *y = (T *)a.y;
	FOR_EACH(j, (a.n + 1) / 2) {
		uint64_t w = a.offset + 2 * (uint64_t)j;
		double r = __builtin_sqrt(-2 * d_log(uniform01(philox_word(a.seed, a.stream, w))));
		double sn, cs;
		d_sincos(2 * 3.14159265358979323846264338327950288 * uniform01(philox_word(a.seed, a.stream, w + 1)), &sn, &cs);
		y[2 * j] = (T)(a.a + a.b * r * cs);
		if (2 * j + 1 < a.n) {
			y[2 * j + 1] = (T)(a.a + a.b * r * sn);
		}
	}
}

template <typename T> DEVICE void random_fill(const RandomArgs &a) {
	if (a.kind == D_NORMAL) {
		random_normal<T>(a);
		return;
	}
	T *y = (T *)a.y;
	T top = (T)a.b, below = (T)a.below;
	FOR_EACH(i, a.n) {
		uint32_t w = philox_word(a.seed, a.stream, a.offset + (uint64_t)i);
		if (a.kind == D_RADEMACHER) {
			y[i] = (T)((int)(w >> 31) * 2 - 1);
			continue;
		}
		double u = 1 - uniform01(w);
		T v = (T)(a.a + (a.b - a.a) * u);
		y[i] = (v >= top && a.b > a.a) ? below : v;
	}
}

KERNEL(random_f32, RandomArgs) { random_fill<float>(a); }
KERNEL(random_f64, RandomArgs) { random_fill<double>(a); }
