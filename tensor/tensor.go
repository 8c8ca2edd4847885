package tensor

import (
	"fmt"
	"math"
)

// Tensor is a dense, contiguous, row-major array owned by one Backend.
//
// Host tensors (the CPU backend's) expose their elements through Float32s and
// Float64s. Device tensors keep an opaque handle that only their backend reads;
// move data across with Backend.Upload and Backend.Download.
//
// A Tensor is not safe for concurrent mutation; concurrent reads are fine.
type Tensor struct {
	dtype   DType
	shape   Shape
	backend Backend
	f32     []float32
	f64     []float64
	device  any // device memory handle for non-host backends
	pooled  bool
}

// DType returns the element type.
func (t *Tensor) DType() DType { return t.dtype }

// Shape returns the shape. The caller must not modify it.
func (t *Tensor) Shape() Shape { return t.shape }

// Rank returns the number of axes.
func (t *Tensor) Rank() int { return len(t.shape) }

// Dim returns the extent of axis i; negative i counts from the end.
func (t *Tensor) Dim(i int) int {
	if i < 0 {
		i += len(t.shape)
	}
	return t.shape[i]
}

// Numel returns the number of elements.
func (t *Tensor) Numel() int { return t.shape.Numel() }

// Bytes returns the size of the elements in bytes.
func (t *Tensor) Bytes() int { return t.Numel() * t.dtype.Size() }

// Backend returns the backend that owns the memory.
func (t *Tensor) Backend() Backend { return t.backend }

// Float32s returns the elements of a host float32 tensor. It panics for other
// dtypes and for device tensors.
func (t *Tensor) Float32s() []float32 {
	if t.dtype != Float32 || (t.f32 == nil && t.Numel() != 0) {
		panic(fmt.Sprintf("tensor: Float32s on %s %s tensor", t.dtype, t.placement()))
	}
	return t.f32
}

// Float64s returns the elements of a host float64 tensor. It panics for other
// dtypes and for device tensors.
func (t *Tensor) Float64s() []float64 {
	if t.dtype != Float64 || (t.f64 == nil && t.Numel() != 0) {
		panic(fmt.Sprintf("tensor: Float64s on %s %s tensor", t.dtype, t.placement()))
	}
	return t.f64
}

// DeviceHandle returns the backend-specific memory handle of a device tensor
// (nil for host tensors). Only the owning backend interprets it.
func (t *Tensor) DeviceHandle() any { return t.device }

func (t *Tensor) placement() string {
	if t.device != nil {
		return "device"
	}
	return "host"
}

// IsHost reports whether the elements live in host memory.
func (t *Tensor) IsHost() bool { return t.device == nil }

// Reshape returns a tensor sharing t's memory with a new shape of the same
// element count. It panics if the counts differ. One extent may be -1.
func (t *Tensor) Reshape(shape ...int) *Tensor {
	s := ResolveShape(t.Numel(), shape)
	return &Tensor{dtype: t.dtype, shape: s, backend: t.backend, f32: t.f32, f64: t.f64, device: t.device}
}

// ResolveShape fills in one -1 extent so the shape holds n elements. It panics
// if that is impossible.
func ResolveShape(n int, shape []int) Shape {
	s := Shape(shape).Clone()
	neg, prod := -1, 1
	for i, d := range s {
		if d == -1 {
			if neg >= 0 {
				panic(fmt.Sprintf("tensor: reshape %v has more than one -1", shape))
			}
			neg = i
			continue
		}
		prod *= d
	}
	if neg >= 0 {
		if prod == 0 || n%prod != 0 {
			panic(fmt.Sprintf("tensor: cannot reshape %d elements to %v", n, shape))
		}
		s[neg] = n / prod
		prod *= s[neg]
	}
	if prod != n {
		panic(fmt.Sprintf("tensor: cannot reshape %d elements to %v", n, shape))
	}
	checkShape(s)
	return s
}

// At returns the element at the given indices as float64 (host tensors only;
// meant for tests and small inspections, not loops).
func (t *Tensor) At(idx ...int) float64 {
	off := t.offset(idx)
	if t.dtype == Float32 {
		return float64(t.Float32s()[off])
	}
	return t.Float64s()[off]
}

