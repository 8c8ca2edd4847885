package tensor

import "fmt"

// Layout primitives of the CPU backend: Transpose, Concat, Slice, SetSlice.
// None of them computes anything, so they are bound by memory traffic; the code
// below is about touching each element once, in cache-friendly order.

// Tile shape for transposes that move the last axis. A tile covers tileI
// source rows (contiguous runs of tileI elements in dst) by tileJ source
// columns (dst rows). Keeping tileJ small matters most: the tileJ dst rows
// written in a column-wise sweep are often a power of two bytes apart (e.g.
// 4 KiB for 1024 float32s) and so compete for the same L1 set; 8 of them fit
// in its ways, 32 thrash. On a 1024x1024 float32 transpose 64x8 tiles ran
// several times faster than 32x32 ones.
const (
	tileI = 64
	tileJ = 8
)

// Transpose permutes axes: dst.shape[i] = x.shape[perm[i]]. Negative perm
// entries count from the end.
func (c *CPU) Transpose(dst, x *Tensor, perm []int) {
	c.own(dst, x)
	dt := sameDType("transpose", dst, x)
	p := transposeCheck(dst, x, perm)
	if x.Numel() == 0 {
		return
	}
	layoutNoAlias("transpose", dst, x)
	plan := newTransposePlan(x.shape, p)
	if dt == Float32 {
		transposeRun(plan, dst.f32, x.f32)
	} else {
		transposeRun(plan, dst.f64, x.f64)
	}
}

// transposeCheck validates perm against the shapes and returns it normalised
// (no negative entries).
func transposeCheck(dst, x *Tensor, perm []int) []int {
	r := x.Rank()
	bad := func(why string) {
		panic(fmt.Sprintf("tensor: transpose of x%v by perm %v into dst%v: %s", x.shape, perm, dst.shape, why))
	}
	if len(perm) != r {
		bad(fmt.Sprintf("perm has %d entries for rank %d", len(perm), r))
	}
	if dst.Rank() != r {
		bad("ranks differ")
	}
	p := make([]int, r)
	var seen [MaxDims]bool
	for i, a := range perm {
		if a < -r || a >= r {
			bad(fmt.Sprintf("axis %d out of range", a))
		}
		if a < 0 {
			a += r
		}
		if seen[a] {
			bad(fmt.Sprintf("axis %d repeated", a))
		}
		seen[a] = true
		p[i] = a
	}
	for i, a := range p {
		if dst.shape[i] != x.shape[a] {
			bad(fmt.Sprintf("dst axis %d should be %d", i, x.shape[a]))
		}
	}
	return p
}

// transposePlan is a transpose reduced to its simplest equivalent form, so
// that, e.g., [2,1,3,4] by [0,2,3,1] becomes one 24-element copy, and
// [a,b,c,d] by [2,3,0,1] becomes a 2-D [a*b, c*d] transpose.
//
// After the reduction either the last axis stays last (rows == true: copy
// contiguous rows of inner elements) or it moves (tiled 2-D transposes of the
// dst-last/src-last axis pair, one per index of the remaining outer axes).
type transposePlan struct {
	rows  bool
	inner int // rows: elements per contiguous row

	// tiles: the 2-D sub-problem dst[j*ldd + i] = src[i*lds + j], i < ni, j < nj.
	ni, nj   int
	lds, ldd int

	// Remaining axes, walked by a layoutOdometer, outermost first.
	outer layoutOdometer
}

// layoutOdometer walks a multi-index over a set of axes in row-major order and
// keeps the matching source and destination element offsets.
type layoutOdometer struct {
	n          int // number of axes
	ext        [MaxDims]int
	ss, ds     [MaxDims]int // source / destination strides per axis
	idx        [MaxDims]int
	soff, doff int
	count      int // product of ext
}

func (o *layoutOdometer) add(ext, ss, ds int) {
	o.ext[o.n], o.ss[o.n], o.ds[o.n] = ext, ss, ds
	o.n++
}

// seek positions the odometer at flat index k.
func (o *layoutOdometer) seek(k int) {
	o.soff, o.doff = 0, 0
	for a := o.n - 1; a >= 0; a-- {
		i := k % o.ext[a]
		k /= o.ext[a]
		o.idx[a] = i
		o.soff += i * o.ss[a]
		o.doff += i * o.ds[a]
	}
}

