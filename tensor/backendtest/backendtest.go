// Package backendtest is the conformance suite for implementations of
// tensor.Backend. Every backend (the CPU backend, and later the CUDA one)
// runs the same checks from its own test:
//
//	func TestConformance(t *testing.T) { backendtest.Run(t, mybackend) }
//
// Each primitive is compared, for both dtypes, against a naive float64
// reference written in this package (ref.go) as plain loops over indices.
// Inputs are built with Backend.Empty and the typed writes and results read
// back with the typed reads, so the suite never touches a backend's memory
// directly and works for device backends too. The references are evaluated on
// the values the backend actually holds (read back after the upload), so the
// rounding of float32 inputs is never mistaken for an error.
//
// Tolerances are stated, with their reasons, next to the helpers that apply
// them (tolerance.go) and at each check that departs from them.
package backendtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/fdsm-go/fdsm/tensor"
)

// dtypes lists the element types every primitive is checked in.
var dtypes = []tensor.DType{tensor.Float32, tensor.Float64}

// group is one primitive (or family of primitives) of the suite. fn runs once
// per dtype.
type group struct {
	name string
	fn   func(t *testing.T, b tensor.Backend, dt tensor.DType)
}

var groups = []group{
	{"Memory", testMemory},
	{"Transfer", testTransfer},
	{"Events", testEvents},
	{"Fill", testFill},
	{"Random", testRandom},
	{"Gemm", testGemm},
	{"Unary", testUnary},
	{"Binary", testBinary},
	{"ScalarOp", testScalarOp},
	{"SumSquares", testSumSquares},
	{"OptimizerSteps", testOptimizerSteps},
	{"ReduceTo", testReduceTo},
	{"Transpose", testTranspose},
	{"Concat", testConcat},
	{"Slice", testSlice},
	{"SetSlice", testSetSlice},
	{"Conv2D", testConv2D},
	{"AvgPool2D", testAvgPool2D},
	{"Solve", testSolve},
	{"ShapePanics", testShapePanics},
}

// Run checks b against the Backend contract, one subtest per primitive and
// dtype (e.g. "Gemm/float32/NT_7x13x5"). Subtests run sequentially: the
// memory checks read MemStats deltas, which concurrent work would blur.
func Run(t *testing.T, b tensor.Backend) {
	t.Helper()
	t.Logf("backend %s", b.Name())
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, dt := range dtypes {
				t.Run(dt.String(), func(t *testing.T) { g.fn(t, b, dt) })
			}
		})
	}
}

// newRand returns the host generator used to make test inputs; a fixed seed
// per call site keeps failures reproducible.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// upload returns a tensor of b with the given shape holding data converted to
// dt, and the values it actually holds, read back with ToFloat64s. The tensor is
// released when the (sub)test ends.
func upload(t *testing.T, b tensor.Backend, dt tensor.DType, shape tensor.Shape, data []float64) (*tensor.Tensor, []float64) {
	t.Helper()
	if len(data) != shape.Numel() {
		panic(fmt.Sprintf("backendtest: %d values for shape %v", len(data), shape))
	}
	x := b.Empty(dt, shape...)
	t.Cleanup(func() { b.Release(x) })
	tensor.WriteAs(x, data)
	return x, x.ToFloat64s()
}

// randNormal returns n standard normal values.
func randNormal(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// randTensor uploads standard normal values of the given shape.
func randTensor(t *testing.T, b tensor.Backend, dt tensor.DType, rng *rand.Rand, shape ...int) (*tensor.Tensor, []float64) {
	t.Helper()
	return upload(t, b, dt, shape, randNormal(rng, tensor.Shape(shape).Numel()))
}

// nanTensor returns a destination filled with NaN, so an element the
// primitive fails to write shows up as a NaN mismatch.
func nanTensor(t *testing.T, b tensor.Backend, dt tensor.DType, shape ...int) *tensor.Tensor {
	t.Helper()
	x := b.Empty(dt, shape...)
	t.Cleanup(func() { b.Release(x) })
	b.Fill(x, math.NaN())
	return x
}

// roundTo rounds v to dt's precision (the identity for Float64).
func roundTo(dt tensor.DType, v float64) float64 {
	if dt == tensor.Float32 {
		return float64(float32(v))
	}
	return v
}

// roundAll rounds every element of v to dt, in a new slice.
func roundAll(dt tensor.DType, v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = roundTo(dt, x)
	}
	return out
}

// call runs f, turning a panic into a test error that names where it
// happened (so one crashing case does not abort the whole suite). It reports
// whether f returned normally.
func call(t *testing.T, what string, f func()) (ok bool) {
	t.Helper()
	if r, where := catch(f); r != nil {
		t.Errorf("%s panicked at %s: %v", what, where, r)
		return false
	}
	return true
}

// catch runs f and returns what it panicked with, if anything, and the
// file:line of the innermost non-runtime frame of the panic.
func catch(f func()) (r any, where string) {
	defer func() {
		if r = recover(); r != nil {
			pcs := make([]uintptr, 32)
			frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
			for {
				fr, more := frames.Next()
				if !strings.HasPrefix(fr.Function, "runtime.") {
					where = fmt.Sprintf("%s:%d", filepath.Base(fr.File), fr.Line)
					break
				}
				if !more {
					break
				}
			}
		}
	}()
	f()
	return nil, ""
}

// mustPanic fails unless f panics with a message that mentions every one of
// substrs (the Backend convention is to name the mismatched shapes).
func mustPanic(t *testing.T, what string, f func(), substrs ...string) {
	t.Helper()
	msg, panicked := func() (msg string, panicked bool) {
		defer func() {
			if r := recover(); r != nil {
				msg, panicked = fmt.Sprint(r), true
			}
		}()
		f()
		return "", false
	}()
	if !panicked {
		t.Errorf("%s: no panic", what)
		return
	}
	for _, s := range substrs {
		if !strings.Contains(msg, s) {
			t.Errorf("%s: panic %q does not mention %q", what, msg, s)
		}
	}
}

// checkShape fails if x does not have the given dtype and shape.
func checkShape(t *testing.T, what string, x *tensor.Tensor, dt tensor.DType, shape tensor.Shape) {
	t.Helper()
	if x.DType() != dt || !x.Shape().Equal(shape) || x.Numel() != shape.Numel() {
		t.Errorf("%s: got %s %v (numel %d), want %s %v", what, x.DType(), x.Shape(), x.Numel(), dt, shape)
	}
}
