// Package mathf provides fast, accurate float32 elementary functions for the
// tensor engine's elementwise kernels.
//
// Design. Every function takes and returns float32, but the core is evaluated
// in float64: the float32 argument is widened (exactly), reduced with bit
// manipulation, run through a short polynomial, and rounded once to float32 at
// the end. On amd64 and arm64 a scalar float64 multiply or add costs the same
// as a float32 one, and the ~29 spare bits of intermediate precision mean the
// only significant error is the final rounding: every function here is within
// 1 ulp of float32(math.F(float64(x))) (the reference, which is the correctly
// rounded result but for rare double roundings) for every one of the 2^32
// float32 inputs, and differs from it for at most ~15000 of them. That needs
// no Cody-Waite split, no extended-precision tricks and no special handling for
// subnormal results. The bounds in the doc comments were measured with
// MATHF_EXHAUSTIVE=1 go test -run Exhaustive (about 12 minutes on 2 cores).
//
//   - exp: x = (32q + j)·ln2/32 + r with |r| <= ln2/64, e^x = 2^q · 2^(j/32) ·
//     e^r. The 32 values 2^(j/32) are computed once at init; 2^q is applied by
//     adding q to the exponent field; e^r - 1 is a degree-4 Taylor polynomial
//     (truncation error < 2^-39 absolute, < 2^-33 relative to e^r - 1).
//   - log: y = 2^k · z with z in [0.708, 1.417); z lies in one of 32 equal
//     bit-pattern slices, each with a centre c (c = 1 exactly for the slice
//     holding 1.0), so log y = k·ln2 + log c + log1p(z/c - 1) with
//     |z/c - 1| < 1/64 and log1p a degree-5 Taylor polynomial (relative
//     truncation error < 2^-32).
//
// Everything else is built from those two cores in float64, so the usual
// stability rewrites (sigmoid via e^-x, softplus via max(x,0) +
// log1p(e^-|x|), tanh via expm1(2|x|)) cannot overflow and lose nothing in the
// tails.
//
// The slice functions (ExpSlice, ...) are plain loops over inlined kernels;
// dst may alias x, and they panic if the lengths differ.
package mathf

import "math"

// exp core -------------------------------------------------------------------

const (
	expBits  = 5
	expN     = 1 << expBits // table size
	expShift = 0x1.8p52     // adding this rounds a float64 |v| < 2^51 to an integer in the low mantissa bits
	expInvL  = expN / math.Ln2
	expL     = math.Ln2 / expN
	// expClamp bounds the argument of exp64. e^-104 < 2^-150 rounds to a float32
	// zero and e^104 overflows float32 to +Inf, while both are comfortably
	// finite and normal in float64, so clamping changes no float32 result.
	expClamp = 104
)

// expTab[j] = bits(2^(j/32)) - j<<47: adding k<<47 for k = 32q + j then
// yields bits(2^q · 2^(j/32)).
var expTab = func() (t [expN]uint64) {
	for j := range t {
		t[j] = math.Float64bits(math.Exp2(float64(j)/expN)) - uint64(j)<<(52-expBits)
	}
	return t
}()

// expClampArg limits x to [-expClamp, expClamp] (NaN passes through). Plain
// ifs: the builtin min/max handle NaN and signed zeros with a sequence that
// measured several times slower here.
func expClampArg(x float64) float64 {
	if x < -expClamp {
		x = -expClamp
	}
	if x > expClamp {
		x = expClamp
	}
	return x
}

// expCore returns s and p with e^x = s·(1+p) for |x| <= expClamp (NaN in,
// NaN p out). s is a power-of-two multiple of 2^(j/32); p = e^r - 1 for the
// reduced |r| <= ln2/64. When |x| < ln2/64, s == 1 and p is e^x - 1 itself.
func expCore(x float64) (s, p float64) {
	kd := x*expInvL + expShift
	ki := math.Float64bits(kd)
	kd -= expShift
	r := x - kd*expL
	s = math.Float64frombits(expTab[ki&(expN-1)] + ki<<(52-expBits))
	r2 := r * r
	p = r + r2*(1.0/2+r*(1.0/6)) + r2*r2*(1.0/24)
	return s, p
}

