package cuda_test

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
	"github.com/fdsm-go/fdsm/tensor/cuda/emu"
)

// The kernels' math (kernels/mathd.h, kernels/mathf.h) against the CPU
// backend's: Go's math for float64, the CPU's own kernels for float32.

// mathInputs returns values of every magnitude and sign, plus specials.
func mathInputs(rng *rand.Rand, n int) []float64 {
	v := []float64{0, math.Copysign(0, -1), 1, -1, 0.5, 2, math.Inf(1), math.Inf(-1), math.NaN(), 1e-310, -1e-310,
		math.Pi / 4, 3 * math.Pi / 4, 1 << 29, 1e10, 1e300, 700, -700, 709.7, -745, 0.34657359027997264, 1.0397207708399179}
	for len(v) < n {
		x := rng.NormFloat64() * math.Pow(10, float64(rng.IntN(24)-12))
		if rng.IntN(8) == 0 {
			x = rng.Float64()*1600 - 800
		}
		v = append(v, x)
	}
	return v
}

// run64 applies op to xs (float64) on the backend.
func run64(b tensor.Backend, op tensor.UnaryOp, xs []float64) []float64 {
	x := b.Empty(tensor.Float64, len(xs))
	y := b.Empty(tensor.Float64, len(xs))
	defer b.Release(x)
	defer b.Release(y)
	b.WriteFloat64s(x, xs)
	b.Unary(op, y, x)
	out := make([]float64, len(xs))
	b.ReadFloat64s(out, y)
	return out
}

// ulps64 is the distance in representable float64 values (0 for equal
// values and for two NaNs).
func ulps64(a, b float64) float64 {
	if a == b || (a != a && b != b) {
		return 0
	}
	if a != a || b != b || math.IsInf(a, 0) || math.IsInf(b, 0) {
		return math.Inf(1)
	}
	return math.Abs(float64(ordered64(a) - ordered64(b)))
}

func ordered64(x float64) int64 {
	i := int64(math.Float64bits(x))
	if i < 0 {
		i = math.MinInt64 - i
	}
	return i
}

// TestMath64 checks each float64 function against Go's math: bit for bit
// where Go's portable code runs on this machine (log, log1p, expm1, sin,
// cos: the same algorithm in the same order), and within 2 ulps where Go
// uses an assembly exp that differs by machine (exp and what builds on it;
// the kernel's exp is within 1 ulp of the correctly rounded value:
// TestExpAccuracy).
func TestMath64(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	xs := mathInputs(rand.New(rand.NewPCG(1, 2)), 20000)
	cpu := tensor.NewCPU()
	for _, c := range []struct {
		op   tensor.UnaryOp
		ref  func(float64) float64
		ulps float64
	}{
		{tensor.OpExp, math.Exp, 2},
		{tensor.OpLog, math.Log, 0},
		{tensor.OpLog1p, math.Log1p, 0},
		{tensor.OpExpm1, math.Expm1, 0},
		{tensor.OpSin, math.Sin, 0},
		{tensor.OpCos, math.Cos, 0},
		{tensor.OpTanh, math.Tanh, 2},
		{tensor.OpSqrt, math.Sqrt, 0},
		{tensor.OpSigmoid, nil, 2},
		{tensor.OpSoftplus, nil, 2},
		{tensor.OpELU, nil, 0},
	} {
		got := run64(b, c.op, xs)
		want := run64(cpu, c.op, xs)
		if c.ref != nil {
			for i, x := range xs {
				want[i] = c.ref(x)
			}
		}
		worst, at := 0.0, 0
		for i := range xs {
			if x := xs[i]; c.op == tensor.OpLog && x > 0 && x < 0x1p-1022 {
				continue // Go's amd64 Log does not normalise subnormals; the kernel does
			}
			if x := xs[i]; c.op == tensor.OpExp && x > 709 {
				continue // Go's amd64 Exp overflows early (Exp(709.7) = +Inf); TestExpAccuracy covers it
			}
			if u := ulps64(got[i], want[i]); u > worst {
				worst, at = u, i
			}
		}
		if worst > c.ulps {
			t.Errorf("%v(%.17g) = %.17g, Go %.17g: %g ulps (allowed %g)", c.op, xs[at], got[at], want[at], worst, c.ulps)
		}
	}
}

// TestPow64 compares float64 pow with Go's math.Pow. Both take x^y as
// e^(yf·log x) times x^yi by repeated squaring, in the same order, but
// Go's exp is the machine's assembly Exp: the 1 ulp between the two exps
// grows through the squarings, to a few ulps for |y| in the tens (8 are
// allowed; the conformance suite's 1e-14 is about 45).
func TestPow64(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	rng := rand.New(rand.NewPCG(3, 4))
	var as, bs []float64
	specials := []float64{0, math.Copysign(0, -1), 1, -1, 2, -2, 0.5, -0.5, 3, -3, math.Inf(1), math.Inf(-1), math.NaN(), 1e300, 1e-300}
	for _, x := range specials {
		for _, y := range specials {
			as, bs = append(as, x), append(bs, y)
		}
	}
	for range 20000 {
		as = append(as, math.Abs(rng.NormFloat64())*math.Pow(10, float64(rng.IntN(8)-4)))
		bs = append(bs, rng.NormFloat64()*float64(1+rng.IntN(30)))
	}
	got := binary64(b, tensor.OpPow, as, bs)
	for i := range as {
		if u := ulps64(got[i], math.Pow(as[i], bs[i])); u > 8 {
			t.Errorf("pow(%.17g, %.17g) = %.17g, Go %.17g: %g ulps", as[i], bs[i], got[i], math.Pow(as[i], bs[i]), u)
		}
	}
}

