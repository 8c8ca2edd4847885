package backendtest

import (
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// ShapePanics spot-checks the convention that a shape mismatch panics with
// the shapes named (as Shape.String writes them, e.g. "[3 4]").
func testShapePanics(t *testing.T, b tensor.Backend, dt tensor.DType) {
	z := func(shape ...int) *tensor.Tensor {
		x := b.Zeros(dt, shape...)
		t.Cleanup(func() { b.Release(x) })
		return x
	}

	// Gemm: inner dimensions differ; c has the wrong shape; batch sizes differ.
	mustPanic(t, "Gemm a[3 4]·b[5 2]", func() { b.Gemm(false, false, 1, z(3, 4), z(5, 2), 0, z(3, 2)) }, "[3 4]", "[5 2]")
	mustPanic(t, "Gemm a[3 4]·b[4 2] into c[2 3]", func() { b.Gemm(false, false, 1, z(3, 4), z(4, 2), 0, z(2, 3)) }, "[2 3]")
	mustPanic(t, "Gemm a[3 4]ᵀ·b[4 2]", func() { b.Gemm(true, false, 1, z(3, 4), z(4, 2), 0, z(4, 2)) }, "[3 4]", "[4 2]")
	mustPanic(t, "Gemm batch 2 × batch 3", func() { b.Gemm(false, false, 1, z(2, 3, 4), z(3, 4, 5), 0, z(2, 3, 5)) }, "[2 3 4]", "[3 4 5]")

	// Binary: operands that do not broadcast; dst of the wrong shape.
	mustPanic(t, "Binary [3 4] + [5]", func() { b.Binary(tensor.OpAdd, z(3, 4), z(3, 4), z(5)) }, "[3 4]", "[5]")
	mustPanic(t, "Binary [3 4] + [4] into [3 5]", func() { b.Binary(tensor.OpAdd, z(3, 5), z(3, 4), z(4)) }, "[3 5]")
	mustPanic(t, "Binary [3 1] * [1 4] into [3 1]", func() { b.Binary(tensor.OpMul, z(3, 1), z(3, 1), z(1, 4)) }, "[3 1]", "[1 4]")

	// Conv2D: channel mismatch; wrong output shape.
	mustPanic(t, "Conv2D x with 2 channels, w with 3", func() { b.Conv2D(z(1, 4, 3, 3), z(1, 2, 5, 5), z(4, 3, 3, 3), tensor.Conv(1, 0, 1)) }, "[1 2 5 5]", "[4 3 3 3]")
	mustPanic(t, "Conv2D into y of the wrong size", func() { b.Conv2D(z(1, 4, 5, 5), z(1, 2, 5, 5), z(4, 2, 3, 3), tensor.Conv(1, 0, 1)) }, "[1 4 5 5]")

	// ReduceTo: a target that does not broadcast to the input.
	mustPanic(t, "ReduceTo [3 4] -> [3]", func() { b.ReduceTo(tensor.ReduceSum, z(3), z(3, 4)) }, "[3 4]", "[3]")
}