// exp64 is e^x for float64 x, accurate to about 2^-33 relative; results are
// meant to be rounded to float32.
func exp64(x float64) float64 {
	s, p := expCore(expClampArg(x))
	return s + s*p
}

// expm1_64 is e^x - 1 for float64 x, accurate to about 2^-32 relative even for
// tiny x (s == 1 there, so s-1 is exactly 0).
func expm1_64(x float64) float64 {
	s, p := expCore(expClampArg(x))
	return (s - 1) + s*p
}

// log core -------------------------------------------------------------------

const (
	logBits = 5
	logN    = 1 << logBits
	// logOff is the bit pattern where slice 0 starts. It puts 1.0 two thirds of
	// the way into slice 18 so that slice's r = z-1 spans about ±1/96.
	logOff   = 0x3FF0000000000000 - 18<<(52-logBits) - (1<<(52-logBits))*2/3
	logSlice = 18
)

type logEntry struct{ invc, logc float64 }

// logTab[i] holds invc ≈ 1/c for the centre c of slice i, and logc = -log(invc)
// (so log z = logc + log1p(z·invc - 1) exactly). Slice 18 has invc = 1, logc = 0.
var logTab = func() (t [logN]logEntry) {
	for i := range t {
		lo := math.Float64frombits(logOff + uint64(i)<<(52-logBits))
		hi := math.Float64frombits(logOff + uint64(i+1)<<(52-logBits))
		invc := 2 / (lo + hi)
		if i == logSlice {
			invc = 1
		}
		t[i] = logEntry{invc, -math.Log(invc)}
	}
	return t
}()

// log1pPoly is log(1+r) for |r| < 1/64 (degree-5 Taylor, relative error < 2^-32).
func log1pPoly(r float64) float64 {
	r2 := r * r
	return r + r2*((-1.0/2+r*(1.0/3))+r2*(-1.0/4+r*(1.0/5)))
}

// logReduce splits log y = hi + log1p(r), |r| < 1/64, for positive, finite,
// normal float64 y.
func logReduce(y float64) (hi, r float64) {
	yb := math.Float64bits(y)
	tmp := yb - logOff
	e := &logTab[(tmp>>(52-logBits))&(logN-1)]
	z := math.Float64frombits(yb - tmp&(0xFFF<<52))
	return float64(int64(tmp)>>52)*math.Ln2 + e.logc, z*e.invc - 1
}

// log64 is log y for positive, finite, normal float64 y.
func log64(y float64) float64 {
	hi, r := logReduce(y)
	return hi + log1pPoly(r)
}

// log1pReduce splits log(1+x) = hi + log1p(r), |r| < 1/64, for float64 x with
// 1+x in [2^-1000, 2^1000]. It reduces on the rounded y = 1+x but rebuilds
// r = (1+x)·2^-k·invc - 1 from x itself, so the rounding of 1+x is not
// inherited; in slice 18 with k = 0 that is exactly r = x, which keeps tiny
// arguments accurate relative to the result.
func log1pReduce(x float64) (hi, r float64) {
	tmp := math.Float64bits(1+x) - logOff
	k := int64(tmp) >> 52
	e := &logTab[(tmp>>(52-logBits))&(logN-1)]
	sc := math.Float64frombits(uint64(1023-k)<<52) * e.invc // 2^-k · invc, exact
	return float64(k)*math.Ln2 + e.logc, (sc - 1) + x*sc
}

// log1p64 is log(1+x) for float64 x with 1+x in [2^-1000, 2^1000].
func log1p64(x float64) float64 {
	hi, r := log1pReduce(x)
	return hi + log1pPoly(r)
}

// helpers --------------------------------------------------------------------

