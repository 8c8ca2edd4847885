package tensor

import "fmt"

// The Check functions validate a primitive's operands as the Backend
// contract requires, without touching their memory. A backend that runs
// work later (a device queue) calls them before enqueuing, so a bad call
// panics at its call site, with the message the CPU backend gives. They do
// not check that operands belong to the backend, nor aliasing: only the
// backend can tell.

// CheckCopy validates Copy.
func CheckCopy(dst, src *Tensor) {
	if dst.Numel() != src.Numel() {
		panic(fmt.Sprintf("tensor: copy %v into %v", src.shape, dst.shape))
	}
}

// CheckRandom validates Random.
func CheckRandom(dist Distribution) {
	if dist.Kind < DistNormal || dist.Kind > DistRademacher {
		panic(fmt.Sprintf("tensor: unknown distribution %d", dist.Kind))
	}
}

// CheckGemm validates Gemm.
func CheckGemm(tA, tB bool, a, b, c *Tensor) {
	sameDType("gemm", a, b, c)
	gemmDims(tA, tB, a, b, c)
}

// CheckUnary validates Unary.
func CheckUnary(op UnaryOp, dst, x *Tensor) {
	sameDType("unary "+op.String(), dst, x)
	if dst.Numel() != x.Numel() {
		panic(fmt.Sprintf("tensor: unary %s of %v into %v", op, x.shape, dst.shape))
	}
}

// CheckBinary validates Binary.
func CheckBinary(op BinaryOp, dst, a, b *Tensor) {
	sameDType("binary "+op.String(), dst, a, b)
	if !CanBroadcastTo(a.shape, dst.shape) || !CanBroadcastTo(b.shape, dst.shape) {
		panic(fmt.Sprintf("tensor: binary %s of %v and %v into %v", op, a.shape, b.shape, dst.shape))
	}
}

// CheckReduceTo validates ReduceTo.
func CheckReduceTo(op ReduceOp, dst, x *Tensor) {
	sameDType("reduce "+op.String(), dst, x)
	if !CanBroadcastTo(dst.shape, x.shape) {
		panic(fmt.Sprintf("tensor: reduce %s of %v to %v: target does not broadcast to the input", op, x.shape, dst.shape))
	}
}

// CheckTranspose validates Transpose.
func CheckTranspose(dst, x *Tensor, perm []int) {
	sameDType("transpose", dst, x)
	transposeCheck(dst, x, perm)
}

// CheckConcat validates Concat.
func CheckConcat(dst *Tensor, xs []*Tensor, axis int) {
	sameDType("concat", append([]*Tensor{dst}, xs...)...)
	concatCheck(dst, xs, axis)
}

// CheckSlice validates Slice.
func CheckSlice(dst, x *Tensor, axis, start int) {
	sameDType("slice", dst, x)
	layoutSliceCheck("slice", x, dst, axis, start)
}

// CheckSetSlice validates SetSlice.
func CheckSetSlice(dst, src *Tensor, axis, start int) {
	sameDType("setslice", dst, src)
	layoutSliceCheck("setslice", dst, src, axis, start)
}

// CheckConv2D validates Conv2D.
func CheckConv2D(y, x, w *Tensor, p ConvParams) {
	sameDType("conv2d", y, x, w)
	convCheck("conv2d", [3]string{"x", "w", "y"}, x.shape, w.shape, y.shape, p)
}

// CheckConv2DInputGrad validates Conv2DInputGrad.
func CheckConv2DInputGrad(dx, gy, w *Tensor, p ConvParams) {
	sameDType("conv2d input grad", dx, gy, w)
	convCheck("conv2d input grad", [3]string{"dx", "w", "gy"}, dx.shape, w.shape, gy.shape, p)
}

// CheckConv2DWeightGrad validates Conv2DWeightGrad.
func CheckConv2DWeightGrad(dw, x, gy *Tensor, p ConvParams) {
	sameDType("conv2d weight grad", dw, x, gy)
	convCheck("conv2d weight grad", [3]string{"x", "dw", "gy"}, x.shape, dw.shape, gy.shape, p)
}

// CheckAvgPool2D validates AvgPool2D.
func CheckAvgPool2D(y, x *Tensor, p PoolParams) {
	sameDType("avgpool2d", y, x)
	poolCheck("avgpool2d", [2]string{"x", "y"}, x.shape, y.shape, p)
}

// CheckAvgPool2DAdjoint validates AvgPool2DAdjoint.
func CheckAvgPool2DAdjoint(dx, gy *Tensor, p PoolParams) {
	sameDType("avgpool2d adjoint", dx, gy)
	poolCheck("avgpool2d adjoint", [2]string{"dx", "gy"}, dx.shape, gy.shape, p)
}

// CheckSolve validates Solve.
func CheckSolve(x, a, b *Tensor) {
	sameDType("solve", x, a, b)
	solveDims(x, a, b)
}

// CheckWrite validates a typed write of n elements of dt (or n bytes when
// raw) into dst.
func CheckWrite(op string, dst *Tensor, dt DType, n int, raw bool) {
	if raw {
		if n != dst.Bytes() {
			panic(fmt.Sprintf("tensor: %s of %d bytes into %s %v (%d bytes)", op, n, dst.dtype, dst.shape, dst.Bytes()))
		}
		return
	}
	checkHostCopy(op, dst, dt, n)
}

// CheckRead validates a typed read of src into n elements of dt (or n
// bytes when raw).
func CheckRead(op string, src *Tensor, dt DType, n int, raw bool) {
	if raw {
		if n != src.Bytes() {
			panic(fmt.Sprintf("tensor: %s of %s %v (%d bytes) into %d bytes", op, src.dtype, src.shape, src.Bytes(), n))
		}
		return
	}
	checkHostCopy(op, src, dt, n)
}
