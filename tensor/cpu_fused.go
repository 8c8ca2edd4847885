package tensor

import (
	"fmt"
	"math"
)

func (c *CPU) ScalarOp(op BinaryOp, dst, x *Tensor, s float64, scalarFirst bool) {
	c.own(dst, x)
	CheckScalarOp(op, dst, x)
	if dst.dtype == Float32 {
		d, v, k := dst.f32, x.f32, float32(s)
		parallelFor(len(v), 1, func(lo, hi int) { binaryScalar(op, d[lo:hi], v[lo:hi], k, scalarFirst) })
		return
	}
	d, v := dst.f64, x.f64
	parallelFor(len(v), 1, func(lo, hi int) { binaryScalar(op, d[lo:hi], v[lo:hi], s, scalarFirst) })
}

func (c *CPU) SumSquares(dst *Tensor, xs []*Tensor) {
	c.own(dst)
	c.own(xs...)
	CheckSumSquares(dst, xs)
	sum := 0.0
	for _, x := range xs {
		if x.dtype == Float32 {
			sum += sumSquares(x.f32)
		} else {
			sum += sumSquares(x.f64)
		}
	}
	if dst.dtype == Float32 {
		dst.f32[0] = float32(sum)
	} else {
		dst.f64[0] = sum
	}
}

// sumSquares adds x² in float64 over fixed chunks, combined in order, so
// the result does not depend on the thread count.
func sumSquares[T float](x []T) float64 {
	const chunk = 1 << 14
	parts := make([]float64, (len(x)+chunk-1)/chunk)
	parallelFor(len(parts), chunk, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			s := 0.0
			for _, v := range x[k*chunk : min((k+1)*chunk, len(x))] {
				s += float64(v) * float64(v)
			}
			parts[k] = s
		}
	})
	sum := 0.0
	for _, p := range parts {
		sum += p
	}
	return sum
}

// gateOf reads a gate [2] (multiplier, flag) and a step count.
func gateOf(gate *Tensor) (mult float64, ok bool) {
	if gate.dtype == Float32 {
		return float64(gate.f32[0]), gate.f32[1] != 0
	}
	return gate.f64[0], gate.f64[1] != 0
}

func (c *CPU) AdamStep(p, grad, m, v, t, gate *Tensor, a AdamArgs) {
	c.own(p, grad, m, v, t, gate)
	CheckOptimizerStep("adam", p, grad, m, v, t, gate)
	mult, ok := gateOf(gate)
	if !ok {
		return
	}
	step := addStep(t)
	bc1 := 1 - math.Pow(a.Beta1, step)
	sbc2 := math.Sqrt(1 - math.Pow(a.Beta2, step))
	if p.dtype == Float32 {
		adamKernel(p.f32, grad.f32, m.f32, v.f32, mult, a, bc1, sbc2)
	} else {
		adamKernel(p.f64, grad.f64, m.f64, v.f64, mult, a, bc1, sbc2)
	}
}

// addStep increments the one-element count t and returns the new value.
func addStep(t *Tensor) float64 {
	if t.dtype == Float32 {
		t.f32[0]++
		return float64(t.f32[0])
	}
	t.f64[0]++
	return t.f64[0]
}

func adamKernel[T float](p, g, m, v []T, mult float64, a AdamArgs, bc1, sbc2 float64) {
	step := a.LR / bc1
	l2, shrink := a.WeightDecay, 1.0
	if a.Decoupled {
		l2, shrink = 0, 1-a.LR*a.WeightDecay
	}
	parallelFor(len(p), 8, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			gi := mult*float64(g[i]) + l2*float64(p[i])
			mi := a.Beta1*float64(m[i]) + (1-a.Beta1)*gi
			vi := a.Beta2*float64(v[i]) + (1-a.Beta2)*gi*gi
			m[i], v[i] = T(mi), T(vi)
			p[i] = T(shrink*float64(p[i]) - step*mi/(math.Sqrt(vi)/sbc2+a.Eps))
		}
	})
}

func (c *CPU) SGDStep(p, grad, buf, t, gate *Tensor, a SGDArgs) {
	if a.Momentum == 0 && buf == nil {
		buf = p // unused: validated as p's twin
	}
	c.own(p, grad, buf, t, gate)
	CheckOptimizerStep("sgd", p, grad, buf, buf, t, gate)
	mult, ok := gateOf(gate)
	if !ok {
		return
	}
	first := addStep(t) == 1
	if p.dtype == Float32 {
		sgdKernel(p.f32, grad.f32, buf.f32, mult, a, first)
	} else {
		sgdKernel(p.f64, grad.f64, buf.f64, mult, a, first)
	}
}

func sgdKernel[T float](p, g, b []T, mult float64, a SGDArgs, first bool) {
	parallelFor(len(p), 4, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			d := mult*float64(g[i]) + a.WeightDecay*float64(p[i])
			if a.Momentum != 0 {
				if !first {
					d += a.Momentum * float64(b[i])
				}
				b[i] = T(d)
			}
			p[i] = T(float64(p[i]) - a.LR*d)
		}
	})
}

// CheckScalarOp validates ScalarOp.
func CheckScalarOp(op BinaryOp, dst, x *Tensor) {
	sameDType("scalar "+op.String(), dst, x)
	if dst.Numel() != x.Numel() {
		panic(fmt.Sprintf("tensor: scalar %s of %v into %v", op, x.shape, dst.shape))
	}
}

// CheckSumSquares validates SumSquares.
func CheckSumSquares(dst *Tensor, xs []*Tensor) {
	sameDType("sumsquares", append([]*Tensor{dst}, xs...)...)
	if dst.Numel() != 1 {
		panic(fmt.Sprintf("tensor: sumsquares into %v, want one element", dst.shape))
	}
}

// CheckOptimizerStep validates AdamStep and SGDStep: grad and the two
// state tensors like p, a one-element step count and a two-element gate,
// all of p's dtype.
func CheckOptimizerStep(op string, p, grad, s1, s2, t, gate *Tensor) {
	sameDType(op, p, grad, s1, s2, t, gate)
	for _, x := range []*Tensor{grad, s1, s2} {
		if x.Numel() != p.Numel() {
			panic(fmt.Sprintf("tensor: %s of p%v with grad%v and state %v %v", op, p.shape, grad.shape, s1.shape, s2.shape))
		}
	}
	if t.Numel() != 1 || gate.Numel() != 2 {
		panic(fmt.Sprintf("tensor: %s step count %v and gate %v, want 1 and 2 elements", op, t.shape, gate.shape))
	}
}
