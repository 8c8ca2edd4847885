package tensor

import "sync/atomic"

// OpCounts is the work a Counting backend was asked to do.
type OpCounts struct {
	// MACs are the multiply-accumulates of Gemm and the three convolution
	// primitives: m·n·k per GEMM, output elements × C·KH·KW per convolution.
	MACs int64
	// Elementwise counts the elements read by Unary, Binary, ReduceTo,
	// the pooling primitives, Fill and Random (each element once per call).
	Elementwise int64
	// Moved counts the elements copied by Copy, Transpose, Concat, Slice and
	// SetSlice.
	Moved int64
	// Calls counts every counted primitive call.
	Calls int64
}

// FLOPs returns 2·MACs: the floating-point operations of the GEMM-shaped work.
func (c OpCounts) FLOPs() int64 { return 2 * c.MACs }

// Sub returns c - o.
func (c OpCounts) Sub(o OpCounts) OpCounts {
	return OpCounts{c.MACs - o.MACs, c.Elementwise - o.Elementwise, c.Moved - o.Moved, c.Calls - o.Calls}
}

// Counting is a Backend that tallies the arithmetic it forwards to another
// backend. Benchmarks use it to compare methods by the work they do, which no
// engine can beat, next to the time they take, which depends on the engine
// and the machine. It computes nothing itself: results are the wrapped
// backend's, bit for bit. Safe for concurrent use (the counters are atomic).
type Counting struct {
	Backend
	macs, elementwise, moved, calls atomic.Int64
}

var _ Backend = (*Counting)(nil)

// NewCounting wraps be.
func NewCounting(be Backend) *Counting { return &Counting{Backend: be} }

// Counts returns the totals since creation or the last Reset.
func (c *Counting) Counts() OpCounts {
	return OpCounts{c.macs.Load(), c.elementwise.Load(), c.moved.Load(), c.calls.Load()}
}

// Reset sets every counter to zero.
func (c *Counting) Reset() {
	c.macs.Store(0)
	c.elementwise.Store(0)
	c.moved.Store(0)
	c.calls.Store(0)
}

// Empty returns a tensor of the wrapped backend that reports c as its
// Backend, so code that finds the backend through a tensor is counted too.
func (c *Counting) Empty(dt DType, shape ...int) *Tensor {
	t := c.Backend.Empty(dt, shape...)
	t.backend = c
	return t
}

// Zeros is Empty, zero-filled.
func (c *Counting) Zeros(dt DType, shape ...int) *Tensor {
	t := c.Backend.Zeros(dt, shape...)
	t.backend = c
	return t
}

// Release hands t back to the wrapped backend's pool (tensors the wrapped
// backend made directly go back too; it ignores any others).
func (c *Counting) Release(t *Tensor) {
	if t != nil && t.backend == Backend(c) {
		t.backend = c.Backend
	}
	c.Backend.Release(t)
}

func (c *Counting) addMACs(n int)        { c.macs.Add(int64(n)); c.calls.Add(1) }
func (c *Counting) addElementwise(n int) { c.elementwise.Add(int64(n)); c.calls.Add(1) }
func (c *Counting) addMoved(n int)       { c.moved.Add(int64(n)); c.calls.Add(1) }

// Gemm counts batch·m·n·k MACs, with k the contracted length of op(a).
func (c *Counting) Gemm(transA, transB bool, alpha float64, a, b *Tensor, beta float64, out *Tensor) {
	c.Backend.Gemm(transA, transB, alpha, a, b, beta, out) // validates the shapes first
	k := a.Dim(a.Rank() - 1)
	if transA {
		k = a.Dim(a.Rank() - 2)
	}
	c.addMACs(out.Numel() * k)
}

// Conv2D counts one MAC per output element and kernel tap: numel(y)·C·KH·KW.
func (c *Counting) Conv2D(y, x, w *Tensor, p ConvParams) {
	c.Backend.Conv2D(y, x, w, p)
	c.addMACs(y.Numel() * w.Dim(1) * w.Dim(2) * w.Dim(3))
}