// next advances to the following flat index.
func (o *layoutOdometer) next() {
	for a := o.n - 1; a >= 0; a-- {
		o.idx[a]++
		o.soff += o.ss[a]
		o.doff += o.ds[a]
		if o.idx[a] < o.ext[a] {
			return
		}
		o.soff -= o.ext[a] * o.ss[a]
		o.doff -= o.ext[a] * o.ds[a]
		o.idx[a] = 0
	}
}

// newTransposePlan reduces (shape, perm) by dropping unit axes and merging
// axes that are adjacent, in the same order, in both source and destination
// (such a run is one larger axis as far as memory layout goes).
func newTransposePlan(shape Shape, perm []int) transposePlan {
	// Drop unit axes, renumbering the survivors.
	var sh, remap, pm [MaxDims]int
	r := 0
	for a, d := range shape {
		if d != 1 {
			remap[a] = r
			sh[r] = d
			r++
		}
	}
	k := 0
	for _, a := range perm {
		if shape[a] != 1 {
			pm[k] = remap[a]
			k++
		}
	}

	// Group dst axes into runs of consecutive source axes. runOf[s] is the
	// run starting at source axis s (or -1), runLen its length.
	var runOf, runLen [MaxDims]int
	for i := range runOf {
		runOf[i] = -1
	}
	nr := 0
	for i := 0; i < r; {
		j := i + 1
		for j < r && pm[j] == pm[j-1]+1 {
			j++
		}
		runOf[pm[i]] = nr
		runLen[nr] = j - i
		nr++
		i = j
	}
	// Source order of the runs gives the merged shape and perm.
	var cs, cp, pos [MaxDims]int
	n := 0
	for s := 0; s < r; s++ {
		if run := runOf[s]; run >= 0 {
			e := 1
			for t := s; t < s+runLen[run]; t++ {
				e *= sh[t]
			}
			cs[n] = e
			pos[run] = n
			n++
		}
	}
	for i := 0; i < nr; i++ {
		cp[i] = pos[i]
	}

	// Strides of the merged problem.
	var sstr, dext, dstr [MaxDims]int
	acc := 1
	for a := n - 1; a >= 0; a-- {
		sstr[a] = acc
		acc *= cs[a]
	}
	for i := 0; i < n; i++ {
		dext[i] = cs[cp[i]]
	}
	acc = 1
	for i := n - 1; i >= 0; i-- {
		dstr[i] = acc
		acc *= dext[i]
	}

	var p transposePlan
	switch {
	case n == 0:
		// A single element (all axes unit).
		p.rows, p.inner = true, 1
	case cp[n-1] == n-1:
		p.rows, p.inner = true, cs[n-1]
		for i := 0; i < n-1; i++ {
			p.outer.add(dext[i], sstr[cp[i]], dstr[i])
		}
	default:
		q := 0 // dst axis holding the source's last axis
		for cp[q] != n-1 {
			q++
		}
		p.ni, p.lds = dext[n-1], sstr[cp[n-1]]
		p.nj, p.ldd = cs[n-1], dstr[q]
		for i := 0; i < n-1; i++ {
			if i != q {
				p.outer.add(dext[i], sstr[cp[i]], dstr[i])
			}
		}
	}
	p.outer.count = 1
	for a := 0; a < p.outer.n; a++ {
		p.outer.count *= p.outer.ext[a]
	}
	return p
}

func transposeRun[T float32 | float64](p transposePlan, dst, src []T) {
	od := p.outer
	if p.rows {
		n := p.inner
		parallelFor(od.count, n, func(lo, hi int) {
			o := od // each goroutine walks its own copy
			o.seek(lo)
			for k := lo; k < hi; k++ {
				copy(dst[o.doff:o.doff+n], src[o.soff:o.soff+n])
				o.next()
			}
		})
		return
	}
	// Work items are (outer index, i tile, j tile), j tile fastest, so
	// consecutive items of one goroutine reuse the same source lines.
	bi := (p.ni + tileI - 1) / tileI
	bj := (p.nj + tileJ - 1) / tileJ
	per := bi * bj
	cost := min(p.ni, tileI) * min(p.nj, tileJ)
	parallelFor(od.count*per, cost, func(lo, hi int) {
		o := od
		cur := lo / per
		o.seek(cur)
		for k := lo; k < hi; k++ {
			if k/per != cur {
				cur++
				o.next()
			}
			t := k % per
			i0, j0 := t/bj*tileI, t%bj*tileJ
			transposeBlock(dst[o.doff:], src[o.soff:], p.ldd, p.lds,
				i0, min(i0+tileI, p.ni), j0, min(j0+tileJ, p.nj))
		}
	})
}