// copysign64 returns |r| with the sign of x. Applying it in float64 before the
// final rounding gives the same float32 as applying it after (rounding is
// sign-symmetric), and keeps the loops free of float32<->integer register moves.
func copysign64(r, x float64) float64 {
	const sign = 1 << 63
	return math.Float64frombits(math.Float64bits(r)&^sign | math.Float64bits(x)&sign)
}

// posPart returns max(x, 0) (+0 for negative x, x itself for NaN with a clear
// sign bit) with bit operations; the builtin max measured several times slower.
func posPart(x float64) float64 {
	xb := math.Float64bits(x)
	return math.Float64frombits(xb &^ uint64(int64(xb)>>63))
}

// eluSelect returns x if x's sign bit is clear (x > 0, +0 or a positive NaN)
// and e otherwise, without a data-dependent branch.
func eluSelect(x, e float64) float64 {
	xb := math.Float64bits(x)
	m := uint64(int64(xb) >> 63)
	return math.Float64frombits(xb&^m | math.Float64bits(e)&m)
}

// scalar API ------------------------------------------------------------------

// Exp returns e^x.
//
// Measured max error: 1 ulp against float32(math.Exp(float64(x))), over all
// 2^32 inputs; only 594 inputs differ from that reference at all. Exp(+Inf) = +Inf, Exp(-Inf) = 0, Exp(NaN) = NaN;
// overflows to +Inf for x > 88.7228; results below 2^-126 are correctly
// rounded subnormals, and 0 for x < -103.973.
func Exp(x float32) float32 {
	return float32(exp64(float64(x)))
}

// Expm1 returns e^x - 1, accurate also for tiny |x|.
//
// Measured max error: 1 ulp against float32(math.Expm1(float64(x))), over all
// 2^32 inputs (15038 differ from it).
// Expm1(±0) = ±0, Expm1(+Inf) = +Inf, Expm1(-Inf) = -1, Expm1(NaN) = NaN.
func Expm1(x float32) float32 {
	xd := float64(x)
	return float32(copysign64(expm1_64(xd), xd))
}

// Log returns the natural logarithm of x.
//
// Measured max error: 1 ulp against float32(math.Log(float64(x))), over all
// 2^32 inputs, subnormals included (214 differ from it). Log(±0) = -Inf, Log(x<0) = NaN, Log(+Inf) = +Inf,
// Log(NaN) = NaN, Log(1) = +0.
func Log(x float32) float32 {
	xd := float64(x)
	if !(xd > 0 && xd <= math.MaxFloat32) { // ±0, negative, +Inf, NaN
		return logSpecial(xd)
	}
	return float32(log64(xd))
}

// logSpecial is Log for x <= 0, +Inf and NaN (given as float64); kept out of
// line so the LogSlice loop stays small.
//
//go:noinline
func logSpecial(x float64) float32 {
	switch {
	case x != x || x > 0: // NaN, +Inf
		return float32(x)
	case x == 0:
		return float32(math.Inf(-1))
	}
	return float32(math.NaN())
}

// Log1p returns log(1+x), accurate also for tiny |x|.
//
// Measured max error: 1 ulp against float32(math.Log1p(float64(x))), over all
// 2^32 inputs (7256 differ from it).
// Log1p(±0) = ±0, Log1p(-1) = -Inf, Log1p(x<-1) = NaN, Log1p(+Inf) = +Inf,
// Log1p(NaN) = NaN.
func Log1p(x float32) float32 {
	xd := float64(x)
	if !(xd > -1 && xd <= math.MaxFloat32) {
		return log1pSpecial(xd)
	}
	return float32(copysign64(log1p64(xd), xd))
}

// log1pSpecial is Log1p for x <= -1, +Inf and NaN (given as float64); kept
// out of line so the Log1pSlice loop stays small.
//
//go:noinline
func log1pSpecial(x float64) float32 {
	switch {
	case x != x || x > 0: // NaN, +Inf
		return float32(x)
	case x == -1:
		return float32(math.Inf(-1))
	}
	return float32(math.NaN())
}

