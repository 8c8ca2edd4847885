package devsim

import "github.com/fdsm-go/fdsm/tensor"

// Each primitive validates its operands at the call (tensor.Check*), takes
// their device arrays, and enqueues the CPU kernel.

func (d *Device) Copy(dst, src *tensor.Tensor) {
	tensor.CheckCopy(dst, src)
	x, y := d.in(dst), d.in(src)
	d.enqueue(func() { d.cpu.Copy(x, y) })
}

func (d *Device) Fill(dst *tensor.Tensor, v float64) {
	x := d.in(dst)
	d.enqueue(func() { d.cpu.Fill(x, v) })
}

// Random reserves the generator's words now, on the caller's goroutine, so
// the kernel is a pure function of (stream, offset) whenever it runs.
func (d *Device) Random(dst *tensor.Tensor, dist tensor.Distribution, rng *tensor.RNG) {
	tensor.CheckRandom(dist)
	x := d.in(dst)
	s, off := rng.TakeWords(tensor.RandomWords(dist, dst.Numel()))
	d.enqueue(func() { d.cpu.RandomAt(x, dist, s, off) })
}

func (d *Device) Gemm(tA, tB bool, alpha float64, a, b *tensor.Tensor, beta float64, c *tensor.Tensor) {
	tensor.CheckGemm(tA, tB, a, b, c)
	x, y, z := d.in(a), d.in(b), d.in(c)
	d.enqueue(func() { d.cpu.Gemm(tA, tB, alpha, x, y, beta, z) })
}

func (d *Device) Unary(op tensor.UnaryOp, dst, x *tensor.Tensor) {
	tensor.CheckUnary(op, dst, x)
	o, i := d.in(dst), d.in(x)
	d.enqueue(func() { d.cpu.Unary(op, o, i) })
}

func (d *Device) Binary(op tensor.BinaryOp, dst, a, b *tensor.Tensor) {
	tensor.CheckBinary(op, dst, a, b)
	o, x, y := d.in(dst), d.in(a), d.in(b)
	d.enqueue(func() { d.cpu.Binary(op, o, x, y) })
}

func (d *Device) ReduceTo(op tensor.ReduceOp, dst, x *tensor.Tensor) {
	tensor.CheckReduceTo(op, dst, x)
	o, i := d.in(dst), d.in(x)
	d.enqueue(func() { d.cpu.ReduceTo(op, o, i) })
}

func (d *Device) Transpose(dst, x *tensor.Tensor, perm []int) {
	tensor.CheckTranspose(dst, x, perm)
	o, i, p := d.in(dst), d.in(x), append([]int(nil), perm...)
	d.enqueue(func() { d.cpu.Transpose(o, i, p) })
}

func (d *Device) Concat(dst *tensor.Tensor, xs []*tensor.Tensor, axis int) {
	tensor.CheckConcat(dst, xs, axis)
	o, is := d.in(dst), d.ins(xs)
	d.enqueue(func() { d.cpu.Concat(o, is, axis) })
}

func (d *Device) Slice(dst, x *tensor.Tensor, axis, start int) {
	tensor.CheckSlice(dst, x, axis, start)
	o, i := d.in(dst), d.in(x)
	d.enqueue(func() { d.cpu.Slice(o, i, axis, start) })
}

func (d *Device) SetSlice(dst, src *tensor.Tensor, axis, start int) {
	tensor.CheckSetSlice(dst, src, axis, start)
	o, i := d.in(dst), d.in(src)
	d.enqueue(func() { d.cpu.SetSlice(o, i, axis, start) })
}

func (d *Device) Conv2D(y, x, w *tensor.Tensor, p tensor.ConvParams) {
	tensor.CheckConv2D(y, x, w, p)
	a, b, c := d.in(y), d.in(x), d.in(w)
	d.enqueue(func() { d.cpu.Conv2D(a, b, c, p) })
}

func (d *Device) Conv2DInputGrad(dx, gy, w *tensor.Tensor, p tensor.ConvParams) {
	tensor.CheckConv2DInputGrad(dx, gy, w, p)
	a, b, c := d.in(dx), d.in(gy), d.in(w)
	d.enqueue(func() { d.cpu.Conv2DInputGrad(a, b, c, p) })
}

func (d *Device) Conv2DWeightGrad(dw, x, gy *tensor.Tensor, p tensor.ConvParams) {
	tensor.CheckConv2DWeightGrad(dw, x, gy, p)
	a, b, c := d.in(dw), d.in(x), d.in(gy)
	d.enqueue(func() { d.cpu.Conv2DWeightGrad(a, b, c, p) })
}

func (d *Device) AvgPool2D(y, x *tensor.Tensor, p tensor.PoolParams) {
	tensor.CheckAvgPool2D(y, x, p)
	a, b := d.in(y), d.in(x)
	d.enqueue(func() { d.cpu.AvgPool2D(a, b, p) })
}

func (d *Device) AvgPool2DAdjoint(dx, gy *tensor.Tensor, p tensor.PoolParams) {
	tensor.CheckAvgPool2DAdjoint(dx, gy, p)
	a, b := d.in(dx), d.in(gy)
	d.enqueue(func() { d.cpu.AvgPool2DAdjoint(a, b, p) })
}

// Solve returns its error to the caller, so it waits for the queue: a host
// synchronisation, as a GPU solver that reports singularity needs.
func (d *Device) Solve(x, a, b *tensor.Tensor) error {
	tensor.CheckSolve(x, a, b)
	o, m, r := d.in(x), d.in(a), d.in(b)
	var err error
	d.enqueue(func() { err = d.cpu.Solve(o, m, r) })
	d.hostWait()
	return err
}

func (d *Device) ScalarOp(op tensor.BinaryOp, dst, x *tensor.Tensor, s float64, scalarFirst bool) {
	tensor.CheckScalarOp(op, dst, x)
	o, i := d.in(dst), d.in(x)
	d.enqueue(func() { d.cpu.ScalarOp(op, o, i, s, scalarFirst) })
}

func (d *Device) SumSquares(dst *tensor.Tensor, xs []*tensor.Tensor) {
	tensor.CheckSumSquares(dst, xs)
	o, is := d.in(dst), d.ins(xs)
	d.enqueue(func() { d.cpu.SumSquares(o, is) })
}

func (d *Device) AdamStep(p, grad, m, v, t, gate *tensor.Tensor, a tensor.AdamArgs) {
	tensor.CheckOptimizerStep("adam", p, grad, m, v, t, gate)
	ps := d.ins([]*tensor.Tensor{p, grad, m, v, t, gate})
	d.enqueue(func() { d.cpu.AdamStep(ps[0], ps[1], ps[2], ps[3], ps[4], ps[5], a) })
}

func (d *Device) SGDStep(p, grad, buf, t, gate *tensor.Tensor, a tensor.SGDArgs) {
	b := buf
	if a.Momentum == 0 && buf == nil {
		b = p
	}
	tensor.CheckOptimizerStep("sgd", p, grad, b, b, t, gate)
	ps := d.ins([]*tensor.Tensor{p, grad, b, t, gate})
	d.enqueue(func() { d.cpu.SGDStep(ps[0], ps[1], ps[2], ps[3], ps[4], a) })
}
