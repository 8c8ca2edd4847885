package cuda

import (
	"math"

	"github.com/fdsm-go/fdsm/tensor"
)

// Reductions run in passes of the reduce kernel: each pass cuts every
// output's range into chunks of reduceChunk elements, one thread per chunk,
// into float64 partials; the next pass reduces the partials the same way,
// until one chunk is left and the pass writes the destination. The order
// of the arithmetic depends only on the shapes, never on the launch.

// reduceChunk is the number of elements one thread combines per pass.
const reduceChunk = 512

// maxReduceGroups bounds the kept (and the reduced) axis groups: kept and
// reduced groups alternate, so a rank-8 tensor has at most four of each.
const maxReduceGroups = 4

// reducePlan describes x as kept axes and reduced axes (merged, outermost
// first, strides in elements of x).
type reducePlan struct {
	nout, nred       int64
	kdim, kstride    []int
	rdim, rstride    []int
	srcF64, dstIsF32 bool
}

// planReduce groups x's axes for reducing to ds (which broadcasts to xs):
// unit axes are dropped and neighbours of the same kind merged.
func planReduce(ds, xs tensor.Shape) reducePlan {
	pd := broadcastStrides(ds, len(xs)) // non-zero exactly where ds keeps the axis
	xst := tensor.Shape(xs).Strides()
	p := reducePlan{nout: 1, nred: 1}
	lastKept := -1 // kind of the previous group: 1 kept, 0 reduced, -1 none
	for i, n := range xs {
		if n == 1 {
			continue
		}
		kept := pd[i] != 0
		dim, st := &p.rdim, &p.rstride
		if kept {
			dim, st = &p.kdim, &p.kstride
			p.nout *= int64(n)
		} else {
			p.nred *= int64(n)
		}
		if k := len(*dim) - 1; k >= 0 && lastKept == boolInt(kept) {
			(*dim)[k] *= n
			(*st)[k] = xst[i]
		} else {
			*dim, *st = append(*dim, n), append(*st, xst[i])
		}
		lastKept = boolInt(kept)
	}
	return p
}

func boolInt(v bool) int {
	if v {
		return 1
	}
	return 0
}

func (b *Backend) ReduceTo(op tensor.ReduceOp, dst, x *tensor.Tensor) {
	tensor.CheckReduceTo(op, dst, x)
	pd, px := b.ptr(dst), b.ptr(x)
	switch {
	case dst.Numel() == 0:
	case x.Numel() == 0:
		b.Fill(dst, reduceIdentity(op))
	default:
		plan := planReduce(dst.Shape(), x.Shape())
		plan.dstIsF32 = dst.DType() == tensor.Float32
		plan.srcF64 = x.DType() == tensor.Float64
		b.reduce(reduceCode(op), pd, px, plan)
	}
}

func reduceIdentity(op tensor.ReduceOp) float64 {
	switch op {
	case tensor.ReduceMax:
		return math.Inf(-1)
	case tensor.ReduceMin:
		return math.Inf(1)
	}
	return 0
}

// reduce enqueues the passes from src into dst.
func (b *Backend) reduce(op uint64, dst, src Ptr, p reducePlan) {
	var prev scratch
	for {
		nchunk := (p.nred + reduceChunk - 1) / reduceChunk
		last := nchunk == 1
		out, outF32 := dst, p.dstIsF32 && last
		var part scratch
		if !last {
			part = b.scratch(8 * p.nout * nchunk)
			out = part.p
		}
		kernel := "reduce_f32"
		if p.srcF64 {
			kernel = "reduce_f64"
		}
		args := []uint64{uint64(out), uint64(src), flag(outF32), uint64(p.nout), uint64(p.nred), reduceChunk,
			uint64(nchunk), op, uint64(len(p.kdim)), uint64(len(p.rdim))}
		for _, v := range [][]int{p.kdim, p.kstride, p.rdim, p.rstride} {
			args = append(args, padWords(v)[:maxReduceGroups]...)
		}
		b.launch(kernel, p.nout*nchunk, args...)
		if prev.class > 0 {
			b.free(prev) // the pass that read it is enqueued
		}
		if last {
			return
		}
		// The partials [nout, nchunk] are the next pass's input.
		prev, src = part, part.p
		p = reducePlan{nout: p.nout, nred: nchunk, kdim: []int{int(p.nout)}, kstride: []int{int(nchunk)},
			rdim: []int{int(nchunk)}, rstride: []int{1}, srcF64: true, dstIsF32: p.dstIsF32}
	}
}

// SumSquares: one kernel squares and sums fixed chunks of every tensor (a
// descriptor table tells each thread where its chunk lies), then the
// reduce passes add the partials into dst.
func (b *Backend) SumSquares(dst *tensor.Tensor, xs []*tensor.Tensor) {
	tensor.CheckSumSquares(dst, xs)
	pd := b.ptr(dst)
	var desc []uint64
	var nchunk int64
	for _, x := range xs {
		p, n := b.ptr(x), int64(x.Numel())
		if n == 0 {
			continue
		}
		desc = append(desc, uint64(p), uint64(n), uint64(nchunk))
		nchunk += (n + reduceChunk - 1) / reduceChunk
	}
	if nchunk == 0 {
		b.Fill(dst, 0)
		return
	}
	table := b.upload(desc)
	part := b.scratch(8 * nchunk)
	b.launch("sumsq"+suffix(dst.DType()), nchunk, uint64(part.p), uint64(table.p), uint64(len(desc)/3),
		uint64(nchunk), reduceChunk)
	b.free(table)
	b.reduce(reduceCode(tensor.ReduceSum), pd, part.p, reducePlan{nout: 1, nred: nchunk,
		rdim: []int{int(nchunk)}, rstride: []int{1}, srcF64: true, dstIsF32: dst.DType() == tensor.Float32})
	b.free(part)
}

// upload copies words into fresh device scratch through staging (kernel
// metadata, not counted as Write traffic).
func (b *Backend) upload(words []uint64) scratch {
	n := 8 * len(words)
	s := b.scratch(int64(n))
	sb := b.staging.get(n)
	for i, w := range words {
		for k := range 8 {
			sb.mem[8*i+k] = byte(w >> (8 * k))
		}
	}
	b.check(b.dev.CopyHtoD(s.p, sb.mem[:n], b.s))
	b.staging.put(sb, true)
	return s
}
