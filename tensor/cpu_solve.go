package tensor

import (
	"errors"
	"fmt"
	"math"
)

// ErrSingular is returned by Solve when the matrix is singular to working
// precision. Errors that wrap it (errors.Is) add detail.
var ErrSingular = errors.New("tensor: singular matrix")

// Solve solves a x = b for a [n,n] and b [n,k] or [n], writing x (b's shape).
// It uses LU factorisation with partial pivoting, always in float64 so float32
// systems lose accuracy only when x is rounded on the way out. a and b are not
// modified; x may alias b. NaN or Inf entries in a are reported as a wrapped
// ErrSingular, since no pivot test is meaningful then.
func (c *CPU) Solve(x, a, b *Tensor) error {
	c.own(x, a, b)
	sameDType("solve", x, a, b)
	n, k := solveDims(x, a, b)
	if n == 0 {
		return nil
	}

	lu := make([]float64, n*n)
	rhs := make([]float64, n*k) // becomes x
	solveLoad(lu, a)
	solveLoad(rhs, b)

	amax := 0.0
	for _, v := range lu {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("tensor: solve: matrix has non-finite entries: %w", ErrSingular)
		}
		amax = max(amax, math.Abs(v))
	}
	// Gaussian elimination with partial pivoting is backward stable: the
	// computed factors are exact for some a+δa with |δa| of order
	// n·eps·max|a| (times the pivot growth, small in practice). A pivot no
	// larger than that perturbation could be an artefact of rounding, i.e. a
	// is within rounding distance of a singular matrix and any x we produced
	// would be noise, so we report it as singular. Scaling by max|a| makes the
	// test invariant under a -> s·a. eps is float64's even for float32 data:
	// the float32 entries are exact float64 numbers and the arithmetic is
	// float64, so float64 rounding is what can fake a nonzero pivot.
	const eps = 0x1p-52 // float64 machine epsilon, the spacing of floats at 1
	tol := float64(n) * eps * amax

	if err := luSolveInPlace(lu, rhs, n, k, tol); err != nil {
		return err
	}
	if x.dtype == Float64 {
		copy(x.f64, rhs)
	} else {
		for i, v := range rhs {
			x.f32[i] = float32(v)
		}
	}
	return nil
}

// solveDims validates the operands of Solve and returns n and the number of
// right-hand sides k.
func solveDims(x, a, b *Tensor) (n, k int) {
	bad := func() {
		panic(fmt.Sprintf("tensor: solve shapes a%v b%v x%v: want a [n,n], b [n,k] or [n], x like b", a.shape, b.shape, x.shape))
	}
	if a.Rank() != 2 || a.shape[0] != a.shape[1] {
		bad()
	}
	n, k = a.shape[0], 1
	switch b.Rank() {
	case 1:
	case 2:
		k = b.shape[1]
	default:
		bad()
	}
	if b.shape[0] != n || !x.shape.Equal(b.shape) {
		bad()
	}
	return n, k
}

// solveLoad copies t's elements into dst as float64.
func solveLoad(dst []float64, t *Tensor) {
	if t.dtype == Float64 {
		copy(dst, t.f64)
		return
	}
	for i, v := range t.f32 {
		dst[i] = float64(v)
	}
}

// luSolveInPlace overwrites rhs [n,k] with lu⁻¹·rhs, destroying lu [n,n]
// (both row-major). It eliminates below each pivot in lu and rhs together,
// which is L⁻¹P applied to rhs without storing L or P, then back-substitutes
// through U. It returns ErrSingular when a pivot is not above tol.
func luSolveInPlace(lu, rhs []float64, n, k int, tol float64) error {
	for col := 0; col < n; col++ {
		// Partial pivoting: the largest entry in the column bounds every
		// multiplier by 1, which keeps element growth (and thus the backward
		// error) small.
		p, best := col, math.Abs(lu[col*n+col])
		for i := col + 1; i < n; i++ {
			if v := math.Abs(lu[i*n+col]); v > best {
				p, best = i, v
			}
		}
		if !(best > tol) {
			return fmt.Errorf("%w (pivot %d is %.3g, tolerance %.3g)", ErrSingular, col, best, tol)
		}
		if p != col {
			solveSwap(lu[p*n:p*n+n], lu[col*n:col*n+n])
			solveSwap(rhs[p*k:p*k+k], rhs[col*k:col*k+k])
		}
		pivRow := lu[col*n+col+1 : col*n+n]
		pivRHS := rhs[col*k : col*k+k]
		piv := lu[col*n+col]
		// Rows below the pivot are independent: split them over goroutines
		// once the trailing block is large.
		below := n - col - 1
		parallelFor(below, len(pivRow)+k, func(lo, hi int) {
			for i := col + 1 + lo; i < col+1+hi; i++ {
				m := lu[i*n+col] / piv
				lu[i*n+col] = 0
				if m == 0 {
					continue
				}
				solveAxpy(lu[i*n+col+1:i*n+n], pivRow, m)
				solveAxpy(rhs[i*k:i*k+k], pivRHS, m)
			}
		})
	}
	// Back substitution, one row of x at a time (all k columns together so
	// the inner loops are contiguous).
	for i := n - 1; i >= 0; i-- {
		xi := rhs[i*k : i*k+k]
		for j := i + 1; j < n; j++ {
			solveAxpy(xi, rhs[j*k:j*k+k], lu[i*n+j])
		}
		d := lu[i*n+i]
		for t := range xi {
			xi[t] /= d
		}
	}
	return nil
}

// solveAxpy sets y -= m·x.
func solveAxpy(y, x []float64, m float64) {
	x = x[:len(y)]
	for t := range y {
		y[t] -= m * x[t]
	}
}

func solveSwap(a, b []float64) {
	for t := range a {
		a[t], b[t] = b[t], a[t]
	}
}
