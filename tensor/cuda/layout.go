package cuda

import (
	"fmt"

	"github.com/fdsm-go/fdsm/tensor"
)

// Layout primitives: Transpose through the transpose kernel, Concat, Slice
// and SetSlice as strided row copies (a plain device copy when there is one
// row). The validation is the CPU backend's (tensor.Check*); a dst that
// starts where its input starts panics as there.

func (b *Backend) Transpose(dst, x *tensor.Tensor, perm []int) {
	tensor.CheckTranspose(dst, x, perm)
	pd, px := b.ptr(dst), b.ptr(x)
	n := int64(x.Numel())
	if n == 0 {
		return
	}
	noAlias("transpose", dst, x, pd, px)
	dims, strides := transposePlan(x.Shape(), perm)
	args := []uint64{uint64(pd), uint64(px), uint64(n), uint64(len(dims))}
	args = append(args, padWords(dims)...)
	args = append(args, padWords(strides)...)
	b.launch("transpose"+suffix(x.DType()), n, args...)
}

// transposePlan gives dst's axes (outermost first) with the stride in x of
// each, dropping unit axes and merging dst neighbours that are contiguous
// in x too.
func transposePlan(xs tensor.Shape, perm []int) (dims, strides []int) {
	xst := xs.Strides()
	for _, a := range perm {
		if a < 0 {
			a += len(xs)
		}
		if xs[a] == 1 {
			continue
		}
		if k := len(dims) - 1; k >= 0 && strides[k] == xst[a]*xs[a] {
			dims[k] *= xs[a]
			strides[k] = xst[a]
			continue
		}
		dims, strides = append(dims, xs[a]), append(strides, xst[a])
	}
	if len(dims) == 0 {
		return []int{1}, []int{0}
	}
	return dims, strides
}

func (b *Backend) Concat(dst *tensor.Tensor, xs []*tensor.Tensor, axis int) {
	tensor.CheckConcat(dst, xs, axis)
	pd := b.ptr(dst)
	ax := normAxis(axis, dst.Rank())
	outer, inner := splitAt(dst.Shape(), ax)
	row, off := dst.Dim(ax)*inner, 0
	for _, x := range xs {
		px := b.ptr(x)
		noAlias("concat", dst, x, pd, px)
		n := x.Dim(ax) * inner
		b.copyRows(dst.DType(), pd, off, row, px, 0, n, outer, n)
		off += n
	}
}

func (b *Backend) Slice(dst, x *tensor.Tensor, axis, start int) {
	tensor.CheckSlice(dst, x, axis, start)
	pd, px := b.ptr(dst), b.ptr(x)
	noAlias("slice", dst, x, pd, px)
	ax := normAxis(axis, x.Rank())
	outer, inner := splitAt(x.Shape(), ax)
	n := dst.Dim(ax) * inner
	b.copyRows(x.DType(), pd, 0, n, px, start*inner, x.Dim(ax)*inner, outer, n)
}

func (b *Backend) SetSlice(dst, src *tensor.Tensor, axis, start int) {
	tensor.CheckSetSlice(dst, src, axis, start)
	pd, ps := b.ptr(dst), b.ptr(src)
	noAlias("setslice", dst, src, pd, ps)
	ax := normAxis(axis, dst.Rank())
	outer, inner := splitAt(dst.Shape(), ax)
	n := src.Dim(ax) * inner
	b.copyRows(dst.DType(), pd, start*inner, dst.Dim(ax)*inner, ps, 0, n, outer, n)
}

// copyRows copies rows blocks of n elements, block r from x[xoff+r*xstride:]
// to y[yoff+r*ystride:].
func (b *Backend) copyRows(dt tensor.DType, y Ptr, yoff, ystride int, x Ptr, xoff, xstride, rows, n int) {
	if rows == 0 || n == 0 {
		return
	}
	es := int64(dt.Size())
	y, x = y.Add(int64(yoff)*es), x.Add(int64(xoff)*es)
	if rows == 1 {
		b.check(b.dev.CopyDtoD(y, x, int64(n)*es, b.s))
		return
	}
	b.launch("copyrows"+suffix(dt), int64(rows*n), uint64(y), uint64(x), uint64(rows), uint64(n),
		uint64(ystride), uint64(xstride))
}

// normAxis makes a (validated) negative axis positive.
func normAxis(axis, rank int) int {
	if axis < 0 {
		return axis + rank
	}
	return axis
}

// splitAt returns the element counts before and after axis.
func splitAt(s tensor.Shape, axis int) (outer, inner int) {
	return tensor.Shape(s[:axis]).Numel(), tensor.Shape(s[axis+1:]).Numel()
}

// noAlias panics when dst and x start at the same element: a layout change
// in place would read what it has already overwritten.
func noAlias(op string, dst, x *tensor.Tensor, pd, px Ptr) {
	if dst.Numel() != 0 && x.Numel() != 0 && pd == px {
		panic(fmt.Sprintf("tensor: %s dst%v aliases its input %v", op, dst.Shape(), x.Shape()))
	}
}