// transposeBlock sets dst[j*ldd+i] = src[i*lds+j] for i in [i0,i1), j in
// [j0,j1). Full 4x4 sub-blocks go through registers, so each source row and
// each dst row is touched with 4-element runs instead of single elements;
// ragged edges fall back to transposeEdge.
func transposeBlock[T float32 | float64](dst, src []T, ldd, lds, i0, i1, j0, j1 int) {
	i := i0
	for ; i+4 <= i1; i += 4 {
		// Row slices ending at j1 let the compiler drop most bounds checks.
		s0 := src[i*lds : i*lds+j1]
		s1 := src[(i+1)*lds : (i+1)*lds+j1]
		s2 := src[(i+2)*lds : (i+2)*lds+j1]
		s3 := src[(i+3)*lds : (i+3)*lds+j1]
		j := j0
		for ; j+4 <= j1; j += 4 {
			a0, a1, a2, a3 := s0[j], s0[j+1], s0[j+2], s0[j+3]
			b0, b1, b2, b3 := s1[j], s1[j+1], s1[j+2], s1[j+3]
			c0, c1, c2, c3 := s2[j], s2[j+1], s2[j+2], s2[j+3]
			e0, e1, e2, e3 := s3[j], s3[j+1], s3[j+2], s3[j+3]
			d := dst[j*ldd+i : j*ldd+i+4]
			d[0], d[1], d[2], d[3] = a0, b0, c0, e0
			d = dst[(j+1)*ldd+i : (j+1)*ldd+i+4]
			d[0], d[1], d[2], d[3] = a1, b1, c1, e1
			d = dst[(j+2)*ldd+i : (j+2)*ldd+i+4]
			d[0], d[1], d[2], d[3] = a2, b2, c2, e2
			d = dst[(j+3)*ldd+i : (j+3)*ldd+i+4]
			d[0], d[1], d[2], d[3] = a3, b3, c3, e3
		}
		if j < j1 {
			transposeEdge(dst, src, ldd, lds, i, i+4, j, j1)
		}
	}
	if i < i1 {
		transposeEdge(dst, src, ldd, lds, i, i1, j0, j1)
	}
}

// transposeEdge is transposeBlock one element at a time.
func transposeEdge[T float32 | float64](dst, src []T, ldd, lds, i0, i1, j0, j1 int) {
	for i := i0; i < i1; i++ {
		row := src[i*lds+j0 : i*lds+j1]
		d := j0*ldd + i
		for _, v := range row {
			dst[d] = v
			d += ldd
		}
	}
}

// Concat joins xs along axis into dst. All xs match dst except along axis,
// where their extents add up to dst's. Zero-size inputs are allowed.
func (c *CPU) Concat(dst *Tensor, xs []*Tensor, axis int) {
	c.own(dst)
	c.own(xs...)
	sameDType("concat", append([]*Tensor{dst}, xs...)...)
	ax := concatCheck(dst, xs, axis)
	outer, inner := layoutSplit(dst.shape, ax)
	row := dst.shape[ax] * inner
	off := 0
	for _, x := range xs {
		layoutNoAlias("concat", dst, x)
		n := x.shape[ax] * inner
		layoutCopyRows(dst, x, outer, n, off, row, 0, n)
		off += n
	}
}

// Slice copies x[..., start:start+dst.shape[axis], ...] into dst.
func (c *CPU) Slice(dst, x *Tensor, axis, start int) {
	c.own(dst, x)
	sameDType("slice", dst, x)
	ax := layoutSliceCheck("slice", x, dst, axis, start)
	layoutNoAlias("slice", dst, x)
	outer, inner := layoutSplit(x.shape, ax)
	n := dst.shape[ax] * inner
	layoutCopyRows(dst, x, outer, n, 0, n, start*inner, x.shape[ax]*inner)
}

