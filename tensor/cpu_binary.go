package tensor

import (
	"fmt"
	"math"
)

func (c *CPU) Binary(op BinaryOp, dst, a, b *Tensor) {
	c.own(dst, a, b)
	dt := sameDType("binary "+op.String(), dst, a, b)
	if !CanBroadcastTo(a.shape, dst.shape) || !CanBroadcastTo(b.shape, dst.shape) {
		panic(fmt.Sprintf("tensor: binary %s of %v and %v into %v", op, a.shape, b.shape, dst.shape))
	}
	if dt == Float32 {
		binaryDispatch(op, dst.f32, a.f32, b.f32, dst.shape, a.shape, b.shape)
	} else {
		binaryDispatch(op, dst.f64, a.f64, b.f64, dst.shape, a.shape, b.shape)
	}
}

func binaryDispatch[T float](op BinaryOp, d, a, b []T, ds, as, bs Shape) {
	n := len(d)
	if n == 0 {
		return
	}
	switch {
	case len(a) == n && len(b) == n:
		parallelFor(n, 1, func(lo, hi int) { binaryFlat(op, d[lo:hi], a[lo:hi], b[lo:hi]) })
		return
	case len(b) == 1 && len(a) == n:
		s := b[0]
		parallelFor(n, 1, func(lo, hi int) { binaryScalar(op, d[lo:hi], a[lo:hi], s, false) })
		return
	case len(a) == 1 && len(b) == n:
		s := a[0]
		parallelFor(n, 1, func(lo, hi int) { binaryScalar(op, d[lo:hi], b[lo:hi], s, true) })
		return
	}
	// General broadcast: collapse to groups, iterate rows of the last group.
	dims, sa, sb := broadcastPlan(ds, as, bs)
	inner := dims[len(dims)-1]
	ia, ib := sa[len(sa)-1], sb[len(sb)-1]
	rows := n / max(inner, 1)
	parallelFor(rows, inner, func(lo, hi int) {
		var idx [MaxDims]int
		outer := dims[:len(dims)-1]
		// Position the odometer at row lo.
		r := lo
		for k := len(outer) - 1; k >= 0; k-- {
			idx[k] = r % outer[k]
			r /= outer[k]
		}
		for row := lo; row < hi; row++ {
			oa, ob := 0, 0
			for k := range outer {
				oa += idx[k] * sa[k]
				ob += idx[k] * sb[k]
			}
			binaryStrided(op, d[row*inner:(row+1)*inner], a[oa:], b[ob:], ia, ib)
			for k := len(outer) - 1; k >= 0; k-- {
				idx[k]++
				if idx[k] < outer[k] {
					break
				}
				idx[k] = 0
			}
		}
	})
}

// broadcastPlan left-pads a and b to dst's rank, gives each axis its element
// stride in a and b (0 where broadcast), and merges neighbouring axes whose
// strides stay contiguous, so the inner loop is as long as possible.
func broadcastPlan(ds, as, bs Shape) (dims, sa, sb []int) {
	r := len(ds)
	pa, pb := padShape(as, r), padShape(bs, r)
	stA, stB := Shape(pa).Strides(), Shape(pb).Strides()
	for i := 0; i < r; i++ {
		if pa[i] == 1 {
			stA[i] = 0
		}
		if pb[i] == 1 {
			stB[i] = 0
		}
	}
	for i := 0; i < r; i++ {
		if ds[i] == 1 {
			continue
		}
		if k := len(dims) - 1; k >= 0 && sa[k] == stA[i]*ds[i] && sb[k] == stB[i]*ds[i] {
			dims[k] *= ds[i]
			sa[k], sb[k] = stA[i], stB[i]
			continue
		}
		dims = append(dims, ds[i])
		sa = append(sa, stA[i])
		sb = append(sb, stB[i])
	}
	if len(dims) == 0 {
		return []int{1}, []int{0}, []int{0}
	}
	return dims, sa, sb
}

func padShape(s Shape, r int) []int {
	p := make([]int, r)
	for i := range p {
		p[i] = 1
	}
	copy(p[r-len(s):], s)
	return p
}

func binaryFlat[T float](op BinaryOp, d, a, b []T) {
	d, b = d[:len(a)], b[:len(a)]
	switch op {
	case OpAdd:
		for i := range a {
			d[i] = a[i] + b[i]
		}
	case OpSub:
		for i := range a {
			d[i] = a[i] - b[i]
		}
	case OpMul:
		for i := range a {
			d[i] = a[i] * b[i]
		}
	case OpDiv:
		for i := range a {
			d[i] = a[i] / b[i]
		}
	default:
		for i := range a {
			d[i] = binaryScalarOp(op, a[i], b[i])
		}
	}
}

// binaryScalar applies op with one operand fixed; swapped puts s on the left.
func binaryScalar[T float](op BinaryOp, d, x []T, s T, swapped bool) {
	d = d[:len(x)]
	switch {
	case op == OpAdd:
		for i, v := range x {
			d[i] = v + s
		}
	case op == OpMul:
		for i, v := range x {
			d[i] = v * s
		}
	case op == OpSub && !swapped:
		for i, v := range x {
			d[i] = v - s
		}
	case op == OpDiv && !swapped:
		for i, v := range x {
			d[i] = v / s
		}
	case swapped:
		for i, v := range x {
			d[i] = binaryScalarOp(op, s, v)
		}
	default:
		for i, v := range x {
			d[i] = binaryScalarOp(op, v, s)
		}
	}
}

func binaryStrided[T float](op BinaryOp, d, a, b []T, ia, ib int) {
	if ia == 1 && ib == 1 {
		binaryFlat(op, d, a[:len(d)], b[:len(d)])
		return
	}
	if ia == 1 && ib == 0 {
		binaryScalar(op, d, a[:len(d)], b[0], false)
		return
	}
	if ia == 0 && ib == 1 {
		binaryScalar(op, d, b[:len(d)], a[0], true)
		return
	}
	for i := range d {
		d[i] = binaryScalarOp(op, a[i*ia], b[i*ib])
	}
}

func binaryScalarOp[T float](op BinaryOp, a, b T) T {
	switch op {
	case OpAdd:
		return a + b
	case OpSub:
		return a - b
	case OpMul:
		return a * b
	case OpDiv:
		return a / b
	case OpMax:
		if a != a || a > b {
			return a
		}
		return b
	case OpMin:
		if a != a || a < b {
			return a
		}
		return b
	case OpPow:
		return T(math.Pow(float64(a), float64(b)))
	case OpGreater:
		if a > b {
			return 1
		}
		return 0
	case OpEqual:
		if a == b {
			return 1
		}
		return 0
	}
	panic(fmt.Sprintf("tensor: unknown binary op %d", op))
}
