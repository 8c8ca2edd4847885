package backendtest

import (
	"fmt"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// The layout primitives move data without arithmetic, so every check here is
// exact.

// layoutShapes are the shapes Concat, Slice and SetSlice are checked on,
// along every axis.
var layoutShapes = []tensor.Shape{{7}, {3, 5}, {2, 4, 3}, {2, 3, 2, 4}, {1, 3, 1, 5, 2}}

// Transpose: random permutations of random shapes of rank 0 to 5, plus fixed
// cases with tile edges, unit axes, an empty axis and the identity.
func testTranspose(t *testing.T, b tensor.Backend, dt tensor.DType) {
	type tcase struct {
		shape tensor.Shape
		perm  []int
	}
	cases := []tcase{
		{tensor.Shape{}, []int{}},
		{tensor.Shape{1, 1}, []int{1, 0}},
		{tensor.Shape{67, 130}, []int{1, 0}},
		{tensor.Shape{5, 70, 66}, []int{0, 2, 1}},
		{tensor.Shape{130, 67, 3}, []int{1, 0, 2}},
		{tensor.Shape{8, 16, 32}, []int{2, 0, 1}},
		{tensor.Shape{300, 257}, []int{1, 0}},
		{tensor.Shape{40, 50, 60}, []int{2, 1, 0}},
		{tensor.Shape{2, 0, 3}, []int{2, 0, 1}},
		{tensor.Shape{3, 1, 4, 1, 5}, []int{4, 2, 0, 3, 1}},
		{tensor.Shape{2, 3, 4, 5}, []int{0, 1, 2, 3}},
		{tensor.Shape{2, 3, 4, 5}, []int{2, 3, 0, 1}},
	}
	rng := newRand(6)
	for len(cases) < 90 {
		r := rng.IntN(6)
		s := make(tensor.Shape, r)
		for i := range s {
			s[i] = 1 + rng.IntN(5)
			if rng.IntN(5) == 0 {
				s[i] = 1
			}
		}
		cases = append(cases, tcase{s, rng.Perm(r)})
	}
	for _, c := range cases {
		x, xv := randTensor(t, b, dt, rng, c.shape...)
		ds := make(tensor.Shape, len(c.shape))
		for i, p := range c.perm {
			ds[i] = c.shape[p]
		}
		d := nanTensor(t, b, dt, ds...)
		what := fmt.Sprintf("Transpose of %v by %v", c.shape, c.perm)
		if !call(t, what, func() { b.Transpose(d, x, c.perm) }) {
			continue
		}
		checkExact(t, what, ds, d.ToFloat64s(), refTranspose(xv, c.shape, c.perm))
		checkExact(t, what+": x afterwards", c.shape, x.ToFloat64s(), xv)
	}
}

// partitions returns ways to split extent e into consecutive pieces,
// including pieces of size 0.
func partitions(e int) [][]int {
	p := [][]int{{e}, {1, e - 1}, {e - 1, 0, 1}}
	if e >= 3 {
		p = append(p, []int{2, 1, e - 3}, []int{0, 1, 1, e - 2})
	}
	return p
}

// Concat along every axis of every layout shape, with 1 to 4 pieces.
func testConcat(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rng := newRand(7)
	for _, ds := range append(layoutShapes, tensor.Shape{40, 900}) {
		for axis := range ds {
			for _, parts := range partitions(ds[axis]) {
				var xs []*tensor.Tensor
				var vals [][]float64
				var shapes []tensor.Shape
				for _, e := range parts {
					s := ds.Clone()
					s[axis] = e
					x, xv := randTensor(t, b, dt, rng, s...)
					xs, vals, shapes = append(xs, x), append(vals, xv), append(shapes, s)
				}
				d := nanTensor(t, b, dt, ds...)
				what := fmt.Sprintf("Concat of %v along axis %d into %v", shapes, axis, ds)
				if !call(t, what, func() { b.Concat(d, xs, axis) }) {
					continue
				}
				checkExact(t, what, ds, d.ToFloat64s(), refConcat(vals, shapes, axis, ds))
			}
		}
	}
}

// windows returns (start, length) pairs of windows within extent e: all of
// it, the first and last element, the interior, and an empty window at the
// end.
func windows(e int) [][2]int {
	w := [][2]int{{0, e}, {0, 1}, {e - 1, 1}, {e, 0}}
	if e >= 3 {
		w = append(w, [2]int{1, e - 2})
	}
	return w
}

// Slice along every axis.
func testSlice(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rng := newRand(8)
	for _, xs := range append(layoutShapes, tensor.Shape{40, 900}) {
		x, xv := randTensor(t, b, dt, rng, xs...)
		for axis := range xs {
			for _, w := range windows(xs[axis]) {
				ds := xs.Clone()
				ds[axis] = w[1]
				d := nanTensor(t, b, dt, ds...)
				what := fmt.Sprintf("Slice of %v along axis %d from %d, length %d", xs, axis, w[0], w[1])
				if !call(t, what, func() { b.Slice(d, x, axis, w[0]) }) {
					continue
				}
				checkExact(t, what, ds, d.ToFloat64s(), refSlice(xv, xs, axis, w[0], ds))
			}
		}
		checkExact(t, fmt.Sprintf("Slice source %v afterwards", xs), xs, x.ToFloat64s(), xv)
	}
}

// SetSlice along every axis: the window takes src, the rest of dst keeps its
// values.
func testSetSlice(t *testing.T, b tensor.Backend, dt tensor.DType) {
	rng := newRand(9)
	for _, ds := range append(layoutShapes, tensor.Shape{40, 900}) {
		for axis := range ds {
			for _, w := range windows(ds[axis]) {
				d, dv := randTensor(t, b, dt, rng, ds...)
				ss := ds.Clone()
				ss[axis] = w[1]
				src, sv := randTensor(t, b, dt, rng, ss...)
				what := fmt.Sprintf("SetSlice of %v into %v along axis %d at %d", ss, ds, axis, w[0])
				if !call(t, what, func() { b.SetSlice(d, src, axis, w[0]) }) {
					continue
				}
				checkExact(t, what, ds, d.ToFloat64s(), refSetSlice(dv, ds, sv, ss, axis, w[0]))
				checkExact(t, what+": src afterwards", ss, src.ToFloat64s(), sv)
			}
		}
	}
}
