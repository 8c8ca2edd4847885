package autodiff

import (
	"fmt"
)

type matmulOp struct{ tA, tB bool }

func (matmulOp) Name() string { return "matmul" }

// MatMul returns op(a) op(b), where op transposes the last two axes when its
// flag is set. Operands are matrices, or batches of matrices (rank 3) with
// the batch on the first axis; a rank-2 operand is shared by the batch.
func MatMul(a, b *Var, transA, transB bool) *Var {
	tp := tapeOf(a, b)
	sa, sb := a.value.Shape(), b.value.Shape()
	if len(sa) < 2 || len(sb) < 2 || len(sa) > 3 || len(sb) > 3 {
		panic(fmt.Sprintf("autodiff: matmul of %v and %v", sa, sb))
	}
	m := sa[len(sa)-2] // the contraction sizes are checked by the backend's Gemm
	if transA {
		m = sa[len(sa)-1]
	}
	n := sb[len(sb)-1]
	if transB {
		n = sb[len(sb)-2]
	}
	var shape []int
	switch {
	case len(sa) == 3:
		shape = []int{sa[0], m, n}
	case len(sb) == 3:
		shape = []int{sb[0], m, n}
	default:
		shape = []int{m, n}
	}
	be := deviceOf("Gemm", a, b)
	out := tp.alloc(be, a.value.DType(), shape...)
	be.Gemm(transA, transB, 1, a.value, b.value, 0, out)
	return tp.record(matmulOp{transA, transB}, out, a, b)
}

// VJP follows from C = op(A) op(B): dA = g op(B)^T (transposed back when A
// was transposed) and dB = op(A)^T g likewise, written with the transpose
// flags so no transpose is materialised.
func (o matmulOp) VJP(g, out *Var, in []*Var, needs []bool) []*Var {
	a, b := in[0], in[1]
	var ga, gb *Var
	if needs[0] {
		if o.tA {
			ga = MatMul(b, g, o.tB, true)
		} else {
			ga = MatMul(g, b, false, !o.tB)
		}
		ga = reduceBatch(ga, a)
	}
	if needs[1] {
		if o.tB {
			gb = MatMul(g, a, true, o.tA)
		} else {
			gb = MatMul(a, g, !o.tA, false)
		}
		gb = reduceBatch(gb, b)
	}
	return []*Var{ga, gb}
}

// reduceBatch sums a batched cotangent over the batch for a shared operand.
func reduceBatch(g, x *Var) *Var {
	if len(g.Shape()) == 3 && len(x.Shape()) == 2 {
		return Sum(g, 0)
	}
	return g
}

// Linear returns x w^T + b for x [n, in], w [out, in] and b [out] (nil for
// none): PyTorch's nn.Linear layout.
func Linear(x, w, b *Var) *Var {
	y := MatMul(x, w, false, true)
	if b != nil {
		y = Add(y, b)
	}
	return y
}
