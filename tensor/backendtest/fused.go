package backendtest

import (
	"fmt"
	"math"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// ScalarOp equals Binary with a one-element tensor holding the scalar (the
// contract says the scalar is rounded to the dtype as such a tensor is),
// bit for bit, for every op, both operand orders and in place.
func testScalarOp(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rng := newRand(31)
	x, _ := randTensor(t, b, dt, rng, 5, 7)
	for _, op := range []tensor.BinaryOp{tensor.OpAdd, tensor.OpSub, tensor.OpMul, tensor.OpDiv, tensor.OpMax,
		tensor.OpMin, tensor.OpPow, tensor.OpGreater, tensor.OpEqual} {
		for _, first := range []bool{false, true} {
			s := 0.3
			if op == tensor.OpEqual {
				s = x.ToFloat64s()[3] // some elements equal it
			}
			st := b.Empty(dt)
			b.Fill(st, s)
			want := b.Empty(dt, 5, 7)
			if first {
				b.Binary(op, want, st, x)
			} else {
				b.Binary(op, want, x, st)
			}
			got := b.Empty(dt, 5, 7)
			b.ScalarOp(op, got, x, s, first)
			what := fmt.Sprintf("ScalarOp(%s, s=%g, scalarFirst=%v)", op, s, first)
			checkExact(t, what, got.Shape(), got.ToFloat64s(), want.ToFloat64s())
			b.Copy(got, x)
			b.ScalarOp(op, got, got, s, first)
			checkExact(t, what+" in place", got.Shape(), got.ToFloat64s(), want.ToFloat64s())
			for _, r := range []*tensor.Tensor{st, want, got} {
				b.Release(r)
			}
		}
	}
	mustPanic(t, "ScalarOp size mismatch", func() { b.ScalarOp(tensor.OpAdd, b.Empty(dt, 3), x, 1, false) }, "scalar add")
}

// SumSquares against a float64 sum of the values the backend holds; the
// order of float64 additions may differ, so 1e-13 relative (a few hundred
// terms, each rounding by 2^-53). NaN and Inf propagate.
func testSumSquares(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rng := newRand(32)
	var xs []*tensor.Tensor
	want := 0.0
	for _, s := range []tensor.Shape{{3, 4}, {1}, {0}, {50000}} {
		x, v := randTensor(t, b, dt, rng, s...)
		xs = append(xs, x)
		for _, e := range v {
			want += e * e
		}
	}
	dst := b.Empty(dt, 1)
	defer b.Release(dst)
	b.SumSquares(dst, xs)
	got := dst.Item()
	if math.Abs(got-want) > 1e-13*want+unitRoundoff(dt)*want {
		t.Errorf("SumSquares %.17g, float64 reference %.17g", got, want)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(-1)} {
		x, _ := upload(t, b, dt, tensor.Shape{3}, []float64{1, bad, 2})
		b.SumSquares(dst, append(xs, x))
		if g := dst.Item(); !math.IsNaN(g) && !math.IsInf(g, 1) {
			t.Errorf("SumSquares with %g: %g, want NaN or +Inf", bad, g)
		}
	}
	mustPanic(t, "SumSquares into [2]", func() { b.SumSquares(b.Empty(dt, 2), xs) }, "one element")
}

// AdamStep and SGDStep against the formulas of their contract evaluated
// in float64 per element and rounded once, over three steps with a gate
// multiplier of 0.5 and a gated-off step in between, which must change
// nothing (bit for bit). Tolerance: the reference does the contract's
// arithmetic in the same order, so the results differ only by roundings
// (fused multiply-adds, libm's sqrt and pow): 1e-15 relative in float64,
// one ulp (2^-23) in float32; p's tolerance is taken relative to |p| +
// |update|, since the subtraction can cancel.
func testOptimizerSteps(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rng := newRand(33)
	const n = 40
	rel := map[tensor.DType]float64{tensor.Float32: 0x1p-23, tensor.Float64: 1e-15}[dt]
	close := func(what string, got, want []float64) {
		t.Helper()
		checkClose(t, what, tensor.Shape{n}, got, want, func(i int) float64 { return rel*math.Abs(want[i]) + 1e-300 })
	}
	for _, kind := range []string{"adam", "adamw", "sgd", "sgd-nomomentum"} {
		p, pv := randTensor(t, b, dt, rng, n)
		g, _ := randTensor(t, b, dt, rng, n)
		s1, s2 := b.Zeros(dt, n), b.Zeros(dt, n)
		step := b.Zeros(dt, 1)
		m, v := make([]float64, n), make([]float64, n)
		adam := tensor.AdamArgs{LR: 0.01, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.05, Decoupled: kind == "adamw"}
		sgd := tensor.SGDArgs{LR: 0.1, Momentum: 0.9, WeightDecay: 0.05}
		if kind == "sgd-nomomentum" {
			sgd.Momentum = 0
		}
		count := 0
		for k, open := range []bool{true, false, true, true} {
			gv := g.ToFloat64s()
			gate, _ := upload(t, b, dt, tensor.Shape{2}, []float64{0.5, map[bool]float64{true: 1, false: 0}[open]})
			before := [][]float64{p.ToFloat64s(), s1.ToFloat64s(), s2.ToFloat64s(), step.ToFloat64s()}
			switch kind {
			case "adam", "adamw":
				b.AdamStep(p, g, s1, s2, step, gate, adam)
			default:
				buf := s1
				if sgd.Momentum == 0 {
					buf = nil
				}
				b.SGDStep(p, g, buf, step, gate, sgd)
			}
			what := fmt.Sprintf("%s step %d", kind, k)
			if !open {
				for i, x := range []*tensor.Tensor{p, s1, s2, step} {
					checkExact(t, what+" gated off", x.Shape(), x.ToFloat64s(), before[i])
				}
				continue
			}
			count++
			mag := make([]float64, n) // |p| + |update|: the scale of p's rounding
			for i := range pv {
				d := 0.5*gv[i] + 0.05*pv[i]
				shrink := 1.0
				if kind == "adamw" { // decoupled: no L2 term, p shrinks by 1 - lr·wd
					d, shrink = 0.5*gv[i], 1-0.01*0.05
				}
				var upd float64
				switch kind {
				case "adam", "adamw":
					b1, b2 := 0.9, 0.95
					m[i] = b1*m[i] + (1-b1)*d
					v[i] = b2*v[i] + (1-b2)*d*d
					bc1, sbc2 := 1-math.Pow(b1, float64(count)), math.Sqrt(1-math.Pow(b2, float64(count)))
					upd = 0.01 / bc1 * m[i] / (math.Sqrt(v[i])/sbc2 + 1e-8)
					m[i], v[i] = roundTo(dt, m[i]), roundTo(dt, v[i])
				case "sgd":
					if count > 1 {
						d += 0.9 * m[i]
					}
					m[i] = roundTo(dt, d)
					upd = 0.1 * d
				default:
					upd = 0.1 * d
				}
				mag[i] = math.Abs(pv[i]) + math.Abs(upd)
				pv[i] = roundTo(dt, shrink*pv[i]-upd)
			}
			checkClose(t, what+": p", tensor.Shape{n}, p.ToFloat64s(), pv, func(i int) float64 { return 2*rel*mag[i] + 1e-300 })
			if kind != "sgd-nomomentum" {
				close(what+": first state", s1.ToFloat64s(), m)
			}
			if kind == "adam" || kind == "adamw" {
				close(what+": second state", s2.ToFloat64s(), v)
			}
			if c := step.Item(); c != float64(count) {
				t.Errorf("%s: step count %g, want %d", what, c, count)
			}
		}
	}
	x := b.Empty(dt, 3)
	mustPanic(t, "AdamStep with a misshapen moment", func() {
		b.AdamStep(x, x, b.Empty(dt, 4), x, b.Empty(dt, 1), b.Empty(dt, 2), tensor.AdamArgs{})
	}, "adam")
}
