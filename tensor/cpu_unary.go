package tensor

import (
	"fmt"
	"math"

	"github.com/fdsm-go/fdsm/tensor/internal/mathf"
)

type float interface{ ~float32 | ~float64 }

func (c *CPU) Unary(op UnaryOp, dst, x *Tensor) {
	c.own(dst, x)
	dt := sameDType("unary "+op.String(), dst, x)
	if dst.Numel() != x.Numel() {
		panic(fmt.Sprintf("tensor: unary %s of %v into %v", op, x.shape, dst.shape))
	}
	cost := unaryCost(op)
	if dt == Float32 {
		d, s := dst.f32, x.f32
		parallelFor(len(s), cost, func(lo, hi int) { unary32(op, d[lo:hi], s[lo:hi]) })
		return
	}
	d, s := dst.f64, x.f64
	parallelFor(len(s), cost, func(lo, hi int) { unaryKernel(op, d[lo:hi], s[lo:hi]) })
}

func unaryCost(op UnaryOp) int {
	switch op {
	case OpNeg, OpSquare, OpAbs, OpSign, OpStep, OpReciprocal:
		return 1
	}
	return 8
}

// unary32 routes float32 transcendentals to the native vectorised kernels
// where the build has them (cpu_native.go), else to internal/mathf (1 ulp,
// several times faster than rounding float64 math); the rest share the
// generic loops.
func unary32(op UnaryOp, dst, x []float32) {
	if nativeUnary32(op, dst, x) {
		return
	}
	switch op {
	case OpExp:
		mathf.ExpSlice(dst, x)
	case OpExpm1:
		mathf.Expm1Slice(dst, x)
	case OpLog:
		mathf.LogSlice(dst, x)
	case OpLog1p:
		mathf.Log1pSlice(dst, x)
	case OpSigmoid:
		mathf.SigmoidSlice(dst, x)
	case OpSoftplus:
		mathf.SoftplusSlice(dst, x)
	case OpTanh:
		mathf.TanhSlice(dst, x)
	case OpELU:
		mathf.ELUSlice(dst, x)
	default:
		unaryKernel(op, dst, x)
	}
}

// unaryKernel evaluates op over a slice. Transcendentals are computed in
// float64 and rounded, which is exact to float32 rounding.
func unaryKernel[T float](op UnaryOp, dst, x []T) {
	dst = dst[:len(x)]
	switch op {
	case OpNeg:
		for i, v := range x {
			dst[i] = -v
		}
	case OpSquare:
		for i, v := range x {
			dst[i] = v * v
		}
	case OpReciprocal:
		for i, v := range x {
			dst[i] = 1 / v
		}
	case OpAbs:
		for i, v := range x {
			if v < 0 {
				v = -v
			}
			dst[i] = v
		}
	case OpSign:
		for i, v := range x {
			switch {
			case v > 0:
				dst[i] = 1
			case v < 0:
				dst[i] = -1
			case v == 0:
				dst[i] = 0
			default:
				dst[i] = v // NaN stays NaN
			}
		}
	case OpStep:
		for i, v := range x {
			if v > 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	default:
		f := unaryFunc64(op)
		for i, v := range x {
			dst[i] = T(f(float64(v)))
		}
	}
}

func unaryFunc64(op UnaryOp) func(float64) float64 {
	switch op {
	case OpExp:
		return math.Exp
	case OpLog:
		return math.Log
	case OpSqrt:
		return math.Sqrt
	case OpTanh:
		return math.Tanh
	case OpSigmoid:
		return sigmoid64
	case OpSoftplus:
		return softplus64
	case OpELU:
		return elu64
	case OpSin:
		return math.Sin
	case OpCos:
		return math.Cos
	case OpLog1p:
		return math.Log1p
	case OpExpm1:
		return math.Expm1
	}
	panic(fmt.Sprintf("tensor: unknown unary op %d", op))
}

func sigmoid64(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// softplus64 is max(x,0) + log1p(exp(-|x|)): no overflow for large x and no
// loss of the tiny result for very negative x.
func softplus64(x float64) float64 {
	if math.IsInf(x, 1) {
		return x
	}
	return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x)))
}

func elu64(x float64) float64 {
	if x > 0 {
		return x
	}
	return math.Expm1(x)
}
