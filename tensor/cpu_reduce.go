package tensor

import (
	"fmt"
	"math"
)

func (c *CPU) ReduceTo(op ReduceOp, dst, x *Tensor) {
	c.own(dst, x)
	dt := sameDType("reduce "+op.String(), dst, x)
	if !CanBroadcastTo(dst.shape, x.shape) {
		panic(fmt.Sprintf("tensor: reduce %s of %v to %v: target does not broadcast to the input", op, x.shape, dst.shape))
	}
	if x.Numel() == 0 {
		c.Fill(dst, reduceIdentity(op))
		return
	}
	groups := reducePlan(dst.shape, x.shape)
	// float64 accumulators for the general case, from the pool so a
	// steady-state step allocates nothing here.
	acc := c.Empty(Float64, dst.Numel())
	defer c.Release(acc)
	if dt == Float32 {
		reduceGroups(op, dst.f32, x.f32, groups, acc.f64)
	} else {
		reduceGroups(op, dst.f64, x.f64, groups, acc.f64)
	}
}

func reduceIdentity(op ReduceOp) float64 {
	switch op {
	case ReduceMax:
		return math.Inf(-1)
	case ReduceMin:
		return math.Inf(1)
	}
	return 0
}

// reduceGroup is a run of neighbouring axes that are all kept or all reduced.
type reduceGroup struct {
	n      int
	reduce bool
}

// reducePlan merges the axes of x into alternating kept/reduced groups;
// axes of extent 1 are dropped.
func reducePlan(ds, xs Shape) []reduceGroup {
	pd := padShape(ds, len(xs))
	var g []reduceGroup
	for i, n := range xs {
		if n == 1 {
			continue
		}
		red := pd[i] == 1
		if k := len(g) - 1; k >= 0 && g[k].reduce == red {
			g[k].n *= n
			continue
		}
		g = append(g, reduceGroup{n, red})
	}
	if len(g) == 0 {
		g = append(g, reduceGroup{1, false})
	}
	return g
}

func reduceGroups[T float](op ReduceOp, d, x []T, g []reduceGroup, acc []float64) {
	switch {
	case len(g) == 1 && !g[0].reduce:
		copy(d, x)
	case len(g) == 1:
		d[0] = reduceAll(op, x)
	case len(g) == 2 && !g[0].reduce:
		// [kept, reduced]: one reduction per row.
		inner := g[1].n
		parallelFor(g[0].n, inner, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				d[r] = T(reduceSlice(op, x[r*inner:(r+1)*inner]))
			}
		})
	case len(g) == 2:
		// [reduced, kept]: column reductions (bias gradients), split by columns.
		rows, cols := g[0].n, g[1].n
		parallelFor(cols, rows, func(lo, hi int) {
			a := acc[lo:hi]
			for j := range a {
				a[j] = float64(x[lo+j])
			}
			for r := 1; r < rows; r++ {
				row := x[r*cols+lo : r*cols+hi]
				if op == ReduceSum {
					a := a[:len(row)]
					for j, v := range row {
						a[j] += float64(v)
					}
					continue
				}
				for j, v := range row {
					a[j] = combine(op, a[j], float64(v))
				}
			}
			for j, v := range a {
				d[lo+j] = T(v)
			}
		})
	default:
		reduceOdometer(op, d, x, g, acc)
	}
}

// reduceAll reduces the whole slice, in parallel chunks combined in a fixed
// order (the result depends only on GOMAXPROCS, never on timing). float32
// sums accumulate in float64.
func reduceAll[T float](op ReduceOp, x []T) T {
	const chunk = 1 << 14
	nchunk := (len(x) + chunk - 1) / chunk
	if nchunk == 1 {
		return T(reduceSlice(op, x))
	}
	part := make([]float64, nchunk)
	parallelFor(nchunk, chunk, func(lo, hi int) {
		for k := lo; k < hi; k++ {
			part[k] = reduceSlice(op, x[k*chunk:min((k+1)*chunk, len(x))])
		}
	})
	acc := part[0]
	for _, v := range part[1:] {
		acc = combine(op, acc, v)
	}
	return T(acc)
}

func reduceSlice[T float](op ReduceOp, x []T) float64 {
	switch op {
	case ReduceSum:
		// Four accumulators shorten the dependency chain.
		var s0, s1, s2, s3 float64
		i := 0
		for ; i+4 <= len(x); i += 4 {
			s0 += float64(x[i])
			s1 += float64(x[i+1])
			s2 += float64(x[i+2])
			s3 += float64(x[i+3])
		}
		for ; i < len(x); i++ {
			s0 += float64(x[i])
		}
		return (s0 + s1) + (s2 + s3)
	case ReduceMax, ReduceMin:
		acc := reduceIdentity(op)
		for _, v := range x {
			acc = combine(op, acc, float64(v))
		}
		return acc
	}
	panic(fmt.Sprintf("tensor: unknown reduce op %d", op))
}

func combine(op ReduceOp, a, b float64) float64 {
	switch op {
	case ReduceSum:
		return a + b
	case ReduceMax:
		if b > a || b != b {
			return b
		}
		return a
	case ReduceMin:
		if b < a || b != b {
			return b
		}
		return a
	}
	panic(fmt.Sprintf("tensor: unknown reduce op %d", op))
}

// reduceOdometer handles any grouping: it walks x in order, accumulating into
// a float64 scratch indexed like d, and parallelises over the outermost kept
// group when there is one. Rows of the innermost group are contiguous.
func reduceOdometer[T float](op ReduceOp, d, x []T, g []reduceGroup, acc []float64) {
	for i := range acc {
		acc[i] = reduceIdentity(op)
	}
	// Element strides in x and d per group.
	r := len(g)
	sx, sd := make([]int, r), make([]int, r)
	ax, ad := 1, 1
	for k := r - 1; k >= 0; k-- {
		sx[k] = ax
		ax *= g[k].n
		if !g[k].reduce {
			sd[k] = ad
			ad *= g[k].n
		}
	}
	var walk func(k, ox, od int)
	walk = func(k, ox, od int) {
		if k == r-1 {
			n := g[k].n
			if g[k].reduce {
				acc[od] = combine(op, acc[od], reduceSlice(op, x[ox:ox+n]))
				return
			}
			for i := 0; i < n; i++ {
				acc[od+i] = combine(op, acc[od+i], float64(x[ox+i]))
			}
			return
		}
		for i := 0; i < g[k].n; i++ {
			walk(k+1, ox+i*sx[k], od+i*sd[k])
		}
	}
	if !g[0].reduce {
		// Distinct outer indices write distinct parts of acc.
		parallelFor(g[0].n, sx[0], func(lo, hi int) {
			for i := lo; i < hi; i++ {
				walk(1, i*sx[0], i*sd[0])
			}
		})
	} else {
		walk(0, 0, 0)
	}
	for i, v := range acc {
		d[i] = T(v)
	}
}