// Sigmoid returns 1/(1+e^-x), the logistic function, without overflow in
// either tail (very negative x give correctly rounded tiny or subnormal
// results, not 0/0 or 1-1).
//
// Measured max error: 1 ulp against the float64 logistic function rounded to
// float32, over all 2^32 inputs (314 differ from it). Sigmoid(+Inf) = 1, Sigmoid(-Inf) = 0, Sigmoid(NaN) = NaN.
func Sigmoid(x float32) float32 {
	return float32(1 / (1 + exp64(-float64(x))))
}

// Softplus returns log(1+e^x), evaluated as max(x,0) + log1p(e^-|x|): it is
// exactly x once e^-x is below half an ulp of x (x >= ~16.6) and a correctly
// rounded e^x-sized value for very negative x.
//
// Measured max error: 1 ulp against float32(max(x,0) +
// math.Log1p(math.Exp(-|x|))) in float64, over all 2^32 inputs (1770 differ
// from it). Softplus(-Inf) = 0, Softplus(+Inf) = +Inf,
// Softplus(NaN) = NaN.
func Softplus(x float32) float32 {
	return float32(softplus64(float64(x)))
}

// softplus64 is max(x,0) + log1p(t) with t = e^-|x| in (0, 1], and log1p(t)
// = 2 atanh(u) = 2(u + u³/3 + ... + u¹³/13) with u = t/(2+t) in (0, 1/3]:
// the first omitted term is below u¹⁴/15 < 1.4e-8 relative, under a
// quarter of a float32 ulp, and the series costs one division and six
// fused steps instead of a second table-driven logarithm.
func softplus64(xd float64) float64 {
	s, p := expCore(expClampArg(-math.Abs(xd)))
	t := s + s*p
	u := t / (2 + t)
	u2 := u * u
	q := u2 * (1.0/3 + u2*(1.0/5+u2*(1.0/7+u2*(1.0/9+u2*(1.0/11+u2*(1.0/13))))))
	return posPart(xd) + 2*u*(1+q)
}

// Tanh returns the hyperbolic tangent of x, as sign(x)·u/(u+2) with
// u = expm1(2|x|): no cancellation for small |x|, exactly odd.
//
// Measured max error: 1 ulp against float32(math.Tanh(float64(x))), over all
// 2^32 inputs (15226 differ from it).
// Tanh(±0) = ±0, Tanh(±Inf) = ±1, Tanh(NaN) = NaN.
func Tanh(x float32) float32 {
	xd := float64(x)
	u := expm1_64(2 * math.Abs(xd))
	return float32(copysign64(u/(u+2), xd))
}

// ELU returns x for x > 0 and e^x - 1 otherwise (alpha = 1).
//
// Measured max error: 1 ulp (0 for x > 0) against float32(math.Expm1(x)) for
// x <= 0, over all 2^32 inputs (7370 differ from it). ELU(-Inf) = -1, ELU(+Inf) = +Inf, ELU(±0) = ±0, ELU(NaN) = NaN.
func ELU(x float32) float32 {
	xd := float64(x)
	return float32(eluSelect(xd, copysign64(expm1_64(xd), xd)))
}

// slice API --------------------------------------------------------------------

func checkLen(dst, x []float32) {
	if len(dst) != len(x) {
		panic("mathf: dst and x have different lengths")
	}
}

// The slice loops spell out the scalar functions in terms of the inlinable
// pieces (expClampArg, expCore, logReduce, log1pReduce, log1pPoly, copysign64,
// posPart, eluSelect) so that each element costs no call; TestSliceMatchesScalar
// checks they agree with the scalar versions bit for bit.
//
// amd64 note: CVTSS2SD and CVTSD2SS (float32<->float64) only write the low
// lanes of their destination, so if the register allocator picks a destination
// still holding the previous element's result, consecutive iterations become
// one long dependency chain (measured 4-6x slower). The loops avoid that by
// letting v die at the conversion: the sign, select and special-value work is
// all done on the float64 xd. Check `go build -gcflags=-S` after edits.