// Set stores v at the given indices (host tensors only).
func (t *Tensor) Set(v float64, idx ...int) {
	off := t.offset(idx)
	if t.dtype == Float32 {
		t.Float32s()[off] = float32(v)
		return
	}
	t.Float64s()[off] = v
}

func (t *Tensor) offset(idx []int) int {
	if len(idx) != len(t.shape) {
		panic(fmt.Sprintf("tensor: %d indices for shape %v", len(idx), t.shape))
	}
	off := 0
	for i, k := range idx {
		if k < 0 || k >= t.shape[i] {
			panic(fmt.Sprintf("tensor: index %v out of range for shape %v", idx, t.shape))
		}
		off = off*t.shape[i] + k
	}
	return off
}

// Item returns the single element of a one-element tensor, reading it to
// the host (a host synchronisation). It panics if t has more than one
// element.
func (t *Tensor) Item() float64 {
	if t.Numel() != 1 {
		panic(fmt.Sprintf("tensor: Item on shape %v", t.shape))
	}
	if t.dtype == Float32 {
		var buf [1]float32
		t.backend.ReadFloat32s(buf[:], t)
		return float64(buf[0])
	}
	var buf [1]float64
	t.backend.ReadFloat64s(buf[:], t)
	return buf[0]
}

// ToFloat64s reads the elements to the host as a new float64 slice (any
// backend; a host synchronisation).
func (t *Tensor) ToFloat64s() []float64 {
	out := make([]float64, t.Numel())
	if t.dtype == Float64 {
		t.backend.ReadFloat64s(out, t)
		return out
	}
	f := make([]float32, t.Numel())
	t.backend.ReadFloat32s(f, t)
	for i, v := range f {
		out[i] = float64(v)
	}
	return out
}

// HasNonFinite reports whether any element is NaN or ±Inf (any backend).
func (t *Tensor) HasNonFinite() bool {
	if t.IsHost() {
		if t.dtype == Float32 {
			for _, v := range t.f32 {
				if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
					return true
				}
			}
			return false
		}
		for _, v := range t.f64 {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return true
			}
		}
		return false
	}
	for _, v := range t.ToFloat64s() {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return true
		}
	}
	return false
}

func (t *Tensor) String() string {
	return fmt.Sprintf("Tensor(%s %v on %s)", t.dtype, t.shape, t.backend.Name())
}

// NewHostTensor wraps existing host memory without copying. Exactly one of
// f32 and f64 must be non-nil and match the shape; backend must be a host
// backend. Backends use it to build their tensors.
func NewHostTensor(b Backend, shape Shape, f32 []float32, f64 []float64) *Tensor {
	checkShape(shape)
	t := &Tensor{shape: shape.Clone(), backend: b, f32: f32, f64: f64}
	switch {
	case f32 != nil && f64 == nil:
		t.dtype = Float32
		if len(f32) != shape.Numel() {
			panic(fmt.Sprintf("tensor: %d float32s for shape %v", len(f32), shape))
		}
	case f64 != nil && f32 == nil:
		t.dtype = Float64
		if len(f64) != shape.Numel() {
			panic(fmt.Sprintf("tensor: %d float64s for shape %v", len(f64), shape))
		}
	default:
		panic("tensor: NewHostTensor needs exactly one of f32, f64")
	}
	return t
}

// NewDeviceTensor wraps a device memory handle. Device backends use it.
func NewDeviceTensor(b Backend, dt DType, shape Shape, handle any) *Tensor {
	checkShape(shape)
	if handle == nil {
		panic("tensor: nil device handle")
	}
	return &Tensor{dtype: dt, shape: shape.Clone(), backend: b, device: handle}
}

// NewHost returns a zeroed host tensor outside any pool, for buffers that
// live in host memory whatever the compute device is (staging for the host
// ring, control values).
func NewHost(dt DType, shape ...int) *Tensor {
	n := Shape(shape).Numel()
	if dt == Float32 {
		return NewHostTensor(defaultCPU, shape, make([]float32, n), nil)
	}
	return NewHostTensor(defaultCPU, shape, nil, make([]float64, n))
}
