package cuda

import (
	"math"

	"github.com/fdsm-go/fdsm/tensor"
)

// maxRank is the most axes a broadcast or transpose plan carries.
const maxRank = tensor.MaxDims

func (b *Backend) Fill(dst *tensor.Tensor, v float64) {
	p, n := b.ptr(dst), int64(dst.Numel())
	if math.Float64bits(v) == 0 { // +0: all-zero bits in both dtypes
		b.zero(p, int64(dst.Bytes()))
		return
	}
	b.launch("fill"+suffix(dst.DType()), n, uint64(p), uint64(n), f64(v))
}

func (b *Backend) Unary(op tensor.UnaryOp, dst, x *tensor.Tensor) {
	tensor.CheckUnary(op, dst, x)
	n := int64(x.Numel())
	b.launch("unary"+suffix(x.DType()), n, uint64(b.ptr(dst)), uint64(b.ptr(x)), uint64(n), unaryCode(op))
}

func (b *Backend) ScalarOp(op tensor.BinaryOp, dst, x *tensor.Tensor, s float64, scalarFirst bool) {
	tensor.CheckScalarOp(op, dst, x)
	n := int64(x.Numel())
	b.launch("scalar"+suffix(x.DType()), n, uint64(b.ptr(dst)), uint64(b.ptr(x)), uint64(n), binaryCode(op),
		f64(s), flag(scalarFirst))
}

func (b *Backend) Binary(op tensor.BinaryOp, dst, x, y *tensor.Tensor) {
	tensor.CheckBinary(op, dst, x, y)
	dims, sa, sb := broadcastPlan(dst.Shape(), x.Shape(), y.Shape())
	n := int64(dst.Numel())
	args := []uint64{uint64(b.ptr(dst)), uint64(b.ptr(x)), uint64(b.ptr(y)), uint64(n), binaryCode(op), uint64(len(dims))}
	args = append(args, padWords(dims)...)
	args = append(args, padWords(sa)...)
	args = append(args, padWords(sb)...)
	b.launch("binary"+suffix(dst.DType()), n, args...)
}

// broadcastPlan gives dst's axes (outermost first) with the element strides
// of a and b along them (0 where broadcast), dropping unit axes and merging
// neighbours that stay contiguous in both, so the kernel's index
// arithmetic runs over as few axes as possible.
func broadcastPlan(ds, as, bs tensor.Shape) (dims, sa, sb []int) {
	r := len(ds)
	stA, stB := broadcastStrides(as, r), broadcastStrides(bs, r)
	for i := 0; i < r; i++ {
		if ds[i] == 1 {
			continue
		}
		if k := len(dims) - 1; k >= 0 && sa[k] == stA[i]*ds[i] && sb[k] == stB[i]*ds[i] {
			dims[k] *= ds[i]
			sa[k], sb[k] = stA[i], stB[i]
			continue
		}
		dims, sa, sb = append(dims, ds[i]), append(sa, stA[i]), append(sb, stB[i])
	}
	if len(dims) == 0 {
		return []int{1}, []int{0}, []int{0}
	}
	return dims, sa, sb
}

// broadcastStrides left-pads s to rank r and returns its row-major strides,
// 0 on axes of extent 1.
func broadcastStrides(s tensor.Shape, r int) []int {
	st := make([]int, r)
	acc := 1
	for i := r - 1; i >= 0; i-- {
		j := i - (r - len(s))
		if j < 0 || s[j] == 1 {
			continue
		}
		st[i] = acc
		acc *= s[j]
	}
	return st
}

// padWords packs v into maxRank words.
func padWords(v []int) []uint64 {
	w := make([]uint64, maxRank)
	for i, x := range v {
		w[i] = i64(x)
	}
	return w
}