// Conv2DInputGrad counts the same MACs as the forward convolution it inverts.
func (c *Counting) Conv2DInputGrad(dx, gy, w *Tensor, p ConvParams) {
	c.Backend.Conv2DInputGrad(dx, gy, w, p)
	c.addMACs(gy.Numel() * w.Dim(1) * w.Dim(2) * w.Dim(3))
}

// Conv2DWeightGrad counts the same MACs as the forward convolution.
func (c *Counting) Conv2DWeightGrad(dw, x, gy *Tensor, p ConvParams) {
	c.Backend.Conv2DWeightGrad(dw, x, gy, p)
	c.addMACs(gy.Numel() * dw.Dim(1) * dw.Dim(2) * dw.Dim(3))
}

func (c *Counting) Unary(op UnaryOp, dst, x *Tensor) {
	c.Backend.Unary(op, dst, x)
	c.addElementwise(dst.Numel())
}

func (c *Counting) Binary(op BinaryOp, dst, a, b *Tensor) {
	c.Backend.Binary(op, dst, a, b)
	c.addElementwise(dst.Numel())
}

func (c *Counting) ReduceTo(op ReduceOp, dst, x *Tensor) {
	c.Backend.ReduceTo(op, dst, x)
	c.addElementwise(x.Numel())
}

func (c *Counting) AvgPool2D(y, x *Tensor, p PoolParams) {
	c.Backend.AvgPool2D(y, x, p)
	c.addElementwise(x.Numel())
}

func (c *Counting) AvgPool2DAdjoint(dx, gy *Tensor, p PoolParams) {
	c.Backend.AvgPool2DAdjoint(dx, gy, p)
	c.addElementwise(dx.Numel())
}

func (c *Counting) Fill(dst *Tensor, v float64) {
	c.Backend.Fill(dst, v)
	c.addElementwise(dst.Numel())
}

func (c *Counting) Random(dst *Tensor, dist Distribution, rng *RNG) {
	c.Backend.Random(dst, dist, rng)
	c.addElementwise(dst.Numel())
}

func (c *Counting) Copy(dst, src *Tensor) {
	c.Backend.Copy(dst, src)
	c.addMoved(dst.Numel())
}

func (c *Counting) Transpose(dst, x *Tensor, perm []int) {
	c.Backend.Transpose(dst, x, perm)
	c.addMoved(dst.Numel())
}

func (c *Counting) Concat(dst *Tensor, xs []*Tensor, axis int) {
	c.Backend.Concat(dst, xs, axis)
	c.addMoved(dst.Numel())
}

func (c *Counting) Slice(dst, x *Tensor, axis, start int) {
	c.Backend.Slice(dst, x, axis, start)
	c.addMoved(dst.Numel())
}

func (c *Counting) SetSlice(dst, src *Tensor, axis, start int) {
	c.Backend.SetSlice(dst, src, axis, start)
	c.addMoved(src.Numel())
}

func (c *Counting) ScalarOp(op BinaryOp, dst, x *Tensor, s float64, scalarFirst bool) {
	c.Backend.ScalarOp(op, dst, x, s, scalarFirst)
	c.addElementwise(dst.Numel())
}

func (c *Counting) SumSquares(dst *Tensor, xs []*Tensor) {
	c.Backend.SumSquares(dst, xs)
	n := 0
	for _, x := range xs {
		n += x.Numel()
	}
	c.addElementwise(n)
}

func (c *Counting) AdamStep(p, grad, m, v, t, gate *Tensor, a AdamArgs) {
	c.Backend.AdamStep(p, grad, m, v, t, gate, a)
	c.addElementwise(p.Numel())
}

func (c *Counting) SGDStep(p, grad, buf, t, gate *Tensor, a SGDArgs) {
	c.Backend.SGDStep(p, grad, buf, t, gate, a)
	c.addElementwise(p.Numel())
}