// SetSlice copies src into dst[..., start:start+src.shape[axis], ...] and
// leaves the rest of dst unchanged.
func (c *CPU) SetSlice(dst, src *Tensor, axis, start int) {
	c.own(dst, src)
	sameDType("setslice", dst, src)
	ax := layoutSliceCheck("setslice", dst, src, axis, start)
	layoutNoAlias("setslice", dst, src)
	outer, inner := layoutSplit(dst.shape, ax)
	n := src.shape[ax] * inner
	layoutCopyRows(dst, src, outer, n, start*inner, dst.shape[ax]*inner, 0, n)
}

// layoutSliceCheck validates that part, a window of whole along axis starting
// at start, fits, and returns the normalised axis.
func layoutSliceCheck(op string, whole, part *Tensor, axis, start int) int {
	ax := layoutAxis(op, axis, whole)
	ok := part.Rank() == whole.Rank()
	for a := 0; ok && a < whole.Rank(); a++ {
		ok = a == ax || part.shape[a] == whole.shape[a]
	}
	if !ok || start < 0 || start+part.shape[ax] > whole.shape[ax] {
		panic(fmt.Sprintf("tensor: %s at start %d along axis %d: part%v does not fit whole%v",
			op, start, axis, part.shape, whole.shape))
	}
	return ax
}

// layoutAxis normalises a possibly negative axis of t, panicking if it is out
// of range.
func layoutAxis(op string, axis int, t *Tensor) int {
	r := t.Rank()
	if axis < -r || axis >= r {
		panic(fmt.Sprintf("tensor: %s axis %d out of range for shape %v", op, axis, t.shape))
	}
	if axis < 0 {
		axis += r
	}
	return axis
}

// layoutSplit returns the element counts before and after axis: the tensor is
// outer rows of shape[axis]*inner contiguous elements.
func layoutSplit(s Shape, axis int) (outer, inner int) {
	outer, inner = 1, 1
	for _, d := range s[:axis] {
		outer *= d
	}
	for _, d := range s[axis+1:] {
		inner *= d
	}
	return
}

// layoutCopyRows copies rows blocks of n contiguous elements: block r goes
// from src[soff+r*sstride:] to dst[doff+r*dstride:]. Concat, Slice and
// SetSlice are all this one strided copy.
func layoutCopyRows(dst, src *Tensor, rows, n, doff, dstride, soff, sstride int) {
	if rows == 0 || n == 0 {
		return
	}
	if dst.dtype == Float32 {
		layoutCopyRowsT(dst.f32, src.f32, rows, n, doff, dstride, soff, sstride)
	} else {
		layoutCopyRowsT(dst.f64, src.f64, rows, n, doff, dstride, soff, sstride)
	}
}

func layoutCopyRowsT[T float32 | float64](dst, src []T, rows, n, doff, dstride, soff, sstride int) {
	parallelFor(rows, n, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			d := doff + r*dstride
			s := soff + r*sstride
			copy(dst[d:d+n], src[s:s+n])
		}
	})
}

// layoutNoAlias panics when dst and x start at the same element: an in-place
// layout change would read elements it has already overwritten. (Partial
// overlaps are not detected; the Backend contract forbids them too.)
func layoutNoAlias(op string, dst, x *Tensor) {
	if dst.Numel() == 0 || x.Numel() == 0 {
		return
	}
	same := false
	if dst.dtype == Float32 {
		same = &dst.f32[0] == &x.f32[0]
	} else {
		same = &dst.f64[0] == &x.f64[0]
	}
	if same {
		panic(fmt.Sprintf("tensor: %s dst%v aliases its input %v", op, dst.shape, x.shape))
	}
}

// concatCheck validates Concat's shapes and returns the normalised axis.
func concatCheck(dst *Tensor, xs []*Tensor, axis int) int {
	r := dst.Rank()
	ax := layoutAxis("concat", axis, dst)
	total := 0
	for i, x := range xs {
		ok := x.Rank() == r
		for a := 0; ok && a < r; a++ {
			ok = a == ax || x.shape[a] == dst.shape[a]
		}
		if !ok {
			panic(fmt.Sprintf("tensor: concat along axis %d: input %d x%v does not match dst%v", axis, i, x.shape, dst.shape))
		}
		total += x.shape[ax]
	}
	if total != dst.shape[ax] {
		shapes := make([]Shape, len(xs))
		for i, x := range xs {
			shapes[i] = x.shape
		}
		panic(fmt.Sprintf("tensor: concat along axis %d of %v: extents sum to %d, dst%v has %d", axis, shapes, total, dst.shape, dst.shape[ax]))
	}
	return ax
}