// ExpSlice sets dst[i] = Exp(x[i]). dst may alias x; it panics if
// len(dst) != len(x).
func ExpSlice(dst, x []float32) {
	checkLen(dst, x)
	dst = dst[:len(x)]
	for i, v := range x {
		s, p := expCore(expClampArg(float64(v)))
		dst[i] = float32(s + s*p)
	}
}

// Expm1Slice sets dst[i] = Expm1(x[i]). dst may alias x; it panics if
// len(dst) != len(x).
func Expm1Slice(dst, x []float32) {
	checkLen(dst, x)
	dst = dst[:len(x)]
	for i, v := range x {
		xd := float64(v)
		s, p := expCore(expClampArg(xd))
		dst[i] = float32(copysign64((s-1)+s*p, xd))
	}
}

// LogSlice sets dst[i] = Log(x[i]). dst may alias x; it panics if
// len(dst) != len(x).
func LogSlice(dst, x []float32) {
	checkLen(dst, x)
	dst = dst[:len(x)]
	for i, v := range x {
		xd := float64(v)
		if !(xd > 0 && xd <= math.MaxFloat32) {
			dst[i] = logSpecial(xd)
			continue
		}
		hi, r := logReduce(xd)
		dst[i] = float32(hi + log1pPoly(r))
	}
}

// Log1pSlice sets dst[i] = Log1p(x[i]). dst may alias x; it panics if
// len(dst) != len(x).
func Log1pSlice(dst, x []float32) {
	checkLen(dst, x)
	dst = dst[:len(x)]
	for i, v := range x {
		xd := float64(v)
		if !(xd > -1 && xd <= math.MaxFloat32) {
			dst[i] = log1pSpecial(xd)
			continue
		}
		hi, r := log1pReduce(xd)
		dst[i] = float32(copysign64(hi+log1pPoly(r), xd))
	}
}

// SigmoidSlice sets dst[i] = Sigmoid(x[i]). dst may alias x; it panics if
// len(dst) != len(x).
func SigmoidSlice(dst, x []float32) {
	checkLen(dst, x)
	dst = dst[:len(x)]
	for i, v := range x {
		s, p := expCore(expClampArg(-float64(v)))
		dst[i] = float32(1 / (1 + (s + s*p)))
	}
}

// SoftplusSlice sets dst[i] = Softplus(x[i]). dst may alias x; it panics if
// len(dst) != len(x).
func SoftplusSlice(dst, x []float32) {
	checkLen(dst, x)
	dst = dst[:len(x)]
	for i, v := range x {
		// softplus64, written out so the whole body inlines: a call here
		// serialises iterations on the float32→float64 conversion.
		xd := float64(v)
		s, p := expCore(expClampArg(-math.Abs(xd)))
		t := s + s*p
		u := t / (2 + t)
		u2 := u * u
		q := u2 * (1.0/3 + u2*(1.0/5+u2*(1.0/7+u2*(1.0/9+u2*(1.0/11+u2*(1.0/13))))))
		dst[i] = float32(posPart(xd) + 2*u*(1+q))
	}
}

// TanhSlice sets dst[i] = Tanh(x[i]). dst may alias x; it panics if
// len(dst) != len(x).
func TanhSlice(dst, x []float32) {
	checkLen(dst, x)
	dst = dst[:len(x)]
	for i, v := range x {
		xd := float64(v)
		s, p := expCore(expClampArg(2 * math.Abs(xd)))
		u := (s - 1) + s*p
		dst[i] = float32(copysign64(u/(u+2), xd))
	}
}

// ELUSlice sets dst[i] = ELU(x[i]). dst may alias x; it panics if
// len(dst) != len(x).
func ELUSlice(dst, x []float32) {
	checkLen(dst, x)
	dst = dst[:len(x)]
	for i, v := range x {
		xd := float64(v)
		s, p := expCore(expClampArg(xd))
		dst[i] = float32(eluSelect(xd, copysign64((s-1)+s*p, xd)))
	}
}
