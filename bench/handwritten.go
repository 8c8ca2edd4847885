package bench

import "github.com/fdsm-go/fdsm/tensor"

// handMLP is the MLP step written by hand against the backend: the same
// forward and backward arithmetic as the autodiff step, with preallocated
// buffers and gradients accumulated in place. It is the yardstick for "Grad
// without CreateGraph costs what a hand-written backward costs".
type handMLP struct {
	be                tensor.Backend
	m                 *mlpBench
	a1, h1, a2, h2, e *tensor.Tensor
	ones, s1, s2      *tensor.Tensor
	g1, g2, gh1, gh2  *tensor.Tensor
	dW, dB            [3]*tensor.Tensor
	eSum              *tensor.Tensor
}

func newHandMLP(m *mlpBench) *handMLP {
	be, n := m.be, m.x.Dim(0)
	z := func(s ...int) *tensor.Tensor { return be.Zeros(tensor.Float32, s...) }
	h := &handMLP{be: be, m: m,
		a1: z(n, 512), h1: z(n, 512), a2: z(n, 512), h2: z(n, 512), e: z(n, 1),
		ones: z(n, 1), s1: z(n, 512), s2: z(n, 512), g1: z(n, 512), g2: z(n, 512),
		gh1: z(n, 512), gh2: z(n, 512), eSum: z(),
	}
	be.Fill(h.ones, 1)
	for i := 0; i < 3; i++ {
		h.dW[i] = z(m.params[2*i].Value.Shape()...)
		h.dB[i] = z(m.params[2*i+1].Value.Shape()...)
	}
	return h
}

func (h *handMLP) step() {
	be, m := h.be, h.m
	w := func(i int) *tensor.Tensor { return m.params[2*i].Value }
	b := func(i int) *tensor.Tensor { return m.params[2*i+1].Value }
	// forward
	be.Gemm(false, true, 1, m.x, w(0), 0, h.a1)
	be.Binary(tensor.OpAdd, h.a1, h.a1, b(0))
	be.Unary(tensor.OpSoftplus, h.h1, h.a1)
	be.Gemm(false, true, 1, h.h1, w(1), 0, h.a2)
	be.Binary(tensor.OpAdd, h.a2, h.a2, b(1))
	be.Unary(tensor.OpSoftplus, h.h2, h.a2)
	be.Gemm(false, true, 1, h.h2, w(2), 0, h.e)
	be.Binary(tensor.OpAdd, h.e, h.e, b(2))
	be.ReduceTo(tensor.ReduceSum, h.eSum, h.e)
	// backward: d sum(e) / d e = 1
	be.Gemm(true, false, 1, h.ones, h.h2, 1, h.dW[2])
	be.ReduceTo(tensor.ReduceSum, h.dB[2], h.ones) // bias gradients are written, not accumulated: same cost
	be.Gemm(false, false, 1, h.ones, w(2), 0, h.gh2)
	be.Unary(tensor.OpSigmoid, h.s2, h.a2)
	be.Binary(tensor.OpMul, h.g2, h.gh2, h.s2)
	be.Gemm(true, false, 1, h.g2, h.h1, 1, h.dW[1])
	be.ReduceTo(tensor.ReduceSum, h.dB[1], h.g2)
	be.Gemm(false, false, 1, h.g2, w(1), 0, h.gh1)
	be.Unary(tensor.OpSigmoid, h.s1, h.a1)
	be.Binary(tensor.OpMul, h.g1, h.gh1, h.s1)
	be.Gemm(true, false, 1, h.g1, m.x, 1, h.dW[0])
	be.ReduceTo(tensor.ReduceSum, h.dB[0], h.g1)
}