// TestExpAccuracy: the kernels' exp and tanh are within 1 ulp of the
// correctly rounded value (a 300-bit big.Float reference).
func TestExpAccuracy(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	rng := rand.New(rand.NewPCG(5, 6))
	var xs []float64
	for range 1000 {
		xs = append(xs, rng.Float64()*1400-700)
	}
	xs = append(xs, 709.7, 709.78, -708, 45.458617752375631)
	exp, tanh := run64(b, tensor.OpExp, xs), run64(b, tensor.OpTanh, xs)
	for i, x := range xs {
		e2 := bigExp(2 * x)
		num, den := new(big.Float).Sub(e2, big.NewFloat(1)), new(big.Float).Add(e2, big.NewFloat(1))
		wantExp, _ := bigExp(x).Float64()
		wantTanh, _ := num.Quo(num, den).Float64()
		if u := ulps64(exp[i], wantExp); u > 1 {
			t.Errorf("exp(%.17g) = %.17g, correctly rounded %.17g: %g ulps", x, exp[i], wantExp, u)
		}
		if u := ulps64(tanh[i], wantTanh); u > 1 {
			t.Errorf("tanh(%.17g) = %.17g, correctly rounded %.17g: %g ulps", x, tanh[i], wantTanh, u)
		}
	}
}

// bigExp is e^x to 300 bits: (e^(x/2^20))^(2^20), Taylor series inside.
func bigExp(x float64) *big.Float {
	const prec = 300
	r := new(big.Float).SetPrec(prec).SetFloat64(x)
	r.SetMantExp(r, -20)
	sum, term := new(big.Float).SetPrec(prec).SetInt64(1), new(big.Float).SetPrec(prec).SetInt64(1)
	for i := int64(1); i < 40; i++ {
		term.Mul(term, r)
		term.Quo(term, new(big.Float).SetPrec(prec).SetInt64(i))
		sum.Add(sum, term)
	}
	for range 20 {
		sum.Mul(sum, sum)
	}
	return sum
}

func binary64(b tensor.Backend, op tensor.BinaryOp, as, bs []float64) []float64 {
	x, y, z := b.Empty(tensor.Float64, len(as)), b.Empty(tensor.Float64, len(as)), b.Empty(tensor.Float64, len(as))
	b.WriteFloat64s(x, as)
	b.WriteFloat64s(y, bs)
	b.Binary(op, z, x, y)
	out := make([]float64, len(as))
	b.ReadFloat64s(out, z)
	for _, t := range []*tensor.Tensor{x, y, z} {
		b.Release(t)
	}
	return out
}

// TestBoxMullerDomain: log and sin/cos are Go's bit for bit on every input
// the normal draws can give them (u = k/2^24 and 2πu), which is what makes
// Random's normals the CPU's.
func TestBoxMullerDomain(t *testing.T) {
	if testing.Short() {
		t.Skip("2^24 inputs per function")
	}
	b, _ := newEmu(t, emu.Options{Memory: 1 << 30})
	u := make([]float64, 1<<24)
	for k := range u {
		u[k] = (float64(k) + 1) / (1 << 24)
	}
	check := func(name string, op tensor.UnaryOp, in []float64, ref func(float64) float64) {
		got := run64(b, op, in)
		for k, x := range in {
			if w := ref(x); math.Float64bits(got[k]) != math.Float64bits(w) {
				t.Fatalf("%s(%.17g) = %.17g, Go %.17g", name, x, got[k], w)
			}
		}
	}
	check("log", tensor.OpLog, u, math.Log)
	for k := range u {
		u[k] *= 2 * math.Pi
	}
	check("sin", tensor.OpSin, u, math.Sin)
	check("cos", tensor.OpCos, u, math.Cos)
}

// TestMath32MatchesCPU: the float32 kernels agree with the CPU backend's
// (within 1 ulp: its native kernels may fuse multiply-adds) on every
// transcendental, over a dense sweep and the extremes.
func TestMath32MatchesCPU(t *testing.T) {
	b, _ := newEmu(t, emu.Options{})
	cpu := tensor.NewCPU()
	var xs []float32
	for i := -200000; i <= 200000; i++ {
		xs = append(xs, float32(i)/2000)
	}
	xs = append(xs, 1e-38, -1e-38, 1e-45, 88.7, -103.9, -104.5, 104.5, 1e30, -1e30, 3.4e38,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()))
	for op := tensor.UnaryOp(1); op.String() != "unary?"; op++ {
		got, want := run32(b, op, xs), run32(cpu, op, xs)
		for i, x := range xs {
			if d := ulps32(got[i], want[i]); d > 1 {
				t.Errorf("float32 %v(%g) = %g, CPU %g: %d ulps", op, x, got[i], want[i], d)
				break
			}
		}
	}
}

func run32(b tensor.Backend, op tensor.UnaryOp, xs []float32) []float32 {
	x, y := b.Empty(tensor.Float32, len(xs)), b.Empty(tensor.Float32, len(xs))
	b.WriteFloat32s(x, xs)
	b.Unary(op, y, x)
	out := make([]float32, len(xs))
	b.ReadFloat32s(out, y)
	b.Release(x)
	b.Release(y)
	return out
}

func ulps32(a, b float32) int64 {
	if a == b || (a != a && b != b) {
		return 0
	}
	if a != a || b != b {
		return math.MaxInt64
	}
	oa, ob := int64(int32(math.Float32bits(a))), int64(int32(math.Float32bits(b)))
	if oa < 0 {
		oa = math.MinInt32 - oa
	}
	if ob < 0 {
		ob = math.MinInt32 - ob
	}
	if oa > ob {
		return oa - ob
	}
	return ob - oa
}
