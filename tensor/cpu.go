package tensor

import (
	"fmt"
)

// CPU is the host backend: Go loops for elementwise work, OpenBLAS (or
// gonum's pure-Go BLAS under -tags noopenblas / CGO_ENABLED=0) for GEMM.
// It is safe for concurrent use.
type CPU struct {
	pool      pool
	transfers transferCounters
	label     string // a logical device's name ("cpu:1"); empty: "cpu"
}

// NewCPU returns a CPU backend with its own buffer pool.
func NewCPU() *CPU { return &CPU{} }

// NewLogicalCPU returns a CPU backend named label ("cpu:1"): a device of
// its own for code that spreads work over devices (fdpar's groups), on the
// same cores as every CPU backend.
func NewLogicalCPU(label string) *CPU { return &CPU{label: label} }

var defaultCPU = NewCPU()

var _ Backend = (*CPU)(nil)

// DefaultCPU returns the process-wide CPU backend.
func DefaultCPU() *CPU { return defaultCPU }

// Name reports the backend (its label for a logical device) and the BLAS
// it was built with.
func (c *CPU) Name() string {
	if c.label != "" {
		return c.label + "/" + blasName
	}
	return "cpu/" + blasName
}

// KernelsName reports which elementwise kernels this binary uses for the
// float32 transcendentals: "c-avx2" or "c-sse2" (native build) or "go".
func KernelsName() string { return nativeKernels() }

// BLASName reports which BLAS this binary uses for GEMM ("openblas" or "gonum").
func BLASName() string { return blasName }

func (c *CPU) Empty(dt DType, shape ...int) *Tensor {
	t, _ := c.pool.get(c, dt, shape)
	return t
}

func (c *CPU) Zeros(dt DType, shape ...int) *Tensor {
	t, fresh := c.pool.get(c, dt, shape)
	if !fresh {
		if dt == Float32 {
			clear(t.f32)
		} else {
			clear(t.f64)
		}
	}
	return t
}

func (c *CPU) Release(t *Tensor) {
	if t == nil || t.backend != Backend(c) {
		return
	}
	c.pool.put(t)
}

func (c *CPU) MemStats() MemStats { return c.pool.memStats() }

func (c *CPU) ResetPeak() { c.pool.resetPeak() }

// Trim frees every pooled buffer (for example after evaluation with large
// batches) so the garbage collector can return the memory.
func (c *CPU) Trim() { c.pool.trim() }

func (c *CPU) Copy(dst, src *Tensor) {
	c.own(dst, src)
	if dst.Numel() != src.Numel() {
		panic(fmt.Sprintf("tensor: copy %v into %v", src.shape, dst.shape))
	}
	switch {
	case dst.dtype == Float32 && src.dtype == Float32:
		copy(dst.f32, src.f32)
	case dst.dtype == Float64 && src.dtype == Float64:
		copy(dst.f64, src.f64)
	case dst.dtype == Float32:
		for i, v := range src.f64 {
			dst.f32[i] = float32(v)
		}
	default:
		for i, v := range src.f32 {
			dst.f64[i] = float64(v)
		}
	}
}

func (c *CPU) Fill(dst *Tensor, v float64) {
	c.own(dst)
	if dst.dtype == Float32 {
		f := float32(v)
		for i := range dst.f32 {
			dst.f32[i] = f
		}
		return
	}
	for i := range dst.f64 {
		dst.f64[i] = v
	}
}

// own panics unless every tensor is a host tensor. Tensors of other CPU
// instances are accepted: host memory is shared, so CPU backends interoperate.
func (c *CPU) own(ts ...*Tensor) {
	for _, t := range ts {
		if t == nil {
			panic("tensor: nil tensor")
		}
		if !t.IsHost() {
			panic(fmt.Sprintf("tensor: %s given a device tensor %v from %s", c.Name(), t.shape, t.backend.Name()))
		}
	}
}

func sameDType(op string, ts ...*Tensor) DType {
	dt := ts[0].dtype
	for _, t := range ts[1:] {
		if t.dtype != dt {
			panic(fmt.Sprintf("tensor: %s mixes %s and %s", op, dt, t.dtype))
		}
	}
	return dt
}

// FromFloat64s returns a new tensor of backend b with the given shape and
// values converted to dt. It panics if len(data) does not match the shape.
func FromFloat64s(b Backend, dt DType, shape Shape, data []float64) *Tensor {
	t := b.Empty(dt, shape...)
	WriteAs(t, data)
	return t
}

// Scalar returns a one-element tensor of shape [] holding v.
func Scalar(b Backend, dt DType, v float64) *Tensor {
	t := b.Empty(dt)
	b.Fill(t, v)
	return t
}
